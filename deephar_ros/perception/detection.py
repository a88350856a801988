"""The person detectors, behind one interface (person_detector.py), and `create_detector` by name.

- `HogPersonDetector`: OpenCV's HOG + linear SVM people detector (Dalal & Triggs), CPU only, no
  download. Finds upright, fully visible people at least ~100 px tall.
- `FullFrameDetector`: the whole image is one person (a webcam facing one user).
- `GivenBoxesDetector`: boxes from elsewhere (a ROS detector node, a file), cleaned and passed on.
- `yolox_detector.YoloxPersonDetector` ("yolox-nano", "yolox-tiny", "yolox-s"): the YOLOX authors'
  ONNX exports through onnxruntime (optional; CUDA with onnxruntime-gpu), after
  `deephar-ros download --detector NAME`.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from deephar_ros.choices import DETECTORS, YOLOX_DETECTORS
from deephar_ros.perception.person_detector import PersonDetector, clean_boxes
from deephar_ros.perception.results import Box
from deephar_ros.perception.yolox_detector import YOLOX_MIN_SCORE, YoloxPersonDetector, cached_yolox

# The people SVM's 64x128 window holds a ~32x96 person centred with 16 px on each side
# (Dalal & Triggs 2005): shrinking a window by these fractions gives the body box that
# the crop margin expects.
_HOG_WINDOW = (64, 128)
_HOG_BODY_SHRINK_X = 16 / 64
_HOG_BODY_SHRINK_Y = 16 / 128

# HOG's default score threshold; the detectors' scores are on different scales (default_min_score).
HOG_MIN_SCORE = 0.6


class HogPersonDetector(PersonDetector):
    """OpenCV's default people detector with non-maximum suppression.

    Scores are the SVM margins squashed by a logistic (monotone, in (0, 1), not calibrated
    probabilities): 0.5 is the SVM's own decision boundary. Images wider than `max_width` are
    detected on a downscaled copy for speed, boxes scaled back.
    """

    def __init__(
        self,
        min_score: float = HOG_MIN_SCORE,
        max_people: int = 8,
        nms_iou: float = 0.4,
        win_stride: int = 8,
        scale: float = 1.05,
        max_width: int = 800,
    ) -> None:
        if not hasattr(cv2, "HOGDescriptor"):
            raise RuntimeError("this OpenCV build has no HOGDescriptor (OpenCV 5); install opencv<5")
        self.min_score = min_score
        self.max_people = max_people
        self.nms_iou = nms_iou
        self.win_stride = win_stride
        self.scale = scale
        self.max_width = max_width
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray) -> list[Box]:
        height, width = image.shape[:2]
        resize = min(1.0, self.max_width / width)
        small = image if resize == 1.0 else cv2.resize(image, None, fx=resize, fy=resize)
        if small.shape[0] < _HOG_WINDOW[1] or small.shape[1] < _HOG_WINDOW[0]:
            return []  # nobody fits, and OpenCV's HOG crashes on images smaller than its window
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        rects, margins = self.hog.detectMultiScale(
            gray, winStride=(self.win_stride, self.win_stride), padding=(8, 8), scale=self.scale
        )
        if len(rects) == 0:
            return []
        scores = 1.0 / (1.0 + np.exp(-np.asarray(margins, dtype=np.float64).ravel()))
        keep = cv2.dnn.NMSBoxes(
            [list(map(int, r)) for r in rects], scores.tolist(), self.min_score, self.nms_iou
        )
        boxes = []
        for i in np.asarray(keep, dtype=int).ravel():
            x, y, w, h = (float(v) / resize for v in rects[i])
            dx, dy = w * _HOG_BODY_SHRINK_X, h * _HOG_BODY_SHRINK_Y
            boxes.append(Box(x + dx, y + dy, x + w - dx, y + h - dy, float(scores[i])))
        return clean_boxes(drop_nesting_boxes(boxes), width, height, self.min_score, self.max_people)


def drop_nesting_boxes(boxes: list[Box], overlap: float = 0.8, height_ratio: float = 0.6) -> list[Box]:
    """Without boxes that hold a much smaller detection inside them.

    HOG often fires on a large window around a correctly found small person (one scale up);
    IoU-based suppression keeps both since their IoU is small. A real person box seldom
    contains another whole person at less than `height_ratio` of its height.
    """
    kept = []
    for outer in boxes:
        nests = False
        for inner in boxes:
            if inner is outer or inner.height >= height_ratio * outer.height:
                continue
            iw = min(outer.x1, inner.x1) - max(outer.x0, inner.x0)
            ih = min(outer.y1, inner.y1) - max(outer.y0, inner.y0)
            if iw > 0 and ih > 0 and iw * ih >= overlap * inner.width * inner.height:
                nests = True
                break
        if not nests:
            kept.append(outer)
    return kept


class FullFrameDetector(PersonDetector):
    """The whole image as one person box, for a camera framed on one person."""

    def detect(self, image: np.ndarray) -> list[Box]:
        height, width = image.shape[:2]
        return [Box(0.0, 0.0, float(width), float(height), 1.0)]


class GivenBoxesDetector(PersonDetector):
    """Passes on boxes found elsewhere (set `boxes` before each frame), cleaned like the others."""

    def __init__(self, boxes: list[Box] | None = None, min_score: float = 0.0, max_people: int = 8) -> None:
        self.boxes = list(boxes or [])
        self.min_score = min_score
        self.max_people = max_people

    def detect(self, image: np.ndarray) -> list[Box]:
        height, width = image.shape[:2]
        return clean_boxes(self.boxes, width, height, self.min_score, self.max_people)


def default_min_score(name: str) -> float:
    """The score threshold of detector `name` when the caller gives none.

    The scales differ: HOG's scores are a logistic of its SVM margin (0.5 is the SVM's own boundary,
    0.6 drops more false people), YOLOX's are probabilities (objectness x person), which the YOLOX
    demos draw from 0.3. The full frame always scores 1.
    """
    if name == "hog":
        return HOG_MIN_SCORE
    if name == "full-frame":
        return 0.0
    if name in YOLOX_DETECTORS:
        return YOLOX_MIN_SCORE
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")


def create_detector(
    name: str,
    min_score: float | None,
    max_people: int,
    *,
    device: str = "cpu",
    weights: str | os.PathLike | None = None,
) -> PersonDetector:
    """A detector by its command-line name (DETECTORS); min_score None: `default_min_score(name)`.

    `device` (auto, cpu, cuda, cuda:N) and `weights` (an ONNX file; None: the one
    `deephar-ros download --detector NAME` cached) concern the YOLOX detectors only. onnxruntime is
    imported only for those, so the others work without it.
    """
    threshold = default_min_score(name) if min_score is None else min_score
    if name in YOLOX_DETECTORS:
        path = cached_yolox(name) if weights is None else weights
        return YoloxPersonDetector(path, min_score=threshold, max_people=max_people, device=device)
    if weights is not None:
        raise ValueError(f"detector {name!r} takes no weights file (only {', '.join(YOLOX_DETECTORS)} do)")
    if name == "hog":
        return HogPersonDetector(min_score=threshold, max_people=max_people)
    if name == "full-frame":
        return FullFrameDetector()
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
