"""YOLOX person detector (Ge et al. 2021, Megvii, Apache-2.0) run from the authors' ONNX exports.

Read against YOLOX's demo/ONNXRuntime/onnx_inference.py, yolox/data/data_augment.py (`preproc`) and
yolox/utils/demo_utils.py (`demo_postprocess`) as of the change that published the 0.1.1rc0 exports
(#523, 2021-08-19, which dropped the mean/std normalisation; older exports needed it):

- input (1, 3, H, W): the image in BGR order (the demos read it with cv2.imread), 0..255 floats without
  normalisation, resized bilinearly by the one factor that fits it in (sizes truncated to integers),
  at the top-left of a frame filled with 114;
- output (1, N, 85), the raw grid outputs of tools/export_onnx.py: per anchor of the stride 8, 16
  and 32 grids (each row-major, finest first) x and y offsets in cells from the cell's corner, log of
  width and height in cells, objectness and 80 COCO class probabilities (sigmoids applied in the
  graph). A person's score is objectness x the class 0 probability, whichever class scores highest
  (as YOLOX's class-aware multiclass_nms), then NMS at the demos' IoU 0.45.

An export made with --decode_in_inference has the same shape but decoded boxes: it is not supported.
onnxruntime is imported only when a model is opened, so this module imports without it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from deephar_ros.model.downloads import DownloadError, default_cache_dir, fetch_verified
from deephar_ros.model.releases import RELEASED_DETECTORS, ReleasedDetector
from deephar_ros.perception.person_detector import PersonDetector, clean_boxes
from deephar_ros.perception.results import Box

STRIDES = (8, 16, 32)
OUTPUT_WIDTH = 85  # x, y, log w, log h, objectness, 80 COCO class probabilities
PERSON_CLASS = 0  # COCO's first class
PAD_VALUE = 114  # YOLOX's preproc fills the letterbox with this grey
NMS_IOU = 0.45  # the YOLOX demos' NMS threshold
YOLOX_MIN_SCORE = 0.3  # the YOLOX demos draw from this score (detection.default_min_score)
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

logger = logging.getLogger(__name__)


class DetectorWeightsError(ValueError):
    """A detector model file that cannot be used: which file, and why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def import_onnxruntime() -> ModuleType:
    """onnxruntime, or an ImportError that says how to install it (it is an optional dependency)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            "the YOLOX detectors need onnxruntime: pip install onnxruntime (or onnxruntime-gpu for CUDA)"
        ) from error
    return onnxruntime


def execution_providers(device: str, available: list[str]) -> list[Any]:
    """CUDA first for auto, cuda and cuda:N when this onnxruntime offers it (onnxruntime-gpu); CPU always."""
    if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device != "cpu" and CUDA in available:
        return [(CUDA, {"device_id": int(device.partition(":")[2] or 0)}), CPU]
    return [CPU]


def anchor_count(height: int, width: int) -> int:
    """N of the (1, N, 85) output for an input of height x width."""
    return sum((height // stride) * (width // stride) for stride in STRIDES)


def anchor_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's cell corner (N, 2) as (column, row) in cells, and its stride (N, 1), output order."""
    corners, strides = [], []
    for stride in STRIDES:
        rows, columns = np.mgrid[: height // stride, : width // stride]
        corners.append(np.stack([columns.ravel(), rows.ravel()], axis=1))
        strides.append(np.full((rows.size, 1), stride))
    return np.concatenate(corners).astype(np.float64), np.concatenate(strides).astype(np.float64)


def session_options(onnxruntime: ModuleType) -> Any:
    """The detector's session options: intra-op threads that do not spin-wait after a run.

    Spinning threads keep the cores busy while the network and the rest of the pipeline need them,
    as with the network's own session (backends/onnx_runtime.py; BENCHMARKS.md, "Start-up, precision
    and OpenVINO").
    """
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _session(onnxruntime: ModuleType, path: Path, providers: list[Any]) -> Any:
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=session_options(onnxruntime), providers=providers
        )
    except Exception as error:  # onnxruntime's errors derive from Exception alone
        reason = f"onnxruntime cannot load it (corrupt or truncated?): {error}"
        raise DetectorWeightsError(path, reason) from error


def _input_size(path: Path, session: Any) -> tuple[int, int]:
    """(H, W) of the single (1, 3, H, W) float input, H and W multiples of 32 (the coarsest stride)."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise DetectorWeightsError(path, f"a YOLOX export has one input, this model has {len(inputs)}")
    shape, kind = list(inputs[0].shape), inputs[0].type
    batch_ok = len(shape) == 4 and (shape[0] == 1 or not isinstance(shape[0], int))  # 1, or --dynamic
    sizes = shape[2:]
    sizes_ok = batch_ok and shape[1] == 3 and all(isinstance(s, int) and s > 0 and s % 32 == 0 for s in sizes)
    if kind != "tensor(float)" or not sizes_ok:
        raise DetectorWeightsError(
            path, f"its input is {kind} {shape}, not float (1, 3, H, W) with H and W multiples of 32"
        )
    return shape[2], shape[3]


def open_yolox(path: str | os.PathLike, device: str = "cpu") -> tuple[Any, tuple[int, int]]:
    """An onnxruntime session of a YOLOX export, and its input (H, W); DetectorWeightsError if unusable.

    The model runs once on a blank image, which checks the output (1, N, 85) for its input size (the
    declared output shape is often symbolic) and takes the first run's set-up cost out of the stream.
    CUDA that onnxruntime lists but cannot start (no driver, no cuDNN) falls back to the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise DetectorWeightsError(path, "no such file")
    onnxruntime = import_onnxruntime()
    providers = execution_providers(device, onnxruntime.get_available_providers())
    try:
        session = _session(onnxruntime, path, providers)
    except DetectorWeightsError as error:
        if providers == [CPU]:
            raise
        logger.warning("cannot open %s with CUDA (%s): trying the CPU", path, error.reason)
        session = _session(onnxruntime, path, [CPU])
    height, width = _input_size(path, session)
    outputs = session.get_outputs()
    if len(outputs) != 1:
        raise DetectorWeightsError(path, f"a YOLOX export has one output, this model has {len(outputs)}")
    blank = np.full((1, 3, height, width), PAD_VALUE, np.float32)
    try:
        (output,) = session.run(None, {session.get_inputs()[0].name: blank})
    except Exception as error:  # onnxruntime's errors derive from Exception alone
        raise DetectorWeightsError(path, f"it fails on a blank {height}x{width} image: {error}") from error
    expected = (1, anchor_count(height, width), OUTPUT_WIDTH)
    if output.shape != expected or output.dtype != np.float32:
        raise DetectorWeightsError(
            path,
            f"its output is {output.dtype} {output.shape}, not the float32 {expected} of YOLOX's raw grid"
            f" outputs for a {height}x{width} input",
        )
    return session, (height, width)


def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """YOLOX's preproc of an RGB image: the (1, 3, H, W) float32 BGR input, and the resize factor."""
    height, width = input_size
    scale = min(height / image.shape[0], width / image.shape[1])
    # truncated like YOLOX's; at least 1 px, or a 10000x10 image would be resized to nothing
    size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
    resized = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_LINEAR)
    blob = np.full((1, 3, height, width), PAD_VALUE, np.float32)
    blob[0, :, : size[1], : size[0]] = resized[:, :, ::-1].transpose(2, 0, 1)
    return blob, scale


class YoloxPersonDetector(PersonDetector):
    """People (COCO class 0) found by a YOLOX ONNX export: the module docstring says how.

    Scores are probabilities (objectness x person). `provider` says where the model runs:
    CUDAExecutionProvider or CPUExecutionProvider.
    """

    def __init__(
        self,
        weights: str | os.PathLike,
        min_score: float = YOLOX_MIN_SCORE,
        max_people: int = 8,
        nms_iou: float = NMS_IOU,
        device: str = "cpu",
    ) -> None:
        self.session, self.input_size = open_yolox(weights, device)
        self.provider: str = self.session.get_providers()[0]
        self.min_score = min_score
        self.max_people = max_people
        self.nms_iou = nms_iou
        self._input_name = self.session.get_inputs()[0].name
        self._corners, self._strides = anchor_grid(*self.input_size)

    def detect(self, image: np.ndarray) -> list[Box]:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        blob, scale = letterbox(image, self.input_size)
        (output,) = self.session.run(None, {self._input_name: blob})
        return self.decode(output[0], scale, width, height)

    def decode(self, raw: np.ndarray, scale: float, width: int, height: int) -> list[Box]:
        """People in image pixels from the (N, 85) raw outputs of an image resized by `scale`."""
        scores = raw[:, 4].astype(np.float64) * raw[:, 5 + PERSON_CLASS]
        candidates = np.flatnonzero(scores >= self.min_score)  # NaN scores fail this too
        rows = raw[candidates].astype(np.float64)
        strides = self._strides[candidates]
        with np.errstate(over="ignore", invalid="ignore"):  # a wild exp(): dropped as non-finite below
            centres = (rows[:, :2] + self._corners[candidates]) * strides
            sizes = np.exp(rows[:, 2:4]) * strides
            corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) / scale
        finite = np.isfinite(corners).all(axis=1)
        corners, scores = corners[finite], scores[candidates][finite]
        if len(scores) == 0:
            return []
        # scores are products of probabilities: threshold 0 (OpenCV refuses less) keeps every candidate
        rectangles = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxes(rectangles.tolist(), scores.tolist(), 0.0, self.nms_iou)
        boxes = [Box(*map(float, corners[i]), float(scores[i])) for i in np.asarray(kept, dtype=int).ravel()]
        return clean_boxes(boxes, width, height, self.min_score, self.max_people)


def released_detector(name: str) -> ReleasedDetector:
    """The release entry of `name` (releases.RELEASED_DETECTORS), or a ValueError listing them."""
    if name not in RELEASED_DETECTORS:
        raise ValueError(f"no released detector {name!r}; choose one of {', '.join(RELEASED_DETECTORS)}")
    return RELEASED_DETECTORS[name]


def yolox_cache_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where `fetch_yolox(name)` keeps the model: the package's weights cache unless `cache_dir`."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / released_detector(name).filename


def cached_yolox(name: str) -> Path:
    """The model of `name` in the weights cache, or a DetectorWeightsError that says how to download it."""
    path = yolox_cache_path(name)
    if not path.is_file():
        raise DetectorWeightsError(path, f"not downloaded yet: run `deephar-ros download --detector {name}`")
    return path


def verify_yolox_file(path: str | os.PathLike, input_size: tuple[int, int]) -> None:
    """DetectorWeightsError unless `path` is a YOLOX export that runs, at `input_size` (H, W)."""
    _, size = open_yolox(path)
    if size != input_size:
        raise DetectorWeightsError(
            path, f"its input is {size[0]}x{size[1]}, not {input_size[0]}x{input_size[1]}"
        )


def fetch_yolox(
    name: str, cache_dir: str | os.PathLike | None = None, force: bool = False, url: str | None = None
) -> Path:
    """The cached ONNX file of a released YOLOX model, downloaded first if absent, untrusted or `force`.

    The download replaces a cached file only once onnxruntime has loaded and run it at the released
    input size; its sha256 is recorded beside it (downloads.fetch_verified).
    """
    released = released_detector(name)
    import_onnxruntime()  # before downloading what could not be verified
    destination = yolox_cache_path(name, cache_dir)

    def verify(path: Path) -> None:
        try:
            verify_yolox_file(path, released.input_size)
        except DetectorWeightsError as error:
            raise DownloadError(f"it is not the {name} ONNX export: {error.reason}") from error

    return fetch_verified(
        url or released.url,
        destination,
        verify,
        force=force,
        by_hand=f"Download {released.filename} by hand from {released.page} into {destination.parent}",
    )
