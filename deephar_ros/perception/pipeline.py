"""The perception pipeline without ROS: one RGB frame in, tracked 2D/3D skeletons and actions out.

    image -> people boxes -> crops -> network -> skeletons (image + camera) -> tracks -> actions

All people of a frame go through the network in one `run_frames` batch and every clip that is due
in one `run_actions` batch. The network is reached only through an engine object
(deephar_ros/inference/engine.py), so this module never imports torch. Stamps are integer nanoseconds; a
stamp older than the previous frame's (a replayed bag, a simulator reset) starts the tracks, clips
and filters again, and the result says so (`time_reset`).

Where crops come from (`crop_source`):
- "detector" (default): the person detector on every frame, each crop 1.5 x the detector box's larger
  side. The authors evaluated NTU this way with given boxes.
- "pose": pose-driven, as real-time pose systems run and as the authors made their Penn Action boxes
  (exp/pennaction/predict_bboxes.py: from predicted joints). Once a track has confident joints, its
  next crop is the authors' window around them (1.5 x their square extent), moved by the track's
  velocity; the detector runs only every `detect_every_n_frames` frames to find new people, and on
  the next frame whenever a track's joints lose confidence or leave the image.

Each person's framing (`clip_window.FrameFraming`: crop window, extent of the confident predicted
joints, depth scale, root depth) travels with their features into the action clip. With
`action_window` "clip" (default) a due clip's poses are re-expressed in the union of the authors'
windows on those joints, as the authors crop a clip; `depth_scale_from_window` reads each crop's z
over 1 m times the crop's size against the authors' window, as their training scaled both together.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from deephar_ros.choices import ACTION_WINDOWS, CROP_SOURCES, SCORINGS
from deephar_ros.model.joints import get_layout
from deephar_ros.model.labels import load_labels
from deephar_ros.perception.action_buffer import (
    ActionClipBuffers,
    authors_clip_step,
    authors_clip_stride,
    authors_sample_spacing_ns,
)
from deephar_ros.perception.camera import (
    AUTHORS_DEPTH_SCALE,
    CameraIntrinsics,
    relative_depth_metres,
    root_depth_from_box_height,
    root_depth_from_depth_image,
    root_depth_from_torso,
    window_depth_scale,
)
from deephar_ros.perception.clip_window import FrameFraming, features_in_clip_window
from deephar_ros.perception.crops import (
    AUTHORS_CROP_MARGIN,
    CROP_SIZE,
    CropWindow,
    authors_window,
    crop_to_image,
    crop_window,
    flip_crops,
    joint_extent_box,
    merge_flipped_poses,
    warp_crops,
)
from deephar_ros.perception.detection import create_detector, default_min_score
from deephar_ros.perception.finite_outputs import keep_finite_people, select_people
from deephar_ros.perception.person_detector import PersonDetector, clean_boxes
from deephar_ros.perception.results import DEPTH_FROM_IMAGE, DEPTH_FROM_SIZE, Box, FrameResult, PersonEstimate
from deephar_ros.perception.smoothing import OneEuroFilter
from deephar_ros.perception.tracking import Tracker, box_holds_track, box_iou, repeated_skeletons, shifted_box

STAGES = ("detect", "crop", "network", "lift", "track", "action")


class Engine(Protocol):
    """What the pipeline needs of deephar_ros.inference.engine.InferenceEngine."""

    config: object  # SPNetConfig
    backend: str
    device: str

    def run_frames(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def run_actions(self, features: np.ndarray) -> np.ndarray: ...


@dataclass
class PipelineConfig:
    """Pipeline settings; the defaults follow the authors where they had a choice to make."""

    detector: str = "hog"  # a detection.DETECTORS name, when no detector object is given
    detector_weights: str | None = None  # the YOLOX detectors' ONNX file; None: the downloaded one
    detector_device: str = "cpu"  # where the YOLOX detectors run: auto, cpu, cuda or cuda:N
    max_people: int = 8
    min_score: float | None = None  # detector score threshold; None: the detector's own default
    crop_margin: float = AUTHORS_CROP_MARGIN
    crop_source: str = "detector"  # "detector" every frame, or "pose": see the module docstring
    detect_every_n_frames: int = 10  # with crop_source "pose": how often the detector looks for new people
    pose_box_min_confidence: float = 0.3  # joints at least this confident shape a pose-driven crop
    pose_box_min_joints: float = 0.5  # the fraction of joints that must be, or the track needs the detector
    # a detection covering this share of a pose-driven box, its centre inside that box, is that person
    # (tracking.box_holds_track); any other detection is cropped too, and pose suppression drops repeats
    tracked_overlap: float = 0.9
    flip_tta: bool = False  # average with a mirrored crop (pose only; doubles the network batch)
    # None: clip samples by time, the authors' spacing (8/30 s NTU, 6/30 s Penn; action_buffer.py);
    # N: every N-th frame of a track, whatever its stamps.
    clip_stride: int | None = None
    # a clip spanning more or less than the authors' by this share is not scored
    max_clip_span_error: float = 0.1
    # camera rate that paces the authors' clip step (action_scoring "authors" with clip_stride N)
    frame_rate_hz: float | None = None
    action_every_n_frames: int = 1  # run a full track's clip at most this often
    average_clips: int = 3  # action scores combine this many recent clips
    # "mean" of the recent clips' scores, or "authors": their product, clips every authors_clip_step
    # frames (action_buffer.py says what the authors do and why a live stream keeps a window).
    action_scoring: str = "mean"
    mirrored_action_pass: bool = False  # the authors' second pass on mirrored crops (doubles the network)
    # "clip": every frame of an action clip re-expressed in the clip's one window, as the authors crop
    # (deephar_ros/perception/clip_window.py); "frame": each frame's pose as its own crop saw it.
    action_window: str = "clip"
    smoothing: bool = False  # One Euro filter on joints
    smoothing_min_cutoff_hz: float = 1.0
    smoothing_beta_px: float = 0.05
    smoothing_beta_m: float = 5.0
    track_timeout_s: float = 1.0
    depth_window_px: int = 5
    depth_scale: float = AUTHORS_DEPTH_SCALE
    # z read over depth_scale x (crop window / the authors' window on the predicted joints), within the
    # scales the network was trained on (camera.window_depth_scale); False: depth_scale as it is.
    depth_scale_from_window: bool = True
    hfov_deg: float = 60.0  # field of view assumed when no intrinsics are given
    max_image_side: int = 8192


def as_rgb_frame(image: object, max_side: int) -> np.ndarray:
    """A contiguous (H, W, 3) uint8 RGB frame; gray and RGBA are converted, the rest refused clearly."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 RGB, got dtype {image.dtype} (scale to 0..255 and convert)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"frame must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"frame is empty: shape {image.shape}")
    if max(image.shape[:2]) > max_side:
        raise ValueError(f"frame of {image.shape[1]}x{image.shape[0]} is larger than {max_side} px on a side")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def depth_misfit(depth: object, height: int, width: int) -> str | None:
    """Why `depth` cannot serve a height x width frame, or None when it can."""
    if not isinstance(depth, np.ndarray) or not np.issubdtype(depth.dtype, np.floating):
        return "depth must be a float (H, W) array in metres (convert 16UC1 with depth_image_to_metres)"
    if depth.shape != (height, width):
        return f"depth image of shape {depth.shape} does not match the {width}x{height} frame"
    return None


def intrinsics_misfit(intrinsics: CameraIntrinsics, height: int, width: int) -> str | None:
    """Why `intrinsics` do not describe a height x width frame, or None when they do."""
    if (intrinsics.width, intrinsics.height) != (width, height):
        return f"intrinsics are for {intrinsics.width}x{intrinsics.height}, frame is {width}x{height}"
    return None


def pose_box(joint_extent: Box | None, width: int, height: int) -> Box | None:
    """A track's next crop box: its joints' extent (crop_window adds the margin), or None.

    None when too few joints were confident (no extent) or the person's centre left the image: the
    detector must find them again.
    """
    if joint_extent is None:
        return None
    centre_x, centre_y = (joint_extent.x0 + joint_extent.x1) / 2, (joint_extent.y0 + joint_extent.y1) / 2
    return joint_extent if 0 <= centre_x < width and 0 <= centre_y < height else None


def as_stamp_ns(stamp_ns: object) -> int:
    """An integer nanosecond stamp, or a clear error (seconds as a float are refused, not guessed)."""
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, numbers.Integral):
        raise ValueError(
            f"stamp_ns must be an integer number of nanoseconds, got {stamp_ns!r} "
            "(for seconds t use round(t * 1e9))"
        )
    return int(stamp_ns)


class Pipeline:
    """Finds, tracks and describes the people in a stream of frames."""

    def __init__(
        self, engine: Engine, config: PipelineConfig | None = None, detector: PersonDetector | None = None
    ):
        self.engine = engine
        self.config = config or PipelineConfig()
        net = engine.config
        self.layout = get_layout(net.joint_layout)
        if (net.num_joints, net.pose_dim) != (self.layout.num_joints, self.layout.dim):
            raise ValueError(
                f"network predicts {net.num_joints} joints in {net.pose_dim}D, not {self.layout.name}"
            )
        cfg = self.config
        self.min_score = default_min_score(cfg.detector) if cfg.min_score is None else cfg.min_score
        self.detector = detector or create_detector(
            cfg.detector,
            self.min_score,
            cfg.max_people,
            device=cfg.detector_device,
            weights=cfg.detector_weights,
        )
        self.tracker = Tracker(timeout_s=self.config.track_timeout_s)
        self.actions: ActionClipBuffers | None = None
        if self.config.action_window not in ACTION_WINDOWS:
            raise ValueError(
                f"action_window must be one of {ACTION_WINDOWS}, got {self.config.action_window!r}"
            )
        if self.config.action_scoring not in SCORINGS:
            raise ValueError(f"action_scoring must be one of {SCORINGS}, got {self.config.action_scoring!r}")
        if net.num_actions:
            fixed = self.config.clip_stride
            self.actions = ActionClipBuffers(
                num_frames=net.num_frames,
                stride=fixed or authors_clip_stride(net.label_set),
                labels=load_labels(net.label_set),
                label_set=net.label_set,
                run_every_n_frames=self._clip_step(self.config.frame_rate_hz),
                average_clips=self.config.average_clips,
                scoring=self.config.action_scoring,
                mirrored=self.config.mirrored_action_pass,
                spacing_ns=None if fixed else authors_sample_spacing_ns(net.label_set),
                max_span_error=self.config.max_clip_span_error,
            )
        self.filters: dict[int, tuple[OneEuroFilter, OneEuroFilter]] = {}
        self.last_stamp_ns: int | None = None
        if self.config.crop_source not in CROP_SOURCES:
            raise ValueError(f"crop_source must be one of {CROP_SOURCES}, got {self.config.crop_source!r}")
        if self.config.detect_every_n_frames < 1:
            raise ValueError(f"detect_every_n_frames must be >= 1, got {self.config.detect_every_n_frames}")
        self.pose_boxes: dict[int, Box] = {}  # track id -> the box its next crop comes from ("pose")
        self._frames_since_detection: int | None = None  # None: the detector must run on the next frame
        self._lost_tracks: set[int] = set()  # pose-driven tracks not seen since their crop lost them
        self.detector_runs = 0

    def _clip_step(self, frame_rate_hz: float | None) -> int:
        """Frames between two clips of a track: the authors' step with their scoring, else the config's."""
        if self.config.action_scoring == "authors":
            net = self.engine.config
            return authors_clip_step(net.label_set, net.num_frames, frame_rate_hz)
        return self.config.action_every_n_frames

    def set_frame_rate(self, frame_rate_hz: float) -> None:
        """A measured camera rate: it paces the authors' clip step (their scoring with a fixed
        `clip_stride`; by time their clips start every `authors_clip_step_ns`) and nothing else.

        Clips sample by time (action_buffer.py), so a rate that changes or is mismeasured (dropped
        frames) never changes what a clip holds, and no clip restarts.
        """
        self.config.frame_rate_hz = frame_rate_hz
        if self.actions is not None:
            self.actions.run_every_n_frames = self._clip_step(frame_rate_hz)

    def reset(self) -> list[int]:
        """Forget tracks, clip buffers and filters (camera restart, time jump); the ids forgotten."""
        retired = self.tracker.reset()
        if self.actions is not None:
            self.actions.reset()
        self.filters.clear()
        self.last_stamp_ns = None
        self.pose_boxes.clear()
        self._frames_since_detection = None
        self._lost_tracks.clear()
        return retired

    def process(
        self,
        image: np.ndarray,
        stamp_ns: int,
        intrinsics: CameraIntrinsics | None = None,
        depth: np.ndarray | None = None,
        boxes: list[Box] | None = None,
    ) -> FrameResult:
        """One frame (uint8 RGB, stamp in integer nanoseconds) -> every tracked person in it.

        Without intrinsics, a pinhole camera of `hfov_deg` centred on the frame is assumed.
        """
        cfg = self.config
        image = as_rgb_frame(image, cfg.max_image_side)
        height, width = image.shape[:2]
        stamp_ns = as_stamp_ns(stamp_ns)
        if depth is not None:
            misfit = depth_misfit(depth, height, width)
            if misfit:
                raise ValueError(misfit)
            depth = depth.astype(np.float32, copy=False)
        if intrinsics is None:
            intrinsics = CameraIntrinsics.default_for(width, height, cfg.hfov_deg)
        elif misfit := intrinsics_misfit(intrinsics, height, width):
            raise ValueError(misfit)
        reset_ids = self.reset() if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns else None
        self.last_stamp_ns = stamp_ns
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1000.0
            clock = now

        pose_crops = 0  # how many of `people` lead the list as pose-driven boxes
        if boxes is None:
            people, pose_crops = self._find_people(image, stamp_ns)
        else:  # boxes from the caller are only clipped and capped: their detector chose its threshold
            people = clean_boxes(boxes, width, height, -math.inf, cfg.max_people)
        lap("detect")

        windows = [crop_window(box, cfg.crop_margin) for box in people]
        crops = warp_crops(image, windows, CROP_SIZE)
        if cfg.flip_tta or (cfg.mirrored_action_pass and self.actions is not None):
            crops = np.concatenate([crops, flip_crops(crops)])
        lap("crop")

        poses, features, mirrored_features = self._run_network(crops, len(people))
        people, windows, poses, features, mirrored_features = self._drop_unseen_and_repeated(
            people, windows, poses, features, mirrored_features, pose_crops
        )
        people, windows, poses, features, mirrored_features, non_finite = keep_finite_people(
            people, windows, poses, features, mirrored_features
        )
        lap("network")

        joints_2d, joints_3d, confidences, sources, framings = self._lift(
            poses, windows, people, intrinsics, depth
        )
        lap("lift")

        # Tracks follow the skeletons' extents, not the crops' boxes: a box on someone hidden behind a
        # nearer person may show that nearer person, and its box would carry their skeleton to the
        # hidden person's track.
        extents = [framing.joint_extent or box for framing, box in zip(framings, people, strict=True)]
        ids, retired = self.tracker.update(extents, joints_2d, confidences, stamp_ns)
        for track_id in retired:
            self.filters.pop(track_id, None)
        if cfg.crop_source == "pose" and boxes is None:
            self._follow_poses(ids, framings, retired, width, height)
        if cfg.smoothing:
            joints_2d, joints_3d = self._smooth(ids, joints_2d, joints_3d, stamp_ns)
        lap("track")

        if self.actions is not None:
            self.actions.drop(retired)
            self._run_actions(ids, features, mirrored_features, framings, stamp_ns)
        lap("action")

        result = FrameResult(
            stamp_ns=stamp_ns,
            width=width,
            height=height,
            retired_track_ids=[*(reset_ids or []), *retired],
            time_reset=reset_ids is not None,
            non_finite_people=non_finite,
        )
        for i, box in enumerate(people):
            result.people.append(
                PersonEstimate(
                    track_id=ids[i],
                    box=box,
                    joint_names=list(self.layout.joint_names),
                    joints_2d=joints_2d[i],
                    joints_3d=joints_3d[i],
                    confidences=confidences[i],
                    depth_source=sources[i],
                    action=None if self.actions is None else self.actions.latest(ids[i]),
                )
            )
        result.timings_ms = {stage: timings[stage] for stage in STAGES}
        return result

    def _find_people(self, image: np.ndarray, stamp_ns: int) -> tuple[list[Box], int]:
        """This frame's person boxes, pose-driven ones first, then the detector's new people; and how
        many are pose-driven (clean_boxes caps them at max_people, so they all stay in the list)."""
        cfg = self.config
        height, width = image.shape[:2]
        tracked = []
        if cfg.crop_source == "pose":
            shifts = {track.track_id: track.predicted_shift(stamp_ns) for track in self.tracker.tracks}
            tracked = [
                shifted_box(box, shifts.get(track_id, np.zeros(2)))
                for track_id, box in self.pose_boxes.items()
            ]
            tracked = clean_boxes(tracked, width, height, -math.inf, cfg.max_people)
        due = (
            cfg.crop_source == "detector"
            or self._frames_since_detection is None
            or self._frames_since_detection + 1 >= cfg.detect_every_n_frames
        )
        if not due:
            self._frames_since_detection += 1
            return tracked, len(tracked)
        self._frames_since_detection = 0
        self.detector_runs += 1
        found = clean_boxes(self.detector.detect(image), width, height, self.min_score, cfg.max_people)
        new = [box for box in found if not any(box_holds_track(box, t, cfg.tracked_overlap) for t in tracked)]
        return (tracked + new)[: cfg.max_people], len(tracked)

    def _follow_poses(
        self, ids: list[int], framings: list[FrameFraming], retired: list[int], width: int, height: int
    ) -> None:
        """Each track's next crop box from its joints; a track without one calls the detector.

        A track that had a pose box and is not in this frame (its crop showed someone else, as when
        a nearer person walks in front, or nobody) is lost: the detector runs on every frame until
        it is seen again or retires, so the person is found as soon as they reappear.
        """
        self._lost_tracks.update(track_id for track_id in self.pose_boxes if track_id not in ids)
        self._lost_tracks.difference_update([*ids, *retired])
        self.pose_boxes = {}
        for track_id, framing in zip(ids, framings, strict=True):
            box = pose_box(framing.joint_extent, width, height)
            if box is None:
                self._frames_since_detection = None
            else:
                self.pose_boxes[track_id] = box
        if self._lost_tracks:
            self._frames_since_detection = None

    def _run_network(self, crops: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(poses, features, features of the mirrored crops or None) of the first `count` crops.

        With mirrored crops after them in `crops`: flip TTA merges the poses, and the mirrored
        features feed the authors' mirrored action pass, as they are (nothing un-mirrored).
        """
        joints, dim = self.layout.num_joints, self.layout.dim
        if count == 0:
            return np.zeros((0, joints, dim + 1), np.float32), np.zeros((0, 0), np.float32), None
        poses, features = self.engine.run_frames(crops)
        if poses.shape != (len(crops), joints, dim + 1) or len(features) != len(crops):
            raise RuntimeError(
                f"engine returned poses {poses.shape} and features {features.shape} for {len(crops)} crops"
            )
        if len(crops) == count:
            return poses, features, None
        if self.config.flip_tta:
            merged = merge_flipped_poses(poses[:count], poses[count:], self.layout.flip_map)
        else:
            merged = poses[:count]
        mirrored = features[count:] if self.config.mirrored_action_pass else None
        return merged, features[:count], mirrored

    def _drop_unseen_and_repeated(
        self,
        people: list[Box],
        windows: list[CropWindow],
        poses: np.ndarray,
        features: np.ndarray,
        mirrored: np.ndarray | None,
        pose_crops: int,
    ) -> tuple[list[Box], list[CropWindow], np.ndarray, np.ndarray, np.ndarray | None]:
        """This frame's people less the pose-driven crops (the first `pose_crops`) that found nobody and
        the repeated skeletons.

        A pose-driven box is the pipeline's own guess of where a person went: when its crop shows too
        few confident joints (they left, a scene cut) nothing saw a person there, and the track is
        lost instead of shown. A skeleton that repeats another (one person, two crops) is dropped:
        of the two, the one whose box frames it best is kept (a pose-driven box is made from the
        skeleton; a box on someone hidden behind them frames it badly), so a second box on a person
        starts no new track.
        """
        if not people:
            return people, windows, poses, features, mirrored
        cfg = self.config
        joints_2d = np.stack([crop_to_image(poses[i, :, 0:2], windows[i]) for i in range(len(people))])
        fit = []  # how well each box frames its skeleton: a box on someone else's skeleton frames it badly
        unseen = set()
        for i, (box, joints, confidences) in enumerate(zip(people, joints_2d, poses[:, :, -1], strict=True)):
            extent = joint_extent_box(
                joints, confidences, cfg.pose_box_min_confidence, cfg.pose_box_min_joints
            )
            fit.append(0.0 if extent is None else box_iou(box, extent))
            if extent is None and i < pose_crops:
                unseen.add(i)
        repeated = set(
            repeated_skeletons(joints_2d, poses[:, :, -1], np.array(fit), cfg.pose_box_min_confidence)
        )
        if not repeated and not unseen:
            return people, windows, poses, features, mirrored
        keep = [i for i in range(len(people)) if i not in repeated and i not in unseen]
        return select_people(keep, people, windows, poses, features, mirrored)

    def _lift(
        self,
        poses: np.ndarray,
        windows: list[CropWindow],
        people: list[Box],
        intrinsics: CameraIntrinsics,
        depth: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[FrameFraming]]:
        """Network outputs -> image pixels, camera-frame metres, confidences, depth sources, framings."""
        cfg = self.config
        count, joints = len(people), self.layout.num_joints
        joints_2d = np.zeros((count, joints, 2))
        joints_3d = np.full((count, joints, 3), np.nan)
        confidences = np.clip(poses[:, :, -1], 0.0, 1.0).astype(np.float64)
        sources = [DEPTH_FROM_SIZE] * count
        framings = []
        for i in range(count):
            joints_2d[i] = crop_to_image(poses[i, :, 0:2], windows[i])
            extent = joint_extent_box(
                joints_2d[i], confidences[i], cfg.pose_box_min_confidence, cfg.pose_box_min_joints
            )
            scale = cfg.depth_scale
            if cfg.depth_scale_from_window and extent is not None:
                scale = window_depth_scale(windows[i].size, authors_window(extent).size, cfg.depth_scale)
            root = clip_root = math.nan  # clip_root: what may move the action clip's z, never the box height
            if self.layout.dim == 3:
                relative = relative_depth_metres(poses[i, :, 2], scale)
                root = None
                if depth is not None:
                    # only the torso joints the network found vote: a missed joint's place is a guess,
                    # and its depth pixels belong to whatever is there (all vote when none was found)
                    torso = [
                        j for j in self.layout.torso if confidences[i, j] >= cfg.pose_box_min_confidence
                    ] or list(self.layout.torso)
                    root = root_depth_from_depth_image(
                        depth, joints_2d[i], relative, torso, cfg.depth_window_px
                    )
                if root is not None:
                    sources[i] = DEPTH_FROM_IMAGE
                else:
                    root = root_depth_from_torso(
                        joints_2d[i], relative, confidences[i], self.layout, intrinsics
                    )
                if root is not None:
                    clip_root = root
                else:
                    root = root_depth_from_box_height(intrinsics, people[i].height)  # the torso failed above
                joints_3d[i] = intrinsics.back_project(joints_2d[i], root + relative)
            framings.append(FrameFraming(windows[i], extent, scale, float(clip_root)))
        return joints_2d, joints_3d, confidences, sources, framings

    def _smooth(self, ids: list[int], joints_2d: np.ndarray, joints_3d: np.ndarray, stamp_ns: int):
        cfg = self.config
        for i, track_id in enumerate(ids):
            if track_id not in self.filters:
                self.filters[track_id] = (
                    OneEuroFilter(cfg.smoothing_min_cutoff_hz, cfg.smoothing_beta_px),
                    OneEuroFilter(cfg.smoothing_min_cutoff_hz, cfg.smoothing_beta_m),
                )
            filter_2d, filter_3d = self.filters[track_id]
            joints_2d[i] = filter_2d(joints_2d[i], stamp_ns)
            joints_3d[i] = filter_3d(joints_3d[i], stamp_ns)
        return joints_2d, joints_3d

    def _run_actions(
        self,
        ids: list[int],
        features: np.ndarray,
        mirrored: np.ndarray | None,
        framings: list[FrameFraming],
        stamp_ns: int,
    ) -> None:
        for i, track_id in enumerate(ids):
            self.actions.add(
                track_id, features[i], stamp_ns, None if mirrored is None else mirrored[i], framings[i]
            )
        due = self.actions.due_clips()
        if not due:
            return
        clips = [self._clip_input(clip.features, clip.framings) for clip in due]
        if mirrored is not None:  # both passes of every due clip in one batch
            clips += [self._clip_input(clip.mirrored_features, clip.framings, mirrored=True) for clip in due]
        scores = self.engine.run_actions(np.stack(clips))
        for i, clip in enumerate(due):
            self.actions.record_scores(clip, scores[i], None if mirrored is None else scores[len(due) + i])

    def _clip_input(
        self, features: np.ndarray, framings: list[FrameFraming], mirrored: bool = False
    ) -> np.ndarray:
        """What the action branch reads of a clip: in the clip's one window with action_window "clip".

        Every sample the pipeline adds carries its framing, so a due clip always has them all.
        """
        if self.config.action_window == "frame":
            return features
        return features_in_clip_window(features, framings, self.engine.config, mirrored=mirrored)
