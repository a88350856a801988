"""PyTorch on the CPU: eager fp32, bf16 autocast (AVX-512-bf16 cores) and torch.compile.

Convolutions run channels-last, the layout oneDNN prefers (16x faster than NCHW for this network
here); the crops arrive channels-last anyway. Denormal floats are flushed to zero on the calling
thread: trained and random weights alike produce them deep in the network, and x86 cores handle
them in microcode at a 2-4x cost to the whole forward pass, for values below 1e-38.
"""

import contextlib

import numpy as np
import torch
from torch import nn

from deephar_ros.inference.backends.base import Backend, FramesFromPixels

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


class TorchCpuBackend(Backend):
    """The network in PyTorch on the CPU, in fp32 or bf16 autocast, eager or compiled.

    With `compiled`, only the per-frame part goes through torch.compile (one graph per batch size,
    built at warm-up); the clip part is a few small layers and stays eager.
    """

    device = "cpu"

    def __init__(
        self, model: nn.Module, batch_sizes: tuple[int, ...], precision: str = "fp32", compiled: bool = False
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        super().__init__(batch_sizes, any_batch_size=not compiled)
        self.name = "cpu-compile" if compiled else ("cpu-bf16" if precision == "bf16" else "cpu-eager")
        self.precision = precision
        self.autocast_dtype = PRECISIONS[precision]
        self.model = model.to(memory_format=torch.channels_last)
        frames_from_pixels = FramesFromPixels(self.model)
        self.frames_from_pixels = (
            torch.compile(frames_from_pixels, dynamic=False) if compiled else frames_from_pixels
        )
        self._pixels = torch.from_numpy(self._host_buffer)

    def _precision(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=self.autocast_dtype)

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        torch.set_flush_denormal(True)
        with torch.inference_mode(), self._precision():
            pose, features = self.frames_from_pixels(self._pixels[:batch_size])
        return pose.float().numpy(), features.float().numpy()

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        torch.set_flush_denormal(True)
        with torch.inference_mode(), self._precision():
            scores = self.model.forward_actions(torch.from_numpy(features))
        return scores.float().numpy()
