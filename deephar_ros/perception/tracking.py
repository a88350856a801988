"""Multi-person tracking: stable integer ids from frame to frame.

Each track predicts where its person is now (constant velocity of the box centre), then detections
and tracks are matched greedily, cheapest first, on (1 - IoU of the predicted box) plus the mean
distance between confident joints in body heights. Velocity lets ids survive two people crossing;
unmatched tracks wait `timeout_s` seconds (stamps, not frames) before they are retired. Ids are
never reused. Stamps are integer nanoseconds and must not go backwards: the pipeline resets the
tracker when they do (a replayed bag, a camera restart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deephar_ros.perception.results import NS_PER_S, Box, seconds


@dataclass
class Track:
    """What a tracker remembers of one person."""

    track_id: int
    box: Box
    joints: np.ndarray  # (J, 2) pixels
    confidences: np.ndarray  # (J,)
    last_stamp_ns: int
    velocity: np.ndarray  # (2,) box-centre pixels per second
    hits: int = 1

    def predicted_shift(self, stamp_ns: int) -> np.ndarray:
        return self.velocity * seconds(max(stamp_ns - self.last_stamp_ns, 0))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    iw = min(a.x1, b.x1) - max(a.x0, b.x0)
    ih = min(a.y1, b.y1) - max(a.y0, b.y0)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a.width * a.height + b.width * b.height - inter)


def shifted_box(box: Box, shift: np.ndarray) -> Box:
    """The box moved by shift (dx, dy) pixels, e.g. a track's predicted motion."""
    dx, dy = float(shift[0]), float(shift[1])
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy, box.score)


def _centre(box: Box) -> np.ndarray:
    return np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])


def repeated_skeletons(
    joints_2d: np.ndarray,
    confidences: np.ndarray,
    priority: np.ndarray | None = None,
    min_confidence: float = 0.3,
    max_distance: float = 0.1,
) -> list[int]:
    """Indices of the skeletons that repeat a skeleton of higher priority: the same person seen twice.

    Two crops on one person (a pose-driven box and a detector box that overlapped it too little, a
    box on someone hidden behind them, two loose boxes) give two skeletons of that person; the one
    of higher `priority` is kept (default: the earlier in the list). Skeleton b repeats a when the
    mean distance of the joints both hold with `min_confidence` is under `max_distance` x the larger
    side of a's confident joints' extent (pose non-maximum suppression).
    """
    joints_2d = np.asarray(joints_2d, dtype=np.float64)
    confident = np.asarray(confidences) >= min_confidence
    count = len(joints_2d)
    order = range(count) if priority is None else np.argsort(-np.asarray(priority), kind="stable")
    repeated: list[int] = []
    kept: list[int] = []
    for b in order:
        for a in kept:
            both = confident[a] & confident[b]
            if both.sum() < 2:
                continue
            points = joints_2d[a][confident[a]]
            size = max(float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1])), 1.0)
            gap = float(np.mean(np.linalg.norm(joints_2d[a][both] - joints_2d[b][both], axis=1)))
            if gap < max_distance * size:
                repeated.append(int(b))
                break
        else:
            kept.append(int(b))
    return sorted(repeated)


def box_holds_track(box: Box, track_box: Box, inside: float = 0.9) -> bool:
    """Whether a detection box is a loose box around a tracked person's (pose-driven) box.

    IoU alone misses a loose detector box (1.6x the person) around a pose-driven box made from the
    joints' extent: here `inside` of the track box's area lies in the detection and the detection's
    centre lies in the track box. A smaller box over part of the track (a person behind) is not
    held; should two boxes still show one person, the pipeline's pose suppression drops one.
    """
    x0, y0 = max(box.x0, track_box.x0), max(box.y0, track_box.y0)
    x1, y1 = min(box.x1, track_box.x1), min(box.y1, track_box.y1)
    overlap = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    cx, cy = _centre(box)
    return (
        overlap >= inside * track_box.width * track_box.height
        and track_box.x0 <= cx <= track_box.x1
        and track_box.y0 <= cy <= track_box.y1
    )


class Tracker:
    """Greedy IoU + skeleton tracker with a constant-velocity prediction and a timeout."""

    def __init__(
        self,
        timeout_s: float = 1.0,
        skeleton_weight: float = 1.0,
        min_iou: float = 0.1,
        max_skeleton_distance: float = 0.5,
        min_confidence: float = 0.3,
        velocity_smoothing: float = 0.5,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"track timeout must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.timeout_ns = round(timeout_s * NS_PER_S)
        self.skeleton_weight = skeleton_weight
        self.min_iou = min_iou
        self.max_skeleton_distance = max_skeleton_distance
        self.min_confidence = min_confidence
        self.velocity_smoothing = velocity_smoothing
        self.tracks: list[Track] = []
        self.next_id = 1
        self.last_stamp_ns: int | None = None

    def reset(self) -> list[int]:
        """Forget every track (ids are still never reused); returns the ids forgotten."""
        retired = [t.track_id for t in self.tracks]
        self.tracks = []
        self.last_stamp_ns = None
        return retired

    def _skeleton_distance(
        self, track: Track, shift: np.ndarray, joints: np.ndarray, conf: np.ndarray, box: Box
    ):
        both = (track.confidences >= self.min_confidence) & (conf >= self.min_confidence)
        if not np.any(both):
            return None
        gaps = np.linalg.norm(track.joints[both] + shift - joints[both], axis=1)
        return float(np.mean(gaps)) / max(box.height, 1.0)

    def _cost(self, track: Track, stamp_ns: int, box: Box, joints: np.ndarray, conf: np.ndarray) -> float:
        shift = track.predicted_shift(stamp_ns)
        iou = box_iou(shifted_box(track.box, shift), box)
        skeleton = self._skeleton_distance(track, shift, joints, conf, box)
        if skeleton is None:
            skeleton = float(np.linalg.norm(_centre(track.box) + shift - _centre(box))) / max(box.height, 1.0)
        if iou < self.min_iou and skeleton > self.max_skeleton_distance:
            return np.inf
        return (1.0 - iou) + self.skeleton_weight * skeleton

    def update(
        self, boxes: list[Box], joints: np.ndarray, confidences: np.ndarray, stamp_ns: int
    ) -> tuple[list[int], list[int]]:
        """Match this frame's people to tracks: (an id per box, ids retired in this call).

        `stamp_ns` must not be older than the previous call's (see the module docstring).
        """
        if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns:
            raise ValueError(f"stamp {stamp_ns} ns is older than the previous {self.last_stamp_ns} ns")
        joints = np.asarray(joints, dtype=np.float64)
        confidences = np.asarray(confidences, dtype=np.float64)
        if len(joints) != len(boxes) or len(confidences) != len(boxes):
            raise ValueError(
                f"{len(boxes)} boxes but {len(joints)} skeletons and {len(confidences)} confidences"
            )
        previous_ns, self.last_stamp_ns = self.last_stamp_ns, stamp_ns
        # A track that missed the previous frame and is older than the timeout must not come back;
        # one seen in the previous frame may still be matched, however slow the frames come.
        retired = self._retire(
            lambda t: (
                stamp_ns - t.last_stamp_ns > self.timeout_ns
                and (previous_ns is None or t.last_stamp_ns < previous_ns)
            )
        )

        cost = np.array(
            [
                [self._cost(t, stamp_ns, b, j, c) for b, j, c in zip(boxes, joints, confidences, strict=True)]
                for t in self.tracks
            ]
        ).reshape(len(self.tracks), len(boxes))
        ids = [-1] * len(boxes)
        matched_tracks = set()
        for flat in np.argsort(cost, axis=None, kind="stable"):
            ti, di = np.unravel_index(flat, cost.shape)
            if not np.isfinite(cost[ti, di]):
                break
            if ti in matched_tracks or ids[di] != -1:
                continue
            matched_tracks.add(ti)
            ids[di] = self._follow(self.tracks[ti], boxes[di], joints[di], confidences[di], stamp_ns)

        for di, box in enumerate(boxes):
            if ids[di] == -1:
                track = Track(
                    self.next_id, box, joints[di].copy(), confidences[di].copy(), stamp_ns, np.zeros(2)
                )
                self.next_id += 1
                self.tracks.append(track)
                ids[di] = track.track_id

        retired += self._retire(lambda t: stamp_ns - t.last_stamp_ns > self.timeout_ns)
        return ids, retired

    def _retire(self, expired: Callable[[Track], bool]) -> list[int]:
        """Drop the tracks `expired` selects; returns their ids."""
        gone = [t.track_id for t in self.tracks if expired(t)]
        self.tracks = [t for t in self.tracks if not expired(t)]
        return gone

    def _follow(self, track: Track, box: Box, joints: np.ndarray, conf: np.ndarray, stamp_ns: int) -> int:
        dt_ns = stamp_ns - track.last_stamp_ns
        if dt_ns > 0:
            measured = (_centre(box) - _centre(track.box)) / seconds(dt_ns)
            keep = self.velocity_smoothing if track.hits > 1 else 0.0
            track.velocity = keep * track.velocity + (1 - keep) * measured
        track.box, track.joints, track.confidences = box, joints.copy(), conf.copy()
        track.last_stamp_ns = stamp_ns
        track.hits += 1
        return track.track_id
