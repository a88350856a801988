"""ONNX Runtime on the CPU: the network's ONNX export (cached, see onnx_cache.py), in fp32."""

import importlib.util

import numpy as np
import torch

from deephar_ros.inference.backends.base import Backend, EngineUnavailableError, normalize_pixels
from deephar_ros.inference.backends.onnx_cache import OnnxExports
from deephar_ros.model.config import CROP_SIZE


def missing_requirement() -> str | None:
    """Why this back end cannot run here, or None when it can."""
    for module in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install onnx onnxruntime)"
    return None


class OnnxRuntimeBackend(Backend):
    """Both parts of the network as ONNX graphs (deephar_ros.model.onnx_export) on onnxruntime's CPU.

    The crops are normalised by numpy into a preallocated float32 buffer (the CPU is where this
    back end runs). The intra-op threads do not spin-wait after a run unless `spinning`: spinning
    keeps the cores busy while the rest of the pipeline (person detection) needs them
    (BENCHMARKS.md, "Start-up, precision and OpenVINO").
    """

    name = "onnxruntime"
    device = "cpu"
    precision = "fp32"

    def __init__(self, exports: OnnxExports, batch_sizes: tuple[int, ...], spinning: bool = False) -> None:
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
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        providers = ["CPUExecutionProvider"]
        self.frames_session = onnxruntime.InferenceSession(
            exports.graph("frames"), options, providers=providers
        )
        self.actions_session = None
        if not exports.model.config.is_pose_only:
            self.actions_session = onnxruntime.InferenceSession(
                exports.graph("actions"), options, providers=providers
            )

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        frames = normalize_pixels(self.host_buffer(batch_size), self._frames[:batch_size])
        pose, features = self.frames_session.run(None, {"frames": frames})
        return pose, features

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        (scores,) = self.actions_session.run(None, {"features": features})
        return scores
