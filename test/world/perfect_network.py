"""A perfect stand-in for SPNet behind the pipeline's Engine protocol, for rendered scenes.

From each crop it is given (nothing else from the pipeline) it finds the joint markers
(render.decode_marker), fits the crop's transform (scale and shift: the pipeline's crops are
axis-aligned squares) to the scene's true 2D joints, and answers as a perfectly trained SPNet would
in that crop, in the authors' output conventions:
- x, y: the joint in [0, 1] of the crop (clipped to it, as soft-argmax can give nothing else);
- z (3D presets): 0.5 + (joint depth - root depth) / (2 s), clipped to [0, 1], where s is the crop's
  size over the authors' window on the true joints (1.5 x their square extent; deephar/utils/bbox.py),
  clamped to the scales the authors trained on (deephar/data/ntu.py: z over +-1 m x that scale);
- visibility: 1 for a joint inside the crop and the image, else 0.
The person answered is, among those with at least `min_markers` markers found, the one the crop
frames best, as the authors trained (centred, at the scale of their window): the least distance of
the joints' mean from the crop's centre plus half the |log| of the crop's size over their window.
No such person: every joint at the centre with visibility 0.

Each frame's features carry tags in their appearance values (which the clip window leaves as they
are): the person seen and the frame index. `run_actions` reads them back, answers the scripted action
of the person over the frames the clip really holds (a label from scenes.ACTION_LABELS; uniform
scores where the label set has none), and records every clip: who is in it, which frames, its span,
and how far its pose input (block 0) is from the authors' clip crop of the true joints
(`authors_clip_pose`: deephar/data/ntu.py get_data with utils/bbox.py get_gt_bbox for NTU, every
frame's box for Penn, pennaction.py; written here from the authors' code, not from the port's).

Imperfect variants: `joint_noise_px` (Gaussian, crop pixels), `missed_joint_rate` (a joint answered
at a wrong place with visibility 0.1), `confidence` (the visibility of a good joint).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from deephar_ros.model.config import CROP_SIZE, SPNetConfig, get_preset
from deephar_ros.model.labels import load_labels
from deephar_ros.perception.camera import AUTHORS_TRAINING_SCALES
from deephar_ros.perception.clip_window import feature_layout
from deephar_ros.perception.crops import AUTHORS_CROP_MARGIN, MIN_WINDOW_SIZE
from world.render import decode_marker
from world.scenes import ACTION_LABELS, Frame, PersonTruth

TAG = 4242.0  # marks features this network made


@dataclass
class ClipRecord:
    """One clip the action branch was asked to score."""

    person_ids: list[int]  # per frame: whom the crop showed (0: nobody)
    frame_indices: list[int]
    span_s: float
    true_label: str | None
    # max |x, y| and |z| difference of the clip's pose input (block 0, joints in the image) from the
    # authors' clip crop of the true joints; NaN where the clip does not hold one person throughout
    window_error: float = float("nan")
    depth_error: float = float("nan")

    @property
    def one_person(self) -> bool:
        return len(set(self.person_ids)) == 1 and self.person_ids[0] != 0


@dataclass
class PerfectNetwork:
    """The Engine protocol (config, backend, device, run_frames, run_actions) over a scene's truth."""

    config: SPNetConfig = field(default_factory=lambda: get_preset("ntu_multitask"))
    joint_noise_px: float = 0.0
    missed_joint_rate: float = 0.0
    confidence: float = 1.0
    min_markers: int = 3
    seed: int = 0
    fps: float = 30.0
    backend: str = "world"
    device: str = "cpu"
    weights: str = "perfect network (test/world)"
    random_weights: bool = False
    frame: Frame | None = None  # the truth of the frame being processed: set by the harness
    clips: list[ClipRecord] = field(default_factory=list)
    truth_by_frame: dict[int, dict[int, str]] = field(default_factory=dict)  # frame -> person -> action
    people_by_frame: dict[int, dict[int, PersonTruth]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.labels = load_labels(self.config.label_set) if self.config.num_actions else []
        self._layout = None if self.config.is_pose_only else feature_layout(self.config)

    def show(self, frame: Frame) -> None:
        """The truth of the next frame the pipeline will process (the harness calls this)."""
        self.frame = frame
        self.truth_by_frame[frame.index] = {p.person_id: p.action for p in frame.people}
        self.people_by_frame[frame.index] = {p.person_id: p for p in frame.people}

    def device_memory_mb(self) -> float:
        return 0.0

    # ---- frames
    def run_frames(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.frame is None:
            raise RuntimeError("show() the frame's truth before running the network on its crops")
        joints, dim = self.config.num_joints, self.config.pose_dim
        poses = np.zeros((len(crops), joints, dim + 1), np.float32)
        size = 0 if self._layout is None else self._layout[-1].appearance.stop
        features = np.zeros((len(crops), size), np.float32)
        for i, crop in enumerate(crops):
            person, pose = self._answer(crop)
            poses[i] = pose
            if self._layout is not None:
                for block in self._layout:
                    features[i, block.pose] = pose.ravel()
                    features[i, block.appearance.start : block.appearance.start + 3] = (
                        person,
                        self.frame.index,
                        TAG,
                    )
        return poses, features

    def _answer(self, crop: np.ndarray) -> tuple[int, np.ndarray]:
        """(person id or 0, (J, D+1) pose) for one crop."""
        joints, dim = self.config.num_joints, self.config.pose_dim
        nobody = np.concatenate([np.full((joints, dim), 0.5), np.zeros((joints, 1))], axis=1)
        found = self._markers(crop)
        people = {p.person_id: p for p in self.frame.people}
        pairs = [(people[pid].joints_2d[j], c) for (pid, j), c in found.items() if pid in people]
        if len(pairs) < 2:
            return 0, nobody
        scale, shift = _fit_scale_shift(np.array([p for p, _ in pairs]), np.array([c for _, c in pairs]))
        if not scale > 0:
            return 0, nobody
        counts = Counter(pid for pid, _ in found)
        candidates = [people[pid] for pid, n in counts.items() if pid in people and n >= self.min_markers]
        if not candidates:
            return 0, nobody

        def to_crop(pixels: np.ndarray) -> np.ndarray:  # image pixels -> crop-normalised
            return (pixels * scale + shift + 0.5) / CROP_SIZE

        def misfit(p: PersonTruth) -> float:  # off the crop's centre, and framed at another scale
            centre = float(np.linalg.norm(to_crop(p.joints_2d).mean(axis=0) - 0.5))
            extent = max(np.ptp(p.joints_2d[:, 0]), np.ptp(p.joints_2d[:, 1]), 1.0)
            return centre + 0.5 * abs(np.log(CROP_SIZE / scale / (AUTHORS_CROP_MARGIN * extent)))

        person = min(candidates, key=misfit)
        return person.person_id, self._pose(person, to_crop(person.joints_2d), CROP_SIZE / scale)

    def _pose(self, person: PersonTruth, xy: np.ndarray, window_px: float) -> np.ndarray:
        joints, dim = self.config.num_joints, self.config.pose_dim
        xy = xy[:joints].copy()
        inside = np.all((xy >= 0) & (xy <= 1), axis=1) & person.in_image[:joints]
        if self.joint_noise_px:
            xy += self._rng.normal(0.0, self.joint_noise_px / CROP_SIZE, xy.shape)
        visibility = np.where(inside, self.confidence, 0.0)
        if self.missed_joint_rate:
            missed = self._rng.random(joints) < self.missed_joint_rate
            xy[missed] = self._rng.random((int(missed.sum()), 2))
            visibility[missed] = 0.1
        pose = np.zeros((joints, dim + 1), np.float32)
        pose[:, :2] = np.clip(xy, 0.0, 1.0)
        pose[:, -1] = visibility
        if dim == 3:
            px = person.joints_2d
            extent = max(np.ptp(px[:, 0]), np.ptp(px[:, 1]))
            authors = max(AUTHORS_CROP_MARGIN * extent, MIN_WINDOW_SIZE)
            low, high = AUTHORS_TRAINING_SCALES
            s = min(max(window_px / authors, low), high)
            relative = person.joints_3d[:joints, 2] - person.joints_3d[0, 2]
            pose[:, 2] = np.clip(0.5 + relative / (2.0 * s), 0.0, 1.0)
        return pose

    @staticmethod
    def _markers(crop: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """(person id, joint) -> the centroid (crop pixels) of that marker, where it is seen whole.

        Per code, the largest connected patch of core pixels; patches smaller than 0.8 x the crop's
        typical marker (cut by a nearer limb or marker, or a blend of two neighbours' colours that
        reads as a third code) are left out, since their centroid is not the joint.
        """
        pid, joint, ok = decode_marker(crop)
        rows, cols = np.nonzero(ok)
        codes = pid[rows, cols] * 100 + joint[rows, cols]
        patches: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        for value in np.unique(codes):
            r, c = rows[codes == value], cols[codes == value]
            r0, c0 = r.min(), c.min()
            mask = np.zeros((r.max() - r0 + 1, c.max() - c0 + 1), np.uint8)
            mask[r - r0, c - c0] = 1
            _, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
            best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            patches[(int(value) // 100, int(value) % 100)] = (
                int(stats[best, cv2.CC_STAT_AREA]),
                centroids[best] + (c0, r0),
            )
        if not patches:
            return {}
        typical = float(np.median([area for area, _ in patches.values()]))
        return {key: c for key, (area, c) in patches.items() if area >= max(2, 0.8 * typical)}

    # ---- actions
    def run_actions(self, features: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(features), len(self.labels)), np.float32)
        for n, clip in enumerate(features):
            appearance = clip[:, self._layout[0].appearance.start : self._layout[0].appearance.start + 3]
            if not np.all(appearance[:, 2] == TAG):
                raise RuntimeError("the clip's features were not all made by this network")
            people = [int(v) for v in appearance[:, 0]]
            frames = [int(v) for v in appearance[:, 1]]
            main = Counter(people).most_common(1)[0][0]
            truth = Counter(
                ACTION_LABELS[self.config.label_set].get(self.truth_by_frame[f].get(p, ""))
                for p, f in zip(people, frames, strict=True)
                if p == main
            ).most_common(1)[0][0]
            if truth is None:
                scores[n] = 1.0 / len(self.labels)
            else:
                scores[n] = 0.1 / (len(self.labels) - 1)
                scores[n, self.labels.index(truth)] = 0.9
            span = (max(frames) - min(frames)) / self.fps
            record = ClipRecord(people, frames, span, truth)
            if record.one_person:
                truths = [self.people_by_frame[f][main] for f in frames]
                expected = authors_clip_pose(truths, self.config)
                given = clip[:, self._layout[0].pose].reshape(expected.shape[0], -1, self.config.pose_dim + 1)
                seen = np.stack([p.in_image[: self.config.num_joints] for p in truths])
                difference = np.abs(given[..., : self.config.pose_dim] - expected)[seen]
                record.window_error = float(difference[:, :2].max())
                if self.config.pose_dim == 3:
                    record.depth_error = float(difference[:, 2].max())
            self.clips.append(record)
        return scores


def authors_clip_pose(truths: list[PersonTruth], config: SPNetConfig) -> np.ndarray:
    """(T, J, D) x, y[, z] of one person's true joints in the authors' crop of their clip, as they read it.

    The window: per frame the square of 1.5 x the larger side of the extent of the joints it sees
    (deephar/utils/bbox.py:68-76, relsize 1.5 at bbox.py:180, square by default at bbox.py:10), over
    the frames 0, int(T/2 + 0.5), T-1 for NTU (bbox.py:167-170) or every frame for Penn
    (pennaction.py:37-42), united (bbox.py:182-185), 32x32 if a side is under 32 (ntu.py:205-206),
    the rectangle stretched to the crop (transform.py:56-61, 110-112). Joint pixels (centres on
    integers) sit at u + 0.5 in the crop's edge units. z over the clip's mean true root +- 1 m
    (ntu.py:197-202, 236), the scale 1 at test. Soft-argmax answers [0, 1] only: clipped.
    """
    frames, joints = len(truths), config.num_joints
    used = (
        [0, int(frames / 2 + 0.5), frames - 1]
        if config.label_set == "ntu60" and frames > 1
        else range(frames)
    )
    corners = []
    for t in used:
        seen = truths[t].joints_2d[:joints][truths[t].in_image[:joints]] + 0.5
        centre = (seen.min(axis=0) + seen.max(axis=0)) / 2
        half = AUTHORS_CROP_MARGIN * np.ptp(seen, axis=0).max() / 2
        corners.append(np.concatenate([centre - half, centre + half]))
    corners = np.array(corners)
    low, high = corners[:, :2].min(axis=0), corners[:, 2:].max(axis=0)
    if (high - low).min() < MIN_WINDOW_SIZE:
        low, high = (low + high) / 2 - MIN_WINDOW_SIZE / 2, (low + high) / 2 + MIN_WINDOW_SIZE / 2
    pose = [(p.joints_2d[:joints] + 0.5 - low) / (high - low) for p in truths]
    if config.pose_dim == 3:
        root = np.mean([p.joints_3d[0, 2] for p in truths])
        pose = [
            np.column_stack([xy, 0.5 + (p.joints_3d[:joints, 2] - root) / 2.0])
            for xy, p in zip(pose, truths, strict=True)
        ]
    return np.clip(np.stack(pose), 0.0, 1.0)


def _fit_scale_shift(image_px: np.ndarray, crop_px: np.ndarray) -> tuple[float, np.ndarray]:
    """Least squares crop = scale * image + shift (2 shifts), with one pass of outlier rejection."""
    keep = np.ones(len(image_px), bool)
    for _ in range(2):
        a = np.zeros((2 * keep.sum(), 3))
        a[0::2, 0], a[0::2, 1] = image_px[keep, 0], 1.0
        a[1::2, 0], a[1::2, 2] = image_px[keep, 1], 1.0
        b = crop_px[keep].reshape(-1)
        (scale, sx, sy), *_ = np.linalg.lstsq(a, b, rcond=None)
        residual = np.linalg.norm(crop_px - (scale * image_px + [sx, sy]), axis=1)
        new_keep = residual < max(0.5, 2.5 * float(np.median(residual)))
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return float(scale), np.array([sx, sy])
