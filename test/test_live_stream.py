"""The live-stream policy without ROS: intrinsics fallback, depth misfits, time jumps, frame rate,
camera silence, exact stamps (deephar_ros/perception/live_stream.py, deephar_ros/perception/frame_rate.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from engine_doubles import NTU, packed_features

from deephar_ros.model.config import SPNetConfig
from deephar_ros.perception.action_buffer import authors_clip_stride
from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.perception.frame_rate import FrameRateEstimator, LostFrameCounter
from deephar_ros.perception.live_stream import LiveStream
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig
from deephar_ros.perception.results import DEPTH_FROM_IMAGE, DEPTH_FROM_SIZE

WIDTH, HEIGHT = 160, 120
FRAME = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
EPOCH_NS = 1_700_000_000_123_456_789  # a wall-clock stamp no float of seconds holds to the nanosecond


@dataclass
class StandingEngine:
    """Stands in for the network: one upright person filling each crop, confident joints."""

    config: SPNetConfig = NTU
    backend: str = "test"
    device: str = "cpu"

    def run_frames(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pose = np.zeros((len(crops), 17, 4), np.float32)
        pose[:, :, 0] = 0.5
        pose[:, :, 1] = np.linspace(0.2, 0.8, 17)
        pose[:, :, 2] = 0.5
        pose[:, :, 3] = 0.9
        return pose, packed_features(pose, np.ones(len(crops)), self.config)

    def run_actions(self, features: np.ndarray) -> np.ndarray:
        return np.full((len(features), 60), 1 / 60, np.float32)


def live_stream(**config) -> LiveStream:
    pipeline = Pipeline(StandingEngine(), PipelineConfig(detector="full-frame", **config))
    return LiveStream(pipeline, silence_timeout_s=1.0)


def reasons(step) -> list[str]:
    return [notice.reason for notice in step.notices]


def test_intrinsics_are_used_when_they_fit_else_the_default_with_a_notice():
    stream = live_stream()
    missing = stream.process(FRAME, EPOCH_NS)
    assert reasons(missing) == ["camera_info_missing"] and "60 deg hfov" in missing.notices[0].text
    narrow = CameraIntrinsics.default_for(WIDTH, HEIGHT, hfov_deg=30.0)
    stream.set_intrinsics(narrow)
    fitting = stream.process(FRAME, EPOCH_NS + 1)
    assert reasons(fitting) == []
    # The same person through a narrower lens stands further away: the intrinsics were used.
    assert fitting.result.people[0].joints_3d[0, 2] > 1.5 * missing.result.people[0].joints_3d[0, 2]
    stream.set_intrinsics(CameraIntrinsics.default_for(640, 480))
    odd = stream.process(FRAME, EPOCH_NS + 2)
    assert reasons(odd) == ["camera_info_size"] and "640x480" in odd.notices[0].text
    np.testing.assert_allclose(odd.result.people[0].joints_3d, missing.result.people[0].joints_3d)


def test_a_depth_image_of_another_size_is_dropped_and_one_without_valid_pixels_falls_back():
    stream = live_stream()
    stream.set_intrinsics(CameraIntrinsics.default_for(WIDTH, HEIGHT))
    step = stream.process(FRAME, EPOCH_NS, np.full((HEIGHT // 2, WIDTH // 2), 2.0, np.float32))
    assert reasons(step) == ["depth_size"] and step.result.people[0].depth_source == DEPTH_FROM_SIZE
    step = stream.process(FRAME, EPOCH_NS + 1, np.full((HEIGHT, WIDTH), np.nan, np.float32))
    assert reasons(step) == ["depth_fallback"]
    step = stream.process(FRAME, EPOCH_NS + 2, np.full((HEIGHT, WIDTH), 2.0, np.float32))
    assert reasons(step) == [] and step.result.people[0].depth_source == DEPTH_FROM_IMAGE


def test_stamps_going_back_reset_the_tracks_once_with_a_notice():
    stream = live_stream()
    first = stream.process(FRAME, EPOCH_NS)
    old_id = first.result.people[0].track_id
    assert stream.live_track_ids == {old_id}
    back = stream.process(FRAME, EPOCH_NS - 2_500_000_000)  # a bag looping back 2.5 s
    assert "stamp_backwards" in reasons(back) and "went back 2.500 s" in back.notices[-1].text
    assert back.result.time_reset and back.result.retired_track_ids == [old_id]
    new_id = back.result.people[0].track_id
    assert new_id != old_id and stream.live_track_ids == {new_id}
    after = stream.process(FRAME, EPOCH_NS - 2_400_000_000)
    assert "stamp_backwards" not in reasons(after) and not after.result.time_reset


def test_camera_silence_retires_every_live_track_once():
    stream = live_stream()
    shown = stream.process(FRAME, EPOCH_NS).result.people[0].track_id
    silent = stream.camera_silent()
    assert silent.result.retired_track_ids == [shown] and reasons(silent) == ["camera_silent"]
    assert stream.live_track_ids == set()
    again = stream.camera_silent()
    assert again.result.retired_track_ids == [] and again.notices == []
    back = stream.process(FRAME, EPOCH_NS + 5_000_000_000)
    assert back.result.people[0].track_id != shown  # the camera came back: a new track


def test_the_rate_is_measured_again_and_again_but_clips_sample_by_time():
    stream = live_stream()
    assert stream.clip_stride == authors_clip_stride("ntu60") == 8 and stream.frame_rate_hz is None
    stamp = EPOCH_NS
    for _ in range(11):  # a 10 Hz camera: 10 intervals give the first estimate
        stream.process(FRAME, stamp)
        stamp += 100_000_000
    assert stream.frame_rate_hz == pytest.approx(10.0) and stream.clip_stride == 8
    track = next(iter(stream.pipeline.actions.tracks.values()))
    samples = track.count
    for _ in range(10):  # the driver switches to 30 Hz: measured, and the clip goes on
        stream.process(FRAME, stamp)
        stamp += 33_333_333
    assert stream.frame_rate_hz == pytest.approx(30.0, rel=1e-6) and stream.clip_stride == 8
    assert next(iter(stream.pipeline.actions.tracks.values())) is track  # kept, not restarted
    assert track.count - samples in (1, 2)  # 0.33 s more at one sample per 0.27 s
    fixed = live_stream(clip_stride=5)
    for k in range(11):
        fixed.process(FRAME, EPOCH_NS + k * 100_000_000)
    assert fixed.frame_rate_hz == pytest.approx(10.0) and fixed.clip_stride == 5


def test_a_camera_slower_than_the_authors_sample_rate_is_scored_with_a_notice():
    stream = live_stream()
    notices = []
    for k in range(9):  # 1.6 Hz, as the CPU demo runs: every frame a sample, clips span 4.4 s
        notices += stream.process(FRAME, EPOCH_NS + k * 625_000_000).notices
    action = stream.pipeline.actions.latest(next(iter(stream.live_track_ids)))
    assert action is not None and action.clip_end_ns - action.clip_start_ns == 7 * 625_000_000
    assert [n.reason for n in notices].count("clips_stretched") == 2  # the 8th and 9th frames' clips


def test_clip_stamps_are_the_input_stamps_to_the_nanosecond():
    stream = live_stream(clip_stride=1)
    stamps = [EPOCH_NS + k * 33_333_333 for k in range(8)]
    for stamp in stamps:
        result = stream.process(FRAME, stamp).result
    action = result.people[0].action
    assert (action.clip_start_ns, action.clip_end_ns) == (stamps[0], stamps[-1])
    assert result.stamp_ns == stamps[-1]


def test_frame_rate_is_the_median_interval_and_starts_over_after_a_reset():
    estimator = FrameRateEstimator(intervals=4)
    stamps = [10_000, 10_100, 10_200, 10_200, 12_000, 12_100]  # ms: a repeated stamp, then a 1.8 s stall
    assert [estimator.add(ms * 1_000_000) for ms in stamps[:-1]] == [None] * 5
    assert estimator.add(stamps[-1] * 1_000_000) == pytest.approx(10.0)
    assert estimator.add(13_000_000_000) is None  # the next estimate comes after 4 new intervals
    estimator.reset()
    assert [estimator.add(k * 500_000_000) for k in range(4)] == [None] * 4
    assert estimator.add(2_000_000_000) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="intervals"):
        FrameRateEstimator(intervals=0)
    with pytest.raises(ValueError, match="silence_timeout_s"):
        LiveStream(Pipeline(StandingEngine(), PipelineConfig(detector="full-frame")), silence_timeout_s=0)


def test_lost_frames_are_inferred_from_gaps_in_the_stamps():
    counter = LostFrameCounter(intervals=5)
    period = 33_333_333
    stamps = [EPOCH_NS + k * period for k in range(6)]  # 5 intervals: the camera's rate is known
    assert [counter.add(stamp) for stamp in stamps] == [0] * 6
    assert counter.add(stamps[-1] + 3 * period) == 2  # two frames never arrived
    assert counter.add(stamps[-1] + 4 * period) == 0
    assert counter.add(stamps[-1] + 4 * period + int(1.2 * period)) == 0  # jitter is not a loss
    assert counter.lost == 2
    assert counter.add(EPOCH_NS) == 0  # time went back: start over, count nothing until known again
    assert counter.add(EPOCH_NS + 10 * period) == 0 and counter.lost == 2
    with pytest.raises(ValueError, match="intervals"):
        LostFrameCounter(intervals=0)
