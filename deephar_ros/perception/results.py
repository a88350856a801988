"""Plain data records that flow out of the pipeline.

They are shared by the ROS-free pipeline, the command line (JSON lines) and the ROS node
(message conversion), so they live in one module that imports nothing heavier than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# Stamps are integer nanoseconds everywhere in the core, as in ROS headers: a float of seconds
# since 1970 holds only ~0.2 us, so outputs could not carry their input's stamp exactly.
NS_PER_S = 1_000_000_000


def seconds(stamp_ns: int) -> float:
    """A nanosecond stamp or interval in seconds, for arithmetic on rates and timeouts."""
    return stamp_ns / NS_PER_S


def body_id(track_id: int) -> str:
    """The one id of a tracked person in every output: `b<track id>` (b3), as REP-155's TF frames and
    /humans/bodies topics name a body, so a consumer joins actions, skeletons and TF without
    building strings. A letter first: a ROS topic name token must not start with a digit.
    """
    return f"b{int(track_id)}"


# Actions whose best label scores below this softmax probability are "uncertain" (no label). 0.5:
# the label is then more likely than all the others together, whatever the number of classes (60
# for NTU, 15 for Penn), and no other label can score higher. An absolute probability, not a margin over
# chance (1/60, 1/15): it is the unit of the `score` a consumer reads, so it can check it.
DEFAULT_MIN_ACTION_CONFIDENCE = 0.5
UNCERTAIN = "uncertain"  # what the drawings and the RViz markers show for such an action
NO_LABEL_ID = -1  # the label id of an uncertain action


@dataclass(frozen=True)
class ActionDecision:
    """What an action estimate says under a confidence threshold: one label, or uncertain."""

    label: str  # "" when uncertain
    label_id: int  # index in the label set (score-vector order); NO_LABEL_ID when uncertain
    score: float  # the best label's score, uncertain or not
    uncertain: bool

    @property
    def text(self) -> str:
        """The short text drawings and markers show: `wave 70%`, or `uncertain`."""
        return UNCERTAIN if self.uncertain else f"{self.label} {self.score:.0%}"


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

    def decision(self, min_confidence: float) -> ActionDecision:
        """The best label, or uncertain (no label, NO_LABEL_ID) when it scores below min_confidence."""
        index, score = self.top_index, self.top_score
        if score < min_confidence:
            return ActionDecision("", NO_LABEL_ID, score, uncertain=True)
        return ActionDecision(self.labels[index], index, score, uncertain=False)

    def top_k_ids(self, k: int) -> list[int]:
        """The label ids of the k best scores, best first (ties: the lower id); all when k <= 0."""
        order = np.argsort(-self.scores, kind="stable")
        return [int(i) for i in (order[:k] if k > 0 else order)]

    def top_k(self, k: int) -> list[tuple[str, float]]:
        """The k best (label, score) pairs; all of them when k <= 0."""
        return [(self.labels[i], float(self.scores[i])) for i in self.top_k_ids(k)]


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


def scaled_box(box: Box, factor: float) -> Box:
    """The box in an image `factor` times as large (its edges scale; the score stays)."""
    return replace(box, x0=box.x0 * factor, y0=box.y0 * factor, x1=box.x1 * factor, y1=box.y1 * factor)


def in_image_of_size(result: FrameResult, factor: float, width: int, height: int) -> FrameResult:
    """The result with its image coordinates (boxes, 2D joints) in an image `factor` times as large.

    For a frame decoded reduced (factor k: reduced pixel j covers full pixels [j k, (j + 1) k)), box
    edges scale by k and pixel centres map as u = (u_reduced + 0.5) k - 0.5; `factor` 1 / k maps the
    other way. 3D is untouched.
    """
    people = [
        replace(
            person,
            box=scaled_box(person.box, factor),
            joints_2d=(np.asarray(person.joints_2d, dtype=np.float64) + 0.5) * factor - 0.5,
        )
        for person in result.people
    ]
    return replace(result, width=width, height=height, people=people)
