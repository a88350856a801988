"""Plain data records that flow out of the pipeline.

They are shared by the ROS-free pipeline, the command line (JSON lines) and the ROS node
(message conversion), so they live in one module that imports nothing heavier than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Stamps are integer nanoseconds everywhere in the core, as in ROS headers: a float of seconds
# since 1970 holds only ~0.2 us, so outputs could not carry their input's stamp exactly.
NS_PER_S = 1_000_000_000


def seconds(stamp_ns: int) -> float:
    """A nanosecond stamp or interval in seconds, for arithmetic on rates and timeouts."""
    return stamp_ns / NS_PER_S


@dataclass
class Box:
    """A person box in image pixels: (x0, y0) top-left, (x1, y1) bottom-right, exclusive."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass
class ActionEstimate:
    """Action scores of one track, from one or more clips of T frames."""

    track_id: int
    scores: np.ndarray  # (num_actions,) averaged softmax scores
    labels: list[str]  # the label set, in score-vector order
    label_set: str  # "ntu60" or "penn_action"
    clip_start_ns: int  # stamp of the first frame of the newest clip
    clip_end_ns: int  # stamp of the last frame of the newest clip
    clips_averaged: int

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.scores))

    @property
    def top_label(self) -> str:
        return self.labels[self.top_index]

    @property
    def top_score(self) -> float:
        return float(self.scores[self.top_index])

    def top_k(self, k: int) -> list[tuple[str, float]]:
        """The k best (label, score) pairs; all of them when k <= 0."""
        order = np.argsort(-self.scores, kind="stable")
        if k > 0:
            order = order[:k]
        return [(self.labels[i], float(self.scores[i])) for i in order]


DEPTH_FROM_IMAGE = 0
DEPTH_FROM_SIZE = 1


@dataclass
class PersonEstimate:
    """One tracked person in one frame."""

    track_id: int
    box: Box
    joint_names: list[str]
    joints_2d: np.ndarray  # (J, 2) pixels (u, v) in the source image
    joints_3d: np.ndarray  # (J, 3) metres, camera optical frame; NaN when the preset is 2D-only
    confidences: np.ndarray  # (J,) visibility in [0, 1]
    depth_source: int = DEPTH_FROM_SIZE
    action: ActionEstimate | None = None


@dataclass
class FrameResult:
    """Everything the pipeline found in one frame."""

    stamp_ns: int  # copied from the input
    width: int
    height: int
    people: list[PersonEstimate] = field(default_factory=list)
    retired_track_ids: list[int] = field(default_factory=list)
    time_reset: bool = False  # the stamp went back: every earlier track was retired, clips restarted
    non_finite_people: int = 0  # people dropped: the network gave them NaN or absurd joints (finite_outputs)
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage name -> milliseconds
