"""What every back end offers the engine, and the pixel normalisation they all share.

The engine pads batches to a few fixed sizes and fills a host buffer the back end owns, so a back
end only ever sees those sizes: CUDA graphs, TensorRT engines and compiled graphs stay valid and
the steady state allocates no new input memory.
"""

from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import nn

from deephar_ros.model.config import CROP_SIZE


class EngineUnavailableError(RuntimeError):
    """A back end asked for by name cannot run here; the message names what is missing."""


class PixelsToFrames(nn.Module):
    """uint8 RGB crops (B, 256, 256, 3) -> network frames (B, 3, 256, 256) in [-1, 1].

    Runs on the device of its input, so the scaling happens where the network runs and only the
    uint8 pixels (a quarter of the float size) cross to the device. The permute keeps the
    channels-last layout in memory, which is what channels-last convolutions want.
    """

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        frames = pixels.permute(0, 3, 1, 2).float()
        return frames * (2.0 / 255.0) - 1.0


def normalize_pixels(pixels: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """uint8 (B, 256, 256, 3) crops -> `frames` float32 (B, 3, 256, 256) in [-1, 1], in place, by numpy.

    For the back ends that run outside torch on the CPU (ONNX Runtime, OpenVINO).
    """
    np.multiply(pixels.transpose(0, 3, 1, 2), np.float32(2.0 / 255.0), out=frames)
    frames -= np.float32(1.0)
    return frames


class FramesFromPixels(nn.Module):
    """The per-frame part of the network fed with uint8 crops: one graph to compile or export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.normalize = PixelsToFrames()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.normalize(pixels)
        return self.model.forward_frames(frames)


class Backend(ABC):
    """One way of running the network; sizes passed to it are always among `batch_sizes`.

    A back end built for fixed shapes (compiled graphs, CUDA graphs, TensorRT engines) gets the
    engine's few padded sizes; one that takes any batch (`any_batch_size`) gets every size up to
    the largest, so no work is spent on padding. Either way one host buffer of the largest size
    is allocated once and each batch is a leading slice of it.
    """

    name: str
    device: str
    precision: str = "fp32"  # the arithmetic it runs in: "fp32", "bf16" or "fp16"

    def __init__(self, batch_sizes: tuple[int, ...], any_batch_size: bool = False) -> None:
        largest = max(batch_sizes)
        self.batch_sizes = tuple(range(1, largest + 1)) if any_batch_size else batch_sizes
        self._host_buffer = self._allocate_host_buffer(largest)

    def _allocate_host_buffer(self, batch_size: int) -> np.ndarray:
        """A uint8 (batch_size, 256, 256, 3) array the engine copies crops into."""
        return np.zeros((batch_size, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)

    def host_buffer(self, batch_size: int) -> np.ndarray:
        """The preallocated input of that batch size; `run_frames(batch_size)` reads it."""
        return self._host_buffer[:batch_size]

    @abstractmethod
    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame part on `host_buffer(batch_size)` -> (pose, features) float32 numpy arrays."""

    @abstractmethod
    def run_actions(self, features: np.ndarray) -> np.ndarray:
        """Clip part on float32 (N, T, K) features -> float32 (N, A) action scores."""
