"""A person detector that reads the scene's truth, with chosen faults, behind the detector interface."""

from __future__ import annotations

import numpy as np

from deephar_ros.perception.person_detector import PersonDetector
from deephar_ros.perception.results import Box
from world.scenes import Frame


class TruthDetector(PersonDetector):
    """Boxes of the people with at least `min_visible_joints` unhidden joints, as a detector would.

    `box_scale` grows each box about its centre (a loose detector: 1.6 gives boxes 1.6x the
    person); `noise_px` jitters every corner; `miss_rate` drops a person; `false_rate` adds a
    box on the background per call. `calls` counts the frames it ran on.
    """

    def __init__(
        self,
        min_visible_joints: int = 4,
        box_scale: float = 1.0,
        noise_px: float = 0.0,
        miss_rate: float = 0.0,
        false_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.min_visible_joints = min_visible_joints
        self.box_scale = box_scale
        self.noise_px = noise_px
        self.miss_rate = miss_rate
        self.false_rate = false_rate
        self.rng = np.random.default_rng(seed)
        self.frame: Frame | None = None
        self.calls = 0

    def show(self, frame: Frame) -> None:
        self.frame = frame

    def detect(self, image: np.ndarray) -> list[Box]:
        if self.frame is None:
            raise RuntimeError("show() the frame's truth before detecting")
        self.calls += 1
        height, width = image.shape[:2]
        boxes = []
        for person in self.frame.people:
            if person.visible.sum() < self.min_visible_joints or self.rng.random() < self.miss_rate:
                continue
            b = person.box
            cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
            hw, hh = b.width * self.box_scale / 2, b.height * self.box_scale / 2
            corners = np.array([cx - hw, cy - hh, cx + hw, cy + hh])
            if self.noise_px:
                corners += self.rng.normal(0.0, self.noise_px, 4)
            boxes.append(Box(*(float(c) for c in corners), 0.9))
        if self.false_rate and self.rng.random() < self.false_rate:
            w, h = self.rng.uniform(40, 120), self.rng.uniform(80, 240)
            x, y = self.rng.uniform(0, width - w), self.rng.uniform(0, height - h)
            boxes.append(Box(float(x), float(y), float(x + w), float(y + h), 0.7))
        return boxes
