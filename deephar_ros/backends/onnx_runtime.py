"""ONNX Runtime on the CPU: the network exported once to ONNX, normalisation included in the graph."""

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deephar_ros.backends.base import (
    CROP_SIZE,
    ActionsHead,
    Backend,
    EngineUnavailableError,
    FramesFromPixels,
)


def missing_requirement() -> str | None:
    """Why this back end cannot run here, or None when it can."""
    for module in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install onnx onnxruntime)"
    return None


def _export(module: nn.Module, example: torch.Tensor, path: Path, dynamic_axes: dict) -> None:
    """Trace `module` into an ONNX file whose first axes (`dynamic_axes`) accept any size."""
    output_names = list(dynamic_axes)[1:]
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[next(iter(dynamic_axes))],
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )


class OnnxRuntimeBackend(Backend):
    """Both parts of the network exported to ONNX and run by onnxruntime's CPU provider.

    The per-frame graph takes the uint8 crops as they are; the export happens at construction
    into a temporary folder, so nothing lands in the repository or the user's cache.
    """

    name = "onnxruntime"
    device = "cpu"

    def __init__(self, model: nn.Module, batch_sizes: tuple[int, ...], clip_length: int) -> None:
        reason = missing_requirement()
        if reason is not None:
            raise EngineUnavailableError(f"back end 'onnxruntime' unavailable: {reason}")
        import onnxruntime

        super().__init__(batch_sizes, any_batch_size=True)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        # Denormals cost microcode assists on x86 for values below 1e-38 (see torch_cpu.py).
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        with tempfile.TemporaryDirectory(prefix="deephar_onnx_") as folder:
            frames_path = Path(folder) / "frames.onnx"
            actions_path = Path(folder) / "actions.onnx"
            pixels = torch.zeros((1, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8)
            _export(
                FramesFromPixels(model),
                pixels,
                frames_path,
                {"pixels": {0: "batch"}, "pose": {0: "batch"}, "features": {0: "batch"}},
            )
            with torch.no_grad():
                _, frame_features = model.forward_frames(torch.zeros((1, 3, CROP_SIZE, CROP_SIZE)))
            features = torch.zeros((1, clip_length, frame_features.shape[1]))
            _export(
                ActionsHead(model), features, actions_path, {"features": {0: "clips"}, "scores": {0: "clips"}}
            )
            providers = ["CPUExecutionProvider"]
            self.frames_session = onnxruntime.InferenceSession(str(frames_path), options, providers=providers)
            self.actions_session = onnxruntime.InferenceSession(
                str(actions_path), options, providers=providers
            )

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        pose, features = self.frames_session.run(None, {"pixels": self.host_buffer(batch_size)})
        return pose, features

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        (scores,) = self.actions_session.run(None, {"features": features})
        return scores
