"""PyTorch on a CUDA GPU: fp32, or fp16 or bf16 autocast, channels-last, CUDA graphs per batch size.

Crops go from pinned host buffers to preallocated device buffers with non-blocking copies, are
normalised on the GPU, and the outputs come back into pinned host buffers: after warm-up a frame
allocates nothing, and with CUDA graphs the whole per-frame part is one launch.

fp32 means IEEE fp32: cuDNN runs fp32 convolutions in TF32 by default on Ampere and later GPUs (a
10-bit mantissa, as fp16's), which would make the precision guard compare fp16 with TF32, not fp32.
Whether fp16 is close enough to fp32 for given weights is the guard's question
(deephar_ros.inference.precision_guard), not this module's.
"""

import contextlib
import logging
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from deephar_ros.inference.backends.base import Backend, EngineUnavailableError, FramesFromPixels
from deephar_ros.model.config import CROP_SIZE

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
WARMUP_RUNS = 3

FramesCallable = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def missing_requirement() -> str | None:
    """Why CUDA cannot run here, or None when it can."""
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + ("" if torch.version.cuda else " is a CPU-only build")
        return f"torch.cuda.is_available() is False ({build})"
    return None


def device_identity(device: str) -> str:
    """The GPU and the kernel libraries as far as fp16 results care (they key the guard's verdicts)."""
    major, minor = torch.cuda.get_device_capability(device)
    return (
        f"{torch.cuda.get_device_name(device)} (compute {major}.{minor}); "
        f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    )


@contextlib.contextmanager
def ieee_fp32() -> Iterator[None]:
    """fp32 convolutions and matrix products in IEEE fp32, not TF32, for the duration; then as before.

    torch 2.9 and later name the setting fp32_precision ("ieee" or "tf32"), older ones allow_tf32;
    the two may not be mixed in one process, so the one this torch has is used.
    """
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):
        settings = [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    else:
        settings = [
            (torch.backends.cudnn, "allow_tf32", False),
            (torch.backends.cuda.matmul, "allow_tf32", False),
        ]
    saved = [getattr(owner, name) for owner, name, _ in settings]
    try:
        for owner, name, value in settings:
            setattr(owner, name, value)
        yield
    finally:
        for (owner, name, _), value in zip(settings, saved, strict=True):
            setattr(owner, name, value)


class CudaBackend(Backend):
    """The network in PyTorch on one CUDA device: fp32 or fp16 (name "cuda"), or bf16 ("cuda-bf16").

    fp32 runs with TF32 off (`ieee_fp32`). In fp16 and bf16 the weights stay fp32 and autocast picks
    the half precision per layer, so softmaxes and the soft-argmax sums keep fp32 accumulation.
    Subclasses swap the per-frame part by overriding `_build_frames` (TensorRT does).
    """

    def __init__(
        self,
        model: nn.Module,
        batch_sizes: tuple[int, ...],
        device: str = "cuda",
        precision: str = "fp32",
        cuda_graphs: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.name = "cuda-bf16" if precision == "bf16" else "cuda"
        reason = missing_requirement()
        if reason is not None:
            raise EngineUnavailableError(f"back end {self.name!r} unavailable: {reason}")
        self.device = str(torch.device(device))
        self.precision = precision
        self.autocast_dtype = PRECISIONS[precision]
        self.cuda_graphs = cuda_graphs
        super().__init__(batch_sizes)
        # Fixed input shapes: let cuDNN time its algorithms once per shape.
        torch.backends.cudnn.benchmark = True
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.frames_from_pixels = FramesFromPixels(self.model)
        self._device_inputs = {
            size: torch.zeros((size, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8, device=self.device)
            for size in batch_sizes
        }
        with torch.cuda.device(self.device):
            self._frames = {size: self._build_frames(size) for size in batch_sizes}
            self._host_outputs = {size: self._allocate_host_outputs(size) for size in batch_sizes}

    def _allocate_host_buffer(self, batch_size: int) -> np.ndarray:
        self._pinned_input = torch.zeros(
            (batch_size, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8, pin_memory=True
        )
        return self._pinned_input.numpy()

    def _precision(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return ieee_fp32()
        # The autocast weight cache must be off while CUDA graphs are captured.
        return torch.autocast("cuda", dtype=self.autocast_dtype, cache_enabled=False)

    def _eager_frames(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode(), self._precision():
            pose, features = self.frames_from_pixels(pixels)
        return pose.float(), features.float()

    def _build_frames(self, batch_size: int) -> FramesCallable:
        """The per-frame part for one batch size: eager, or replaying a CUDA graph of it."""
        pixels = self._device_inputs[batch_size]
        side_stream = torch.cuda.Stream(self.device)
        side_stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side_stream):
            for _ in range(WARMUP_RUNS):
                self._eager_frames(pixels)
        torch.cuda.current_stream(self.device).wait_stream(side_stream)
        if not self.cuda_graphs:
            return self._eager_frames
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                graph_outputs = self._eager_frames(pixels)
        except RuntimeError as error:
            # An op that syncs with the host cannot be captured: stay on the GPU, eagerly.
            logger.warning(
                "%s: CUDA graph capture failed (%s); batch %d runs eagerly", self.name, error, batch_size
            )
            return self._eager_frames

        def replay(_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            graph.replay()
            return graph_outputs

        return replay

    def _allocate_host_outputs(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Pinned host tensors shaped like the outputs of that batch size."""
        pose, features = self._frames[batch_size](self._device_inputs[batch_size])
        torch.cuda.synchronize(self.device)
        return (
            torch.empty(pose.shape, dtype=torch.float32, pin_memory=True),
            torch.empty(features.shape, dtype=torch.float32, pin_memory=True),
        )

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Arrays returned are the pinned output buffers, overwritten by the next call."""
        pixels = self._device_inputs[batch_size]
        host_pose, host_features = self._host_outputs[batch_size]
        with torch.cuda.device(self.device):
            pixels.copy_(self._pinned_input[:batch_size], non_blocking=True)
            pose, features = self._frames[batch_size](pixels)
            host_pose.copy_(pose, non_blocking=True)
            host_features.copy_(features, non_blocking=True)
            torch.cuda.current_stream().synchronize()
        return host_pose.numpy(), host_features.numpy()

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), self._precision():
            scores = self.model.forward_actions(torch.from_numpy(features).to(self.device))
        return scores.float().cpu().numpy()
