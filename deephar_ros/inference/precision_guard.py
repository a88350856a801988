"""The precision guard: is reduced precision (bf16, fp16) close enough to fp32 for these weights?

No one can say in general: random weights move by tens of pixels under bf16, trained networks
usually tolerate it. So it is measured, on the user's own weights and on crops of real people
(`GuardClips`: from a video or a folder of images, never random noise), by running the same
clips through an fp32 engine and a reduced-precision one (`measure`) and comparing what the
pipeline uses:

- 2D joints, in pixels of the 256 px crop;
- z, in mm at the authors' depth window (z_mm = (z - 0.5) * 2000 at scale 1: 1 px of a crop of a
  1.7 m person is about 10 mm);
- visibility (the joint confidence the pipeline thresholds);
- the top-1 action of each clip, each engine from its own per-frame features.

`judge` accepts within `GuardBounds` only, and refuses a network whose fp32 joints do not move
between crops (as random weights: every joint at the crop centre): agreement there proves nothing.
Verdicts are kept in a `VerdictCache` keyed by the weights, the device and the library versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from deephar_ros.inference.backends.trusted_cache import TrustedCache
from deephar_ros.model.config import CROP_SIZE

logger = logging.getLogger(__name__)

DEPTH_WINDOW_MM = 2000.0  # z spans the authors' 2 m depth window at scale 1

# Where the crops come from: called with the network's clip length, it gives uint8 clips of crops of
# people (C, clip_length, 256, 256, 3), or a ValueError when it finds too few people. The engine is
# handed one (people_clips.py makes them from a video or a folder of images).
GuardClips = Callable[[int], np.ndarray]


class FrameEngine(Protocol):
    """What the guard runs: an InferenceEngine, or anything with its two methods."""

    def run_frames(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def run_actions(self, features: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class GuardBounds:
    """How far reduced precision may move the outputs, at the 99th percentile over joints and crops."""

    joints_px_p99: float = 1.0
    depth_mm_p99: float = 10.0
    visibility_p99: float = 0.02
    min_action_agreement: float = 1.0  # fraction of clips whose top-1 action must agree
    # Below this spread of the fp32 joints between crops (px, median over joints) the network does
    # not respond to its input and agreement proves nothing.
    min_joint_spread_px: float = 1.0


@dataclass
class GuardFigures:
    """What reduced precision did to the outputs of `crops` crops in `clips` clips."""

    crops: int
    clips: int
    joints_px_p99: float
    joints_px_max: float
    depth_mm_p99: float | None  # None for 2D models
    depth_mm_max: float | None
    visibility_p99: float
    visibility_max: float
    actions_agreeing: int | None  # None for pose-only models
    joint_spread_px: float

    def lines(self) -> list[str]:
        """The figures as the log and check-precision print them."""
        lines = [
            f"crops of people: {self.crops} in {self.clips} clips",
            f"fp32 joints spread between crops: {self.joint_spread_px:.2f} px (median over joints)",
            f"2D joints: p99 {self.joints_px_p99:.3f} px, max {self.joints_px_max:.3f} px (256 px crop)",
        ]
        if self.depth_mm_p99 is not None:
            lines.append(
                f"z: p99 {self.depth_mm_p99:.2f} mm, max {self.depth_mm_max:.2f} mm (authors' depth window)"
            )
        lines.append(f"visibility: p99 {self.visibility_p99:.4f}, max {self.visibility_max:.4f}")
        if self.actions_agreeing is not None:
            lines.append(f"top-1 action: {self.actions_agreeing} of {self.clips} clips agree")
        return lines


@dataclass
class Verdict:
    """The precision chosen (`fp32` or the reduced one), why, and the figures it rests on."""

    precision: str
    reasons: list[str]
    figures: GuardFigures | None = None
    key: dict[str, str] = field(default_factory=dict)


def measure(
    reference: FrameEngine, candidate: FrameEngine, clips: np.ndarray, with_actions: bool = True
) -> GuardFigures:
    """Run uint8 clips (C, T, 256, 256, 3) through both engines and compare their outputs.

    `with_actions`: compare each clip's top-1 action too (not for pose-only models).
    """
    if clips.ndim != 5 or clips.shape[0] < 1:
        raise ValueError(f"clips must be uint8 (C, T, 256, 256, 3) with C >= 1, got {clips.shape}")
    count, length = clips.shape[:2]
    crops = clips.reshape(-1, *clips.shape[2:])
    ref_pose, ref_features = reference.run_frames(crops)
    pose, features = candidate.run_frames(crops)
    joints = np.linalg.norm(pose[..., :2] - ref_pose[..., :2], axis=-1) * CROP_SIZE
    visibility = np.abs(pose[..., -1] - ref_pose[..., -1])
    depth = np.abs(pose[..., 2] - ref_pose[..., 2]) * DEPTH_WINDOW_MM if pose.shape[-1] == 4 else None
    agreeing = None
    if with_actions:
        ref_scores = reference.run_actions(ref_features.reshape(count, length, -1))
        scores = candidate.run_actions(features.reshape(count, length, -1))
        agreeing = int(np.sum(scores.argmax(-1) == ref_scores.argmax(-1)))
    spread = np.median(np.linalg.norm(ref_pose[..., :2].std(axis=0), axis=-1)) * CROP_SIZE
    return GuardFigures(
        crops=len(crops),
        clips=count,
        joints_px_p99=float(np.percentile(joints, 99)),
        joints_px_max=float(joints.max()),
        depth_mm_p99=None if depth is None else float(np.percentile(depth, 99)),
        depth_mm_max=None if depth is None else float(depth.max()),
        visibility_p99=float(np.percentile(visibility, 99)),
        visibility_max=float(visibility.max()),
        actions_agreeing=agreeing,
        joint_spread_px=float(spread),
    )


def judge(figures: GuardFigures, bounds: GuardBounds = GuardBounds()) -> list[str]:
    """Why reduced precision is refused on these figures; empty when it is within every bound."""
    refusals = []
    if not figures.joint_spread_px >= bounds.min_joint_spread_px:
        refusals.append(
            f"the fp32 joints hardly move between crops ({figures.joint_spread_px:.2f} px < "
            f"{bounds.min_joint_spread_px} px): the network ignores its input (random weights?), "
            "so agreement would prove nothing"
        )
    if not figures.joints_px_p99 <= bounds.joints_px_p99:
        refusals.append(f"2D joints p99 {figures.joints_px_p99:.3f} px > {bounds.joints_px_p99} px")
    if figures.depth_mm_p99 is not None and not figures.depth_mm_p99 <= bounds.depth_mm_p99:
        refusals.append(f"z p99 {figures.depth_mm_p99:.2f} mm > {bounds.depth_mm_p99} mm")
    if not figures.visibility_p99 <= bounds.visibility_p99:
        refusals.append(f"visibility p99 {figures.visibility_p99:.4f} > {bounds.visibility_p99}")
    if (
        figures.actions_agreeing is not None
        and figures.actions_agreeing < bounds.min_action_agreement * figures.clips
    ):
        refusals.append(
            f"top-1 action differs in {figures.clips - figures.actions_agreeing} of {figures.clips} clips"
        )
    return refusals


# ---- verdicts kept -------------------------------------------------------------------------------------
class VerdictCache:
    """Verdicts by key (weights, back ends, device, library versions, bounds) in a TrustedCache."""

    def __init__(self, folder: Path) -> None:
        self.cache = TrustedCache(folder)

    @staticmethod
    def name(key: dict[str, str]) -> str:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return f"verdict_{digest[:24]}.json"

    def load(self, key: dict[str, str]) -> Verdict | None:
        data = self.cache.verified_bytes(self.name(key))
        if data is None:
            return None
        try:
            record = json.loads(data)
            figures = record["figures"]
            return Verdict(
                precision=record["precision"],
                reasons=list(record["reasons"]),
                figures=GuardFigures(**figures) if figures is not None else None,
                key=key,
            )
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("precision guard: ignoring an unreadable cached verdict: %s", error)
            return None

    def store(self, verdict: Verdict) -> bool:
        record = {
            "precision": verdict.precision,
            "reasons": verdict.reasons,
            "figures": asdict(verdict.figures) if verdict.figures is not None else None,
            "key": verdict.key,
        }
        return self.cache.store(self.name(verdict.key), json.dumps(record, indent=1, sort_keys=True).encode())
