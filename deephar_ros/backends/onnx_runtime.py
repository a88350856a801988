"""ONNX Runtime on the CPU: the network exported once to ONNX, the fastest fp32 CPU path measured."""

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deephar_ros.backends.base import CROP_SIZE, Backend, EngineUnavailableError
from deephar_ros.onnx_export import export_onnx


def missing_requirement() -> str | None:
    """Why this back end cannot run here, or None when it can."""
    for module in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install onnx onnxruntime)"
    return None


class OnnxRuntimeBackend(Backend):
    """Both parts of the network as ONNX graphs (deephar_ros.onnx_export) on onnxruntime's CPU.

    The crops are normalised by numpy into a preallocated float32 buffer (the CPU is where this
    back end runs). The export happens at construction into a temporary folder, so nothing lands
    in the repository or the user's cache.
    """

    name = "onnxruntime"
    device = "cpu"

    def __init__(self, model: nn.Module, batch_sizes: tuple[int, ...]) -> None:
        reason = missing_requirement()
        if reason is not None:
            raise EngineUnavailableError(f"back end 'onnxruntime' unavailable: {reason}")
        import onnxruntime

        super().__init__(batch_sizes, any_batch_size=True)
        self._frames = np.zeros((self.batch_sizes[-1], 3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        # Denormals cost microcode assists on x86 for values below 1e-38 (see torch_cpu.py).
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        providers = ["CPUExecutionProvider"]
        self.actions_session = None
        with tempfile.TemporaryDirectory(prefix="deephar_onnx_") as folder:
            frames_path = export_onnx(model, Path(folder) / "frames.onnx", graph="frames")
            self.frames_session = onnxruntime.InferenceSession(str(frames_path), options, providers=providers)
            if not model.config.is_pose_only:
                actions_path = export_onnx(model, Path(folder) / "actions.onnx", graph="actions")
                self.actions_session = onnxruntime.InferenceSession(
                    str(actions_path), options, providers=providers
                )

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        frames = self._frames[:batch_size]
        pixels = self.host_buffer(batch_size).transpose(0, 3, 1, 2)
        np.multiply(pixels, np.float32(2.0 / 255.0), out=frames)
        frames -= np.float32(1.0)
        pose, features = self.frames_session.run(None, {"frames": frames})
        return pose, features

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        (scores,) = self.actions_session.run(None, {"features": features})
        return scores
