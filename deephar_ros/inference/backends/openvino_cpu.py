"""OpenVINO on the CPU: the network's ONNX export (cached, see onnx_cache.py) in fp32 or bf16.

OpenVINO picks its own inference precision per CPU (bf16 where the CPU has bf16 instructions), so
the precision is always set explicitly: fp32 unless bf16 is asked for, and bf16 only on a CPU that
has it (`bf16_support`). Whether bf16 is close enough to fp32 for given weights is the precision
guard's question (deephar_ros.inference.precision_guard), not this module's.
"""

import ctypes
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from deephar_ros.inference.backends.base import Backend, EngineUnavailableError, normalize_pixels
from deephar_ros.inference.backends.onnx_cache import OnnxExports
from deephar_ros.model.config import CROP_SIZE

PRECISIONS = {"fp32": "f32", "bf16": "bf16"}
# CPU flags of the instructions that run bf16 matrix products natively (Linux /proc/cpuinfo names).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


class _SignalStack(ctypes.Structure):
    """stack_t of sigaltstack(2)."""

    _fields_ = (("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t))


@contextmanager
def kept_signal_stack() -> Iterator[None]:
    """The calling thread's alternate signal stack as it was before the block, whatever ran in it.

    OpenVINO's CPU plugin (2026.4) gives the thread that compiles a model an alternate signal stack of
    its own and unmaps it with the model, leaving the thread's stack pointer dangling: the next signal
    whose handler runs on the alternate stack (CPython installs every handler so, e.g. the run job's
    SIGTERM and rclpy's SIGINT) then crashes the process (SIGSEGV in kill(2)). Measured with
    sigaltstack(2) around `compile_model`; the thread gets back the stack it had (or none).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    before = _SignalStack()
    if libc.sigaltstack(None, ctypes.byref(before)) != 0:
        yield
        return
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(before), None)


def missing_requirement() -> str | None:
    """Why this back end cannot run here, or None when it can."""
    for module in ("openvino", "onnx"):  # onnx: torch's exporter writes the graphs with it
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install .[openvino])"
    return None


def cpuinfo_field(field: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """One field of this machine's first CPU in /proc/cpuinfo ("flags", "model name"); "" where absent."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            return value.strip()
    return ""


def cpu_bf16_missing(flags: set[str] | None = None) -> str | None:
    """Why this CPU has no native bf16 (the reason, for the log), or None when it has."""
    flags = set(cpuinfo_field("flags").split()) if flags is None else flags
    if any(flag in flags for flag in BF16_CPU_FLAGS):
        return None
    return f"the CPU has no bf16 instructions (none of {', '.join(BF16_CPU_FLAGS)} in /proc/cpuinfo)"


def cpu_identity() -> str:
    """The CPU as far as kernels care: model name, family and model, and its vector instruction sets.

    Virtual machines often name every AMD EPYC alike: the family, model and flags tell a Zen 4 with
    AVX512-BF16 from an AVX2-only one, whose kernels round differently.
    """
    flags = cpuinfo_field("flags").split()
    vector = sorted(flag for flag in flags if flag.startswith(("avx", "amx")))
    name = cpuinfo_field("model name") or "unknown CPU"
    family, model = cpuinfo_field("cpu family"), cpuinfo_field("model")
    return f"{name} (family {family or '?'} model {model or '?'}; {' '.join(vector) or 'no AVX'})"


def bf16_support() -> str | None:
    """Why OpenVINO cannot run bf16 on this CPU, or None when it can (CPU flags and the plugin agree)."""
    reason = missing_requirement() or cpu_bf16_missing()
    if reason is not None:
        return reason
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in capabilities:
        return f"OpenVINO's CPU plugin does not offer BF16 here (it offers {', '.join(capabilities)})"
    return None


class OpenVinoBackend(Backend):
    """Both parts of the network as ONNX graphs on OpenVINO's CPU plugin, fp32 or bf16.

    One stream at the latency hint, as many threads as torch uses: the pipeline sends one batch
    at a time. Denormals are flushed (as in torch_cpu.py). The crops are normalised by numpy.
    """

    name = "openvino"
    device = "cpu"

    def __init__(self, exports: OnnxExports, batch_sizes: tuple[int, ...], precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        reason = missing_requirement() if precision == "fp32" else bf16_support()
        if reason is not None:
            raise EngineUnavailableError(f"back end 'openvino' ({precision}) unavailable: {reason}")
        import openvino

        super().__init__(batch_sizes, any_batch_size=True)
        self.precision = precision
        self._frames = np.zeros((self.batch_sizes[-1], 3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
        with kept_signal_stack():
            self._compile(openvino.Core(), exports, precision)

    def _compile(self, core: object, exports: OnnxExports, precision: str) -> None:
        settings = {
            "INFERENCE_PRECISION_HINT": PRECISIONS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
            "CPU_DENORMALS_OPTIMIZATION": "YES",
        }
        self.frames_request = core.compile_model(
            core.read_model(exports.graph("frames")), "CPU", settings
        ).create_infer_request()
        self.actions_request = None
        if not exports.model.config.is_pose_only:
            self.actions_request = core.compile_model(
                core.read_model(exports.graph("actions")), "CPU", settings
            ).create_infer_request()

    def run_frames(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        frames = normalize_pixels(self.host_buffer(batch_size), self._frames[:batch_size])
        outputs = self.frames_request.infer({"frames": frames})
        pose, features = outputs.to_tuple()
        # copies: the request reuses its output memory on the next call.
        return np.array(pose, np.float32), np.array(features, np.float32)

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        (scores,) = self.actions_request.infer({"features": features}).to_tuple()
        return np.array(scores, np.float32)
