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

Back ends: "tensorrt" (torch-tensorrt fp32, or fp16 through the precision guard), "cuda" (CUDA
graphs; fp32, or fp16 autocast through the guard), "cuda-bf16", "cpu-eager" (fp32, or bf16 through
the guard), "cpu-bf16" (bf16 autocast), "cpu-compile" (torch.compile fp32), "onnxruntime" (fp32),
"openvino" (fp32, or bf16 through the guard). "cpu" is the fastest
fp32 CPU flavour measured in BENCHMARKS.md; "auto" tries tensorrt -> cuda -> cpu and logs one
line saying what it took and why it skipped the rest. The ONNX back ends read their graphs from
an export cache beside the weights (backends/onnx_cache.py), so only the first start exports.

Precision (`build_engine(precision=...)`): "fp32" (default; IEEE fp32 on the GPU too, TF32 off);
"reduced" and "auto" run the back end's reduced twin, only when the precision guard
(deephar_ros.inference.precision_guard) measured it within its bounds on these weights: bf16 for a CPU back
end that has one (openvino; cpu-eager -> cpu-bf16; onnxruntime picked by "auto" or "cpu" ->
openvino) on a CPU with bf16 instructions, fp16 for cuda and tensorrt (the same back end in fp16);
otherwise fp32, with the reason logged ("reduced" warns, "auto" informs). The names cpu-bf16 and
cuda-bf16 run bf16 unguarded.
"""

import copy
import importlib.metadata
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deephar_ros.choices import BACKEND_NAMES, CPU_BACKENDS, GPU_BACKENDS, PRECISIONS
from deephar_ros.inference import precision_guard
from deephar_ros.inference.backends import cuda, onnx_runtime, openvino_cpu, tensorrt
from deephar_ros.inference.backends.base import Backend, EngineUnavailableError
from deephar_ros.inference.backends.onnx_cache import OnnxExports
from deephar_ros.inference.backends.torch_cpu import TorchCpuBackend
from deephar_ros.inference.backends.trusted_cache import user_cache_dir
from deephar_ros.model.config import CROP_SIZE, DEFAULT_PRESET, SPNetConfig, get_preset
from deephar_ros.model.keras_weights import load_model, random_model
from deephar_ros.model.spnet import SPNet

__all__ = [
    "BACKEND_NAMES",
    "CPU_BACKENDS",
    "PRECISIONS",
    "EngineUnavailableError",
    "InferenceEngine",
    "build_engine",
    "check_precision",
    "create_engine",
    "load_network",
]

logger = logging.getLogger(__name__)

AUTO_ORDER = ("tensorrt", "cuda", "cpu")
# What "cpu" means, fastest first among the flavours within the fp32 fidelity tolerance
# (BENCHMARKS.md, "Network alone" and "Start-up, precision and OpenVINO"); the next one is taken
# when one cannot run here. OpenVINO fp32 is the faster on Intel Xeons (0.94x ONNX Runtime's time,
# issue 20), ONNX Runtime on AMD EPYCs (OpenVINO 1.04-1.13x its time, more under load).
CPU_PREFERENCE = {"GenuineIntel": ("openvino", "onnxruntime", "cpu-eager")}
DEFAULT_CPU_PREFERENCE = ("onnxruntime", "openvino", "cpu-eager")
DEFAULT_BATCH_SIZES = (1, 2, 4, 8)
RANDOM_WEIGHTS_SOURCE = "random (untrained, seed 0)"
# The libraries whose kernels decide what reduced precision computes (they key the verdicts).
KERNEL_LIBRARIES = ("torch", "openvino", "onnxruntime")
# The reduced precision each back end runs when asked for one (create_engine(precision=...)).
REDUCED_PRECISION = {"openvino": "bf16", "cpu-eager": "bf16", "cuda": "fp16", "tensorrt": "fp16"}


class InferenceEngine:
    """Runs the per-frame and the clip part of one SPNet on one back end.

    Built by `build_engine` or `create_engine`; `backend`, `device` and `selection` say what runs
    and why, `precision` in what arithmetic ("fp32", "bf16", "fp16") and `precision_note` why,
    `weights` and `random_weights` where its weights came from.
    """

    def __init__(
        self,
        backend: Backend,
        config: SPNetConfig,
        selection: str,
        weights: str = "in-memory model",
        random_weights: bool = False,
        exports: OnnxExports | None = None,
    ) -> None:
        self._backend = backend
        self.exports = exports  # the network and its ONNX graphs (exported when an ONNX back end runs)
        self.config = config
        self.selection = selection
        self.weights = weights
        self.random_weights = random_weights
        self.precision = backend.precision
        self.precision_note = f"{self.precision}: the back end's own"
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
    name: str,
    model: nn.Module,
    device: str,
    batch_sizes: tuple[int, ...],
    cache_dir: Path | None,
    exports: OnnxExports | None,
    precision: str,
) -> Backend:
    """One named back end (never "auto" or "cpu"); EngineUnavailableError when it cannot run here."""
    if precision != "fp32" and REDUCED_PRECISION.get(name) != precision:
        offered = ", ".join(f"{backend} {reduced}" for backend, reduced in REDUCED_PRECISION.items())
        raise ValueError(f"back end {name!r} has no precision {precision!r} (there are {offered})")
    gpu = "cuda:0" if device == "auto" else device
    if name == "tensorrt":
        return tensorrt.TensorRTBackend(
            model, batch_sizes, device=gpu, cache_dir=cache_dir, precision=precision
        )
    if name in ("cuda", "cuda-bf16"):
        return cuda.CudaBackend(
            model, batch_sizes, device=gpu, precision="bf16" if name == "cuda-bf16" else precision
        )
    if name == "onnxruntime":
        return onnx_runtime.OnnxRuntimeBackend(exports, batch_sizes)
    if name == "openvino":
        return openvino_cpu.OpenVinoBackend(exports, batch_sizes, precision)
    bf16 = name == "cpu-bf16" or precision == "bf16"
    return TorchCpuBackend(
        model, batch_sizes, precision="bf16" if bf16 else "fp32", compiled=name == "cpu-compile"
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
    preference = CPU_PREFERENCE.get(openvino_cpu.cpuinfo_field("vendor_id"), DEFAULT_CPU_PREFERENCE)
    return tuple(flavour for name in order for flavour in (preference if name == "cpu" else (name,)))


def create_engine(
    model: nn.Module,
    backend: str = "auto",
    device: str = "auto",
    *,
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
    cache_dir: Path | None = None,
    weights: str = "in-memory model",
    random_weights: bool = False,
    precision: str = "fp32",
    export_cache_dir: Path | None = None,
    exports: OnnxExports | None = None,
) -> InferenceEngine:
    """Build the engine for `model` (an SPNet) on the named back end, or the best one with "auto".

    The model is copied, put in eval mode and left untouched. An explicitly named back end that
    cannot run here raises EngineUnavailableError naming what is missing; "auto" and "cpu" move
    on to the next candidate and say why in their one log line. `cache_dir` holds TensorRT engines,
    `export_cache_dir` ONNX exports (None: exported in memory, not kept) unless `exports` (of this
    model, already copied) is given. `precision` other than "fp32" is the back end's
    REDUCED_PRECISION, unguarded (build_engine guards it). `weights` and `random_weights` are
    recorded on the engine.
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
    if exports is None:
        exports = OnnxExports(copy.deepcopy(model).eval().requires_grad_(False), export_cache_dir)
    model = exports.model

    def build(name: str) -> Backend:
        return _build_backend(name, model, device, tuple(batch_sizes), cache_dir, exports, precision)

    skipped: list[str] = []
    built = None
    for name in candidates[:-1]:
        try:
            built = build(name)
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
            built = build(candidates[-1])
        except EngineUnavailableError as error:
            if not skipped:
                raise
            raise EngineUnavailableError(
                f"no back end can run for {backend!r} on device {device!r}: "
                + "; ".join([*skipped, str(error)])
            ) from error
    selection = f"back end {built.name!r} on {built.device}" + "".join(f"; {reason}" for reason in skipped)
    logger.info("inference engine: %s", selection)
    return InferenceEngine(built, model.config, selection, weights, random_weights, exports)


def build_engine(
    model: str = DEFAULT_PRESET,
    weights: str | os.PathLike | None = None,
    backend: str = "auto",
    device: str = "auto",
    *,
    random_weights: bool = False,
    conversion_cache_dir: str | os.PathLike | None = None,
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
    precision: str = "fp32",
    guard_clips: precision_guard.GuardClips | None = None,
    verdict_cache_dir: str | os.PathLike | None = None,
) -> InferenceEngine:
    """The network of preset `model` with its weights, ready on the best (or the named) back end.

    `weights` is a released Keras .h5/.hdf5 file (converted once, cached in `conversion_cache_dir`,
    default beside it) or a converted .pt checkpoint; the ONNX back ends keep their exports in an
    `onnx` folder beside the converted checkpoint (the user's cache for random weights). Without
    weights it refuses to build, unless `random_weights` is set: then a seeded untrained network
    stands in (plumbing and speed checks only) and a warning says so. `precision` "reduced" or
    "auto" asks the precision guard (see the module docstring): a cached verdict for these weights
    and this machine, else a measurement on the crops of people that `guard_clips` makes
    (people_clips.people_clips_from: from a video or a folder of images, by default the sample video).
    Errors: ValueError for a bad combination or name, FileNotFoundError / WeightsFileError for the
    file, EngineUnavailableError for the back end.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    network = load_network(model, weights, random_weights=random_weights, cache_dir=conversion_cache_dir)
    engine = create_engine(
        network,
        backend,
        device,
        batch_sizes=batch_sizes,
        weights=RANDOM_WEIGHTS_SOURCE if random_weights else str(weights),
        random_weights=random_weights,
        exports=_owned_exports(network, weights, random_weights, conversion_cache_dir),
    )
    if precision == "fp32" or engine.precision != "fp32":
        return engine
    guard = PrecisionGuard(engine, backend, verdict_cache_dir)
    verdict = guard.cached_verdict()
    if verdict is None:
        verdict = guard.measure(guard_clips)
    return guard.apply(verdict, warn=precision == "reduced")


def check_precision(
    model: str = DEFAULT_PRESET,
    weights: str | os.PathLike | None = None,
    backend: str = "auto",
    device: str = "auto",
    *,
    random_weights: bool = False,
    clips: precision_guard.GuardClips | None = None,
    conversion_cache_dir: str | os.PathLike | None = None,
    verdict_cache_dir: str | os.PathLike | None = None,
) -> precision_guard.Verdict:
    """Measure reduced precision against fp32 on these weights now (never from the cache), keep the verdict.

    What `deephar-ros check-precision` prints; later starts with precision "auto" or "reduced" use it.
    The fp32 engine is build_engine's (the same back end and device: a GPU where one runs).
    """
    engine = build_engine(
        model,
        weights,
        backend,
        device,
        random_weights=random_weights,
        conversion_cache_dir=conversion_cache_dir,
    )
    return PrecisionGuard(engine, backend, verdict_cache_dir).measure(clips)


def _owned_exports(
    network: SPNet,
    weights: str | os.PathLike | None,
    random_weights: bool,
    conversion_cache_dir: str | os.PathLike | None,
) -> OnnxExports:
    """The exports of a network loaded for this engine alone: no copy needed (0.5 s of a start)."""
    network = network.eval().requires_grad_(False)
    return OnnxExports(network, export_cache_folder(weights, random_weights, conversion_cache_dir))


def export_cache_folder(
    weights: str | os.PathLike | None, random_weights: bool, conversion_cache_dir: str | os.PathLike | None
) -> Path:
    """Where ONNX exports of these weights are kept: beside the converted checkpoint, in `onnx/`."""
    if random_weights or not weights:
        return user_cache_dir("onnx")
    return Path(conversion_cache_dir or Path(weights).parent) / "onnx"


class PrecisionGuard:
    """Reduced precision for one fp32 engine: its reduced twin, the verdict (cached or measured), the choice.

    The twin of a GPU engine is the same back end in fp16 on the same device, of a CPU engine a bf16
    back end on the CPU.
    """

    def __init__(self, engine: InferenceEngine, requested: str, cache_dir: str | os.PathLike | None) -> None:
        self.engine = engine
        self.requested = requested
        self.cache = precision_guard.VerdictCache(
            Path(cache_dir) if cache_dir is not None else user_cache_dir("precision")
        )
        self.on_gpu = engine.device.startswith("cuda")
        self.twin_backend, self.unavailable = self._twin()
        self.reduced = REDUCED_PRECISION.get(self.twin_backend or "", "fp32")
        self.exports = engine.exports
        self._twin_engine: InferenceEngine | None = None
        self.twin_failure: str | None = None  # why the twin failed to build, once it has

    def _twin(self) -> tuple[str | None, str | None]:
        """The back end that runs this engine's network in reduced precision here, or None and why not."""
        name = self.engine.backend
        if self.on_gpu:
            if REDUCED_PRECISION.get(name) != "fp16":
                return None, f"back end {name!r} has no fp16 twin (back ends cuda and tensorrt have)"
            return name, None
        if name == "onnxruntime" and self.requested == "onnxruntime":
            return None, "ONNX Runtime has no bf16 CPU path (back end openvino or cpu-eager has)"
        if name == "cpu-compile":
            return None, "back end 'cpu-compile' has no bf16 twin (back end openvino or cpu-eager has)"
        twin = "cpu-eager" if name == "cpu-eager" else "openvino"
        reason = openvino_cpu.cpu_bf16_missing() if twin == "cpu-eager" else openvino_cpu.bf16_support()
        return (None, reason) if reason is not None else (twin, None)

    def key(self) -> dict[str, str]:
        """What a verdict holds for: the weights, the back ends, the CPU and GPU, the kernel libraries."""
        versions = []
        for library in KERNEL_LIBRARIES:
            try:
                versions.append(f"{library} {importlib.metadata.version(library)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(f"{library} absent")
        key = {
            "weights": self.exports.weights_key,
            "model": self.engine.config.name,
            "fp32": self.engine.backend,
            "reduced": f"{self.twin_backend} {self.reduced}",
            "cpu": openvino_cpu.cpu_identity(),
            "versions": ", ".join(versions),
            "bounds": repr(precision_guard.GuardBounds()),
        }
        if self.on_gpu:
            gpu = cuda.device_identity(self.engine.device)
            key["gpu"] = f"{gpu}; {tensorrt.library_versions()}" if self.twin_backend == "tensorrt" else gpu
        return key

    def cached_verdict(self) -> precision_guard.Verdict | None:
        if self.twin_backend is None:
            return None
        return self.cache.load(self.key())

    def measure(self, clips: precision_guard.GuardClips | None) -> precision_guard.Verdict:
        """Measure the reduced twin against the fp32 engine on the crops of people `clips` makes; store
        the verdict."""
        if self.twin_backend is None:
            return precision_guard.Verdict("fp32", [f"no reduced precision here: {self.unavailable}"])
        if clips is None:
            return precision_guard.Verdict(
                "fp32",
                [
                    "no crops of people to measure on: the sample video is missing "
                    "(scripts/fetch_sample_video.sh) and no images were given (deephar-ros check-precision)"
                ],
            )
        twin = self.build_twin()
        if twin is None:  # not kept: a failure to build (out of memory) may not last
            return precision_guard.Verdict("fp32", [self.twin_failure])
        config = self.engine.config
        figures = precision_guard.measure(
            self.engine, twin, clips(config.num_frames), with_actions=not config.is_pose_only
        )
        reasons = precision_guard.judge(figures)
        if self.engine.random_weights:
            reasons.append("random weights: there is no trained network to judge")
        verdict = precision_guard.Verdict(
            "fp32" if reasons else self.reduced,
            reasons or ["within every bound"],
            figures,
            self.key(),
        )
        self.cache.store(verdict)
        return verdict

    def build_twin(self) -> InferenceEngine | None:
        """The reduced twin, built once (a TensorRT twin compiles or loads engines); None when it
        failed to build (`twin_failure` says why), and the fp32 engine runs on."""
        if self._twin_engine is None and self.twin_failure is None:
            try:
                self._twin_engine = create_engine(
                    self.exports.model,
                    self.twin_backend,
                    self.engine.device,
                    batch_sizes=self.engine.batch_sizes,
                    weights=self.engine.weights,
                    random_weights=self.engine.random_weights,
                    precision=self.reduced,
                    exports=self.exports,
                )
            except RuntimeError as error:  # GPU twins: a TensorRT conversion, out of memory
                self.twin_failure = (
                    f"the {self.reduced} twin ({self.twin_backend}) failed to build: "
                    f"{type(error).__name__}: {error}"
                )
        return self._twin_engine

    def apply(self, verdict: precision_guard.Verdict, warn: bool) -> InferenceEngine:
        """The engine the verdict chooses, its precision_note set, the choice logged with its figures."""
        figures = "; ".join(verdict.figures.lines()) if verdict.figures is not None else "not measured"
        twin = self.build_twin() if verdict.precision != "fp32" else None
        if verdict.precision != "fp32" and twin is None:
            reason = f"the kept verdict is {verdict.precision}, but {self.twin_failure}"
            verdict = precision_guard.Verdict("fp32", [reason], verdict.figures, verdict.key)
        chosen = twin if twin is not None else self.engine
        chosen.precision_note = f"{verdict.precision}: {'; '.join(verdict.reasons)} ({figures})"
        failed = self.twin_failure is not None
        log = logger.warning if (warn or failed) and verdict.precision == "fp32" else logger.info
        log("precision guard: %s", chosen.precision_note)
        return chosen


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
