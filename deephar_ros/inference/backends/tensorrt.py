"""torch-tensorrt, fp32 or fp16: the per-frame part compiled once per batch size and cached on disk.

torch_tensorrt is an optional extra (`pip install .[tensorrt]`): it is imported only when this
back end is built, so its absence never breaks an import. A TensorRT engine is only valid for the
GPU and library versions that built it and for the weights baked into it, so the cache file name
holds a hash of all of those and of the precision. fp32 engines are built with TF32 off (IEEE fp32,
as the CUDA back end's fp32), so the precision guard compares fp16 with real fp32.

Loading a saved engine unpickles it: a file planted or altered in the cache folder would run its
code in the node. So the cache is a TrustedCache: an engine is loaded only when this process can
prove that this user's own cache wrote it; anything else is refused, with the reason logged, and
the engine is compiled again.
"""

import copy
import hashlib
import importlib.util
import io
import logging
import tempfile
from pathlib import Path

import torch
from torch import nn

from deephar_ros.inference.backends.base import EngineUnavailableError, PixelsToFrames
from deephar_ros.inference.backends.cuda import CudaBackend, FramesCallable
from deephar_ros.inference.backends.cuda import missing_requirement as missing_cuda
from deephar_ros.inference.backends.trusted_cache import TrustedCache, user_cache_dir, weights_digest
from deephar_ros.model.config import CROP_SIZE
from deephar_ros.model.onnx_export import graph_signature

logger = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def missing_requirement() -> str | None:
    """Why TensorRT cannot run here, or None when it can."""
    if importlib.util.find_spec("torch_tensorrt") is None:
        return "python package 'torch_tensorrt' is not installed (pip install .[tensorrt])"
    return missing_cuda()


def library_versions() -> str:
    """torch_tensorrt's and TensorRT's versions (they key the precision guard's verdicts)."""
    import tensorrt
    import torch_tensorrt

    return f"torch_tensorrt {torch_tensorrt.__version__}, TensorRT {tensorrt.__version__}"


def default_cache_dir() -> Path:
    """Where compiled engines live: $XDG_CACHE_HOME/deephar_ros/tensorrt (~/.cache by default)."""
    return user_cache_dir("tensorrt")


def load_engine(cache: TrustedCache, name: str) -> nn.Module | None:
    """The engine cached as name, or None when the cache cannot vouch for one (the caller compiles)."""
    data = cache.verified_bytes(name)
    if data is None:
        return None
    logger.info("tensorrt: loading cached engine %s from %s", name, cache.folder)
    return torch.export.load(io.BytesIO(data)).module()


class TensorRTBackend(CudaBackend):
    """CUDA back end whose per-frame part is a TensorRT engine per batch size, fp32 or fp16.

    Pixels are normalised by PyTorch on the GPU, then handed to the engine in its precision; the
    clip part stays in PyTorch (fp32, or fp16 autocast), it is a small share of the work.
    """

    def __init__(
        self,
        model: nn.Module,
        batch_sizes: tuple[int, ...],
        device: str = "cuda",
        cache_dir: Path | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in DTYPES:
            raise ValueError(f"precision must be one of {sorted(DTYPES)}, got {precision!r}")
        reason = missing_requirement()
        if reason is not None:
            raise EngineUnavailableError(f"back end 'tensorrt' unavailable: {reason}")
        import torch_tensorrt

        self.torch_tensorrt = torch_tensorrt
        self.cache = TrustedCache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
        self.weights_key = weights_digest(model)
        self.normalize = PixelsToFrames()
        self.dtype = DTYPES[precision]
        super().__init__(model, batch_sizes, device=device, precision=precision, cuda_graphs=False)
        self.name = "tensorrt"

    def cache_name(self, batch_size: int) -> str:
        """Engine file name for one batch size, keyed by weights, precision, GPU and library versions."""
        key = "|".join(
            (
                self.weights_key,
                self.precision,
                torch.cuda.get_device_name(self.device),
                torch.__version__,
                self.torch_tensorrt.__version__,
                str(batch_size),
            )
        )
        return f"spnet_frames_b{batch_size}_{hashlib.sha256(key.encode()).hexdigest()[:20]}.ep"

    def _compile(self, batch_size: int, name: str) -> nn.Module:
        typed_model, _, _, _ = graph_signature(copy.deepcopy(self.model).to(self.dtype).eval(), "frames")
        example = torch.zeros((batch_size, 3, CROP_SIZE, CROP_SIZE), dtype=self.dtype, device=self.device)
        compiled = self.torch_tensorrt.compile(
            typed_model,
            ir="dynamo",
            inputs=[example],
            enabled_precisions={self.dtype},
            disable_tf32=True,  # layers in fp32 (all of an fp32 engine, some of an fp16 one) run IEEE fp32
        )
        # torch_tensorrt saves to a path: a private scratch folder (mode 0700), then into the cache.
        with tempfile.TemporaryDirectory(prefix="deephar_tensorrt_") as scratch:
            path = Path(scratch) / name
            self.torch_tensorrt.save(compiled, str(path), inputs=[example])
            self.cache.store(name, path.read_bytes())
        return compiled

    def _build_frames(self, batch_size: int) -> FramesCallable:
        name = self.cache_name(batch_size)
        trt_module = load_engine(self.cache, name)
        if trt_module is None:
            logger.info(
                "tensorrt: compiling the batch-%d engine (minutes, once) into %s",
                batch_size,
                self.cache.folder,
            )
            trt_module = self._compile(batch_size, name)

        def run(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.inference_mode():
                pose, features = trt_module(self.normalize(pixels).to(self.dtype))
            return pose.float(), features.float()

        return run
