"""What a live camera stream needs around the pipeline, without ROS: the policy the node applies.

A video file is orderly; a robot's camera is not. This class keeps, for one stream:
- the camera intrinsics last received, used when they fit the frame, else the pipeline's default
  (field-of-view guess), with a notice saying why;
- a depth image that does not fit the frame is dropped with a notice (the person-size fallback
  takes over), as is a frame whose people got no valid depth pixel;
- stamps going backwards (a replayed bag, a simulator reset): the pipeline restarts its tracks and
  clips (pipeline.py holds that rule), this class notices it and measures the rate anew;
- the rate of the frames actually processed, measured from their stamps (frame_rate.py),
  is reported and paces the authors' clip step; action clips sample by time whatever it is
  (action_buffer.py), and a camera slower than the authors' sample rate gets a notice, since its
  clips then span more time than the authors';
- camera silence: after `silence_timeout_s` without a frame (wall clock, the caller's timer), every
  track retires at once, so a camera that comes back starts new tracks;
- the ids of the tracks shown and not yet retired, so a reset can retire exactly those.

Every odd thing comes back as a `Notice` (a reason key and a sentence); the caller counts and logs
them (the node on /diagnostics with throttled warnings). Frames come from one thread (the node's
worker); `set_intrinsics` may be called from another.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.perception.frame_rate import FrameRateEstimator
from deephar_ros.perception.pipeline import Pipeline, depth_misfit, intrinsics_misfit
from deephar_ros.perception.results import (
    DEPTH_FROM_SIZE,
    Box,
    FrameResult,
    in_image_of_size,
    scaled_box,
    seconds,
)


@dataclass(frozen=True)
class Notice:
    """Something odd about a frame that was still processed: a reason key and what happened."""

    reason: str
    text: str


@dataclass
class StreamStep:
    """The outcome of one frame (or of a silence): the result to publish and the notices."""

    result: FrameResult
    notices: list[Notice] = field(default_factory=list)


class LiveStream:
    """Feeds one camera stream through a Pipeline with the policy of the module docstring."""

    def __init__(self, pipeline: Pipeline, silence_timeout_s: float) -> None:
        if not silence_timeout_s > 0:
            raise ValueError(f"silence_timeout_s must be positive, got {silence_timeout_s}")
        self.pipeline = pipeline
        self.silence_timeout_s = silence_timeout_s
        self.live_track_ids: set[int] = set()
        self.frame_rate_hz: float | None = None
        self._frame_rate = FrameRateEstimator()
        self._intrinsics: CameraIntrinsics | None = None
        self._intrinsics_lock = threading.Lock()

    @property
    def clip_stride(self) -> int | None:
        """The clip stride in frames of 30 fps video (or the fixed one); None for a pose-only network."""
        return None if self.pipeline.actions is None else self.pipeline.actions.stride

    @property
    def intrinsics(self) -> CameraIntrinsics | None:
        """The camera intrinsics last received (None before any)."""
        with self._intrinsics_lock:
            return self._intrinsics

    def set_intrinsics(self, intrinsics: CameraIntrinsics | None) -> None:
        """The camera's intrinsics from now on (None: forget them); safe from any thread."""
        with self._intrinsics_lock:
            self._intrinsics = intrinsics

    def process(
        self,
        image: np.ndarray,
        stamp_ns: int,
        depth: np.ndarray | None = None,
        boxes: list[Box] | None = None,
        reduction: int = 1,
        full_size: tuple[int, int] | None = None,
    ) -> StreamStep:
        """One frame through the pipeline, with the stream's intrinsics; its result and notices.

        `boxes`: people found by another detector on this very image (else the pipeline finds them).
        `reduction` k > 1: `image` is the camera's `full_size` (width, height) image decoded at 1/k
        (a JPEG's reduced decode): the intrinsics, a full-size depth image and the boxes are brought to
        it, and the result comes back in the full image's pixels, as the camera's other consumers see it.
        """
        notices: list[Notice] = []
        height, width = image.shape[:2]
        full_width, full_height = full_size or (width, height)
        if reduction > 1:
            if depth is not None and depth.shape == (full_height, full_width):
                depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST)
            if boxes is not None:
                boxes = [scaled_box(box, 1.0 / reduction) for box in boxes]
        if depth is not None and (misfit := depth_misfit(depth, height, width)):
            notices.append(Notice("depth_size", f"{misfit}: depth ignored"))
            depth = None
        intrinsics = self._intrinsics_for(full_width, full_height, notices)
        if intrinsics is not None and reduction > 1:
            intrinsics = intrinsics.reduced(reduction, width, height)
        previous_ns = self.pipeline.last_stamp_ns  # set whenever the pipeline resets for time going back
        actions = self.pipeline.actions
        stretched = 0 if actions is None else actions.clips_stretched
        result = self.pipeline.process(image, stamp_ns, intrinsics, depth, boxes)
        if actions is not None and actions.clips_stretched > stretched:
            notices.append(
                Notice(
                    "clips_stretched",
                    f"frames come slower than the authors' action sample rate "
                    f"({1e9 / actions.spacing_ns:.2f} Hz): action clips span more time than theirs",
                )
            )
        if result.time_reset:
            back = seconds(previous_ns - result.stamp_ns)
            notices.append(Notice("stamp_backwards", f"image stamp went back {back:.3f} s: tracks reset"))
            self._frame_rate.reset()
        if depth is not None and any(person.depth_source == DEPTH_FROM_SIZE for person in result.people):
            notices.append(
                Notice("depth_fallback", "no valid depth pixel on a person: root depth from their size")
            )
        self._follow_frame_rate(result.stamp_ns)
        self.live_track_ids.difference_update(result.retired_track_ids)
        self.live_track_ids.update(person.track_id for person in result.people)
        if reduction > 1:
            result = in_image_of_size(result, reduction, full_width, full_height)
        return StreamStep(result, notices)

    def camera_silent(self) -> StreamStep:
        """No frame for `silence_timeout_s`: every track retires now (the result lists their ids)."""
        notices = []
        if self.live_track_ids:
            notices.append(
                Notice(
                    "camera_silent",
                    f"no image for {self.silence_timeout_s} s: {len(self.live_track_ids)} track(s) retired",
                )
            )
        retired = sorted(self.live_track_ids)
        last_stamp_ns = self.pipeline.last_stamp_ns or 0
        self.pipeline.reset()
        self._frame_rate.reset()
        self.live_track_ids.clear()
        result = FrameResult(stamp_ns=last_stamp_ns, width=0, height=0, retired_track_ids=retired)
        return StreamStep(result, notices)

    def _intrinsics_for(self, width: int, height: int, notices: list[Notice]) -> CameraIntrinsics | None:
        """The received intrinsics when they fit the frame; None (the pipeline's default) otherwise."""
        intrinsics = self.intrinsics
        fallback = f"default intrinsics ({self.pipeline.config.hfov_deg:g} deg hfov)"
        if intrinsics is None:
            notices.append(Notice("camera_info_missing", f"no camera_info received yet: {fallback}"))
            return None
        if misfit := intrinsics_misfit(intrinsics, height, width):
            notices.append(Notice("camera_info_size", f"{misfit}: {fallback}"))
            return None
        return intrinsics

    def _follow_frame_rate(self, stamp_ns: int) -> None:
        """Each time the rate of processed frames is measured, report it and pace the authors' clip step."""
        rate = self._frame_rate.add(stamp_ns)
        if rate is None:
            return
        self.frame_rate_hz = rate
        self.pipeline.set_frame_rate(rate)
