"""Inference engine: SPNet on numpy crops through the fastest back end the machine offers.

`build_engine(model, weights, backend, device)` is the one factory the node, the command line and
the benches call: a preset name and a weights file in, a ready engine out, which remembers where its
weights came from (`weights`, `random_weights`). Random weights are built only when asked for, and
the engine logs a warning saying every output is meaningless. `create_engine` is the lower level
under it, for a network already in memory.

The pipeline hands uint8 crops in and gets float32 numpy out; it never sees torch. Normalisation
(x / 255 -> [-1, 1], HWC -> CHW) happens inside the back end, on the device where the network runs.
Back ends built for fixed shapes (torch.compile, CUDA graphs, TensorRT) get batches padded to a
few fixed sizes so their graphs stay valid; the others take any batch up to the largest size and
pay nothing for padding. Inputs go through one preallocated host buffer: the steady state
allocates no new input memory.

Back ends: "tensorrt" (torch-tensorrt fp16), "cuda" (fp16 autocast + CUDA graphs), "cuda-bf16",
"cpu-eager" (fp32), "cpu-bf16" (bf16 autocast), "cpu-compile" (torch.compile fp32),
"onnxruntime" (fp32). "cpu" is the fastest fp32 CPU flavour measured in BENCHMARKS.md; "auto"
tries tensorrt -> cuda -> cpu and logs one line saying what it took and why it skipped the rest.
"""

import copy
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deephar_ros.backends import cuda, onnx_runtime, tensorrt
from deephar_ros.backends.base import CROP_SIZE, Backend, EngineUnavailableError
from deephar_ros.backends.torch_cpu import TorchCpuBackend
from deephar_ros.choices import BACKEND_NAMES, CPU_BACKENDS, GPU_BACKENDS
from deephar_ros.config import DEFAULT_PRESET, SPNetConfig, get_preset
from deephar_ros.keras_weights import load_model, random_model
from deephar_ros.spnet import SPNet

__all__ = [
    "BACKEND_NAMES",
    "CPU_BACKENDS",
    "EngineUnavailableError",
    "InferenceEngine",
    "build_engine",
    "create_engine",
    "load_network",
]

logger = logging.getLogger(__name__)

AUTO_ORDER = ("tensorrt", "cuda", "cpu")
# What "cpu" means, fastest first among the flavours within the fp32 fidelity tolerance
# (BENCHMARKS.md, "Network alone"); the next one is taken when one cannot run here.
CPU_PREFERENCE = ("onnxruntime", "cpu-eager")
DEFAULT_BATCH_SIZES = (1, 2, 4, 8)
RANDOM_WEIGHTS_SOURCE = "random (untrained, seed 0)"


class InferenceEngine:
    """Runs the per-frame and the clip part of one SPNet on one back end.

    Built by `build_engine` or `create_engine`; `backend`, `device` and `selection` say what runs
    and why, `weights` and `random_weights` where its weights came from.
    """

    def __init__(
        self,
        backend: Backend,
        config: SPNetConfig,
        selection: str,
        weights: str = "in-memory model",
        random_weights: bool = False,
    ) -> None:
        self._backend = backend
        self.config = config
        self.selection = selection
        self.weights = weights
        self.random_weights = random_weights
        self.batch_sizes = backend.batch_sizes
        pose, features = self._run_batches(np.zeros((1, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8))
        self.pose_shape = pose.shape[1:]
        self.feature_size = features.shape[1]

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device(self) -> str:
        return self._backend.device

    def device_memory_mb(self) -> float | None:
        """GPU memory the caching allocator holds on the engine's device; None on the CPU."""
        if not self.device.startswith("cuda"):
            return None
        return torch.cuda.memory_reserved(self.device) / 2**20

    def run_frames(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (B, 256, 256, 3) RGB crops -> (pose (B, J, D+1), features (B, K)), float32.

        Batches larger than the largest batch size are split; fixed-shape back ends get padding.
        """
        if not isinstance(crops, np.ndarray):
            raise TypeError(f"crops must be a numpy array, got {type(crops).__name__}")
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(
                f"crops must be uint8 (B, {CROP_SIZE}, {CROP_SIZE}, 3) RGB, got {crops.dtype} {crops.shape}"
            )
        return self._run_batches(crops)

    def _run_batches(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = len(crops)
        largest = self.batch_sizes[-1]
        poses, features = [], []
        for start in range(0, count, largest):
            chunk = crops[start : start + largest]
            batch_size = next(size for size in self.batch_sizes if size >= len(chunk))
            buffer = self._backend.host_buffer(batch_size)
            buffer[: len(chunk)] = chunk
            buffer[len(chunk) :] = 0
            pose, feature = self._backend.run_frames(batch_size)
            poses.append(pose[: len(chunk)])
            features.append(feature[: len(chunk)])
        if not poses:
            return np.zeros((0, *self.pose_shape), np.float32), np.zeros((0, self.feature_size), np.float32)
        # concatenate copies: back ends may reuse their output buffers on the next call.
        return np.concatenate(poses), np.concatenate(features)

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        """Per-frame features (N, T, K) of N clips -> action scores (N, A), float32."""
        if self.config.is_pose_only:
            raise ValueError(f"model {self.config.name!r} is pose only: it has no action head")
        if not isinstance(features, np.ndarray):
            raise TypeError(f"features must be a numpy array, got {type(features).__name__}")
        expected = (self.config.num_frames, self.feature_size)
        if (
            features.ndim != 3
            or features.shape[1:] != expected
            or not np.issubdtype(features.dtype, np.floating)
        ):
            raise ValueError(
                f"features must be float32 (N, {expected[0]}, {expected[1]}), "
                f"got {features.dtype} {features.shape}"
            )
        # Writeable too: torch warns on wrapping read-only memory (np.frombuffer, broadcasts).
        return self._backend.run_actions(np.require(features, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))


def _resolve_device(device: str) -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N' -> 'auto', 'cpu' or 'cuda:N'."""
    if device in ("auto", "cpu"):
        return device
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from error
    if parsed.type != "cuda":
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if parsed.index is None:
        return "cuda:0"
    return str(parsed)


def _build_backend(
    name: str, model: nn.Module, device: str, batch_sizes: tuple[int, ...], cache_dir: Path | None
) -> Backend:
    """One named back end (never "auto" or "cpu"); EngineUnavailableError when it cannot run here."""
    gpu = "cuda:0" if device == "auto" else device
    if name == "tensorrt":
        return tensorrt.TensorRTBackend(model, batch_sizes, device=gpu, cache_dir=cache_dir)
    if name in ("cuda", "cuda-bf16"):
        return cuda.CudaBackend(
            model, batch_sizes, device=gpu, precision="fp16" if name == "cuda" else "bf16"
        )
    if name == "onnxruntime":
        return onnx_runtime.OnnxRuntimeBackend(model, batch_sizes)
    return TorchCpuBackend(
        model, batch_sizes, precision="bf16" if name == "cpu-bf16" else "fp32", compiled=name == "cpu-compile"
    )


def _candidates(backend: str, device: str) -> tuple[str, ...]:
    """Back ends to try in order for a requested name, given the device."""
    if backend == "auto" and device == "auto":
        order = AUTO_ORDER
    elif backend == "auto":
        order = tuple(name for name in AUTO_ORDER if (name == "cpu") == (device == "cpu"))
    else:
        on_gpu = backend in GPU_BACKENDS
        if device == "cpu" and on_gpu:
            raise ValueError(f"back end {backend!r} runs on a CUDA device, but device='cpu' was asked for")
        if device.startswith("cuda") and not on_gpu:
            raise ValueError(f"back end {backend!r} runs on the CPU, but device={device!r} was asked for")
        order = (backend,)
    return tuple(flavour for name in order for flavour in (CPU_PREFERENCE if name == "cpu" else (name,)))


def create_engine(
    model: nn.Module,
    backend: str = "auto",
    device: str = "auto",
    *,
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
    cache_dir: Path | None = None,
    weights: str = "in-memory model",
    random_weights: bool = False,
) -> InferenceEngine:
    """Build the engine for `model` (an SPNet) on the named back end, or the best one with "auto".

    The model is copied, put in eval mode and left untouched. An explicitly named back end that
    cannot run here raises EngineUnavailableError naming what is missing; "auto" and "cpu" move
    on to the next candidate and say why in their one log line. `cache_dir` holds TensorRT engines;
    `weights` and `random_weights` are recorded on the engine (build_engine sets them).
    """
    if backend not in BACKEND_NAMES:
        raise ValueError(f"unknown back end {backend!r}; valid names: {', '.join(BACKEND_NAMES)}")
    for name in ("config", "forward_frames", "forward_actions"):
        if not hasattr(model, name):
            raise TypeError(f"model must be an SPNet (needs .{name}), got {type(model).__name__}")
    if not batch_sizes or list(batch_sizes) != sorted(set(batch_sizes)) or batch_sizes[0] < 1:
        raise ValueError(f"batch_sizes must be increasing positive integers, got {batch_sizes}")
    device = _resolve_device(device)
    candidates = _candidates(backend, device)
    model = copy.deepcopy(model).eval().requires_grad_(False)
    skipped: list[str] = []
    built = None
    for name in candidates[:-1]:
        try:
            built = _build_backend(name, model, device, tuple(batch_sizes), cache_dir)
            break
        except RuntimeError as error:
            # EngineUnavailableError, and GPU engines that fail to build (TensorRT conversion,
            # out of memory): move on to the next candidate and say why.
            if isinstance(error, EngineUnavailableError):
                skipped.append(str(error))
            else:
                skipped.append(f"back end {name!r} failed to build: {type(error).__name__}: {error}")
    if built is None:
        try:
            built = _build_backend(candidates[-1], model, device, tuple(batch_sizes), cache_dir)
        except EngineUnavailableError as error:
            if not skipped:
                raise
            raise EngineUnavailableError(
                f"no back end can run for {backend!r} on device {device!r}: "
                + "; ".join([*skipped, str(error)])
            ) from error
    selection = f"back end {built.name!r} on {built.device}" + "".join(f"; {reason}" for reason in skipped)
    logger.info("inference engine: %s", selection)
    return InferenceEngine(built, model.config, selection, weights, random_weights)


def build_engine(
    model: str = DEFAULT_PRESET,
    weights: str | os.PathLike | None = None,
    backend: str = "auto",
    device: str = "auto",
    *,
    random_weights: bool = False,
    conversion_cache_dir: str | os.PathLike | None = None,
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
) -> InferenceEngine:
    """The network of preset `model` with its weights, ready on the best (or the named) back end.

    `weights` is a released Keras .h5/.hdf5 file (converted once, cached in `conversion_cache_dir`,
    default beside it) or a converted .pt checkpoint. Without weights it refuses to build, unless
    `random_weights` is set: then a seeded untrained network stands in (plumbing and speed checks
    only) and a warning says so. Errors: ValueError for a bad combination or name,
    FileNotFoundError / WeightsFileError for the file, EngineUnavailableError for the back end.
    """
    network = load_network(model, weights, random_weights=random_weights, cache_dir=conversion_cache_dir)
    return create_engine(
        network,
        backend,
        device,
        batch_sizes=batch_sizes,
        weights=RANDOM_WEIGHTS_SOURCE if random_weights else str(weights),
        random_weights=random_weights,
    )


def load_network(
    model: str = DEFAULT_PRESET,
    weights: str | os.PathLike | None = None,
    *,
    random_weights: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> SPNet:
    """The SPNet of preset `model` with its weights, or seeded random ones only when asked (with a warning).

    The first half of `build_engine`, for the few callers that need the torch module itself.
    """
    config = get_preset(model)
    if random_weights and weights:
        raise ValueError("weights and random_weights are both given: choose one")
    if random_weights:
        logger.warning("model %s has RANDOM weights: every skeleton and action is meaningless", model)
        return random_model(config)
    if not weights:
        raise ValueError(
            f"no weights given for model {model!r}: pass a weights file (`deephar-ros download` fetches "
            "the released ones), or ask for random weights explicitly (plumbing checks only)"
        )
    return load_model(weights, config, cache_dir=cache_dir)
