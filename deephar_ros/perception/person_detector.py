"""What every person detector is: detect(image) -> person boxes in pixels, best first, cleaned alike.

The detectors themselves are in detection.py (HOG, whole frame, given boxes; `create_detector` by
name) and yolox_detector.py; the pipeline and the run job hold any of them as a `PersonDetector`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from deephar_ros.perception.results import Box


class PersonDetector(ABC):
    """Finds people in an (H, W, 3) uint8 RGB image."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Box]:
        """Person boxes in image pixels, highest score first."""


def clean_boxes(boxes: list[Box], width: int, height: int, min_score: float, max_people: int) -> list[Box]:
    """Boxes clipped to the image, without empty or low-score ones, best max_people first."""
    kept = []
    for box in boxes:
        if not all(math.isfinite(v) for v in (box.x0, box.y0, box.x1, box.y1, box.score)):
            raise ValueError(f"box has non-finite values: {box}")
        clipped = Box(
            x0=min(max(box.x0, 0.0), width),
            y0=min(max(box.y0, 0.0), height),
            x1=min(max(box.x1, 0.0), width),
            y1=min(max(box.y1, 0.0), height),
            score=box.score,
        )
        if clipped.width >= 1 and clipped.height >= 1 and clipped.score >= min_score:
            kept.append(clipped)
    kept.sort(key=lambda b: -b.score)
    return kept[:max_people]
