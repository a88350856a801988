"""ONNX export of SPNet: the full clip graph (Keras outputs) and the per-frame / clip split graphs.

Runtimes without PyTorch (ONNX Runtime, OpenVINO, TensorRT) load these; the batch axis is dynamic.
The TorchScript-based exporter (`dynamo=False`) is used: it needs no extra package and handles the
-inf padding of TF-style max pooling.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from deephar_ros.choices import DEFAULT_OPSET, GRAPHS
from deephar_ros.model.spnet import SPNet


class _FramesGraph(nn.Module):
    def __init__(self, model: SPNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_frames(frames)


class _ActionsGraph(nn.Module):
    def __init__(self, model: SPNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.forward_actions(features)


def graph_signature(model: SPNet, graph: str) -> tuple[nn.Module, torch.Tensor, list[str], list[str]]:
    """(module to export, example input, input names, output names) of one graph."""
    config = model.config
    size = config.input_size
    if graph == "clip":
        example = torch.zeros(1, config.num_frames, 3, size, size)
        return model, example, ["clip"], list(config.output_names)
    if graph == "frames":
        return _FramesGraph(model), torch.zeros(1, 3, size, size), ["frames"], ["pose", "features"]
    if graph == "actions":
        if config.is_pose_only:
            raise ValueError(f"config {config.name!r} is pose only: it has no action graph")
        example = torch.zeros(1, config.num_frames, model.frame_feature_size)
        return _ActionsGraph(model), example, ["features"], ["actions"]
    raise ValueError(f"unknown graph {graph!r}; choose one of {', '.join(GRAPHS)}")


def onnx_bytes(model: SPNet, graph: str = "clip", opset: int = DEFAULT_OPSET) -> bytes:
    """One graph of `model` (in eval mode, on CPU) as a serialised ONNX model, made in memory."""
    module, example, input_names, output_names = graph_signature(model, graph)
    model.eval()
    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    buffer = io.BytesIO()
    # The exporter warns that strided slices (the TF-style padding crops) are not constant-folded:
    # harmless for this graph, and it would print on every engine start.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        torch.onnx.export(
            module,
            (example,),
            buffer,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
        )
    return buffer.getvalue()


def export_onnx(
    model: SPNet, path: str | os.PathLike, graph: str = "clip", opset: int = DEFAULT_OPSET
) -> Path:
    """Write one graph of `model` (in eval mode, on CPU) to `path`; returns the path."""
    data = onnx_bytes(model, graph, opset)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
