"""Clip buffers feed exactly T frames at the clip stride; scores average over recent clips."""

import numpy as np
import pytest

from deephar_ros.action_buffer import ActionClipBuffers, authors_clip_stride
from deephar_ros.labels import load_labels


def make_buffers(stride=3, every=1, average=2, labels=("a", "b", "c")):
    return ActionClipBuffers(
        num_frames=8,
        stride=stride,
        labels=list(labels),
        label_set="test",
        run_every_n_frames=every,
        average_clips=average,
    )


def test_clip_holds_exactly_t_frames_at_the_stride():
    buffers = make_buffers(stride=3)
    for frame in range(22):
        buffers.add(7, np.array([frame, -frame], np.float32), stamp_ns=frame * 100_000_000)
        due = buffers.due_clips()
        if frame < 21:
            assert due == []
    (clip,) = due
    assert clip.track_id == 7 and clip.features.shape == (8, 2)
    np.testing.assert_array_equal(clip.features[:, 0], np.arange(0, 22, 3))
    assert (clip.start_ns, clip.end_ns) == (0, 2_100_000_000)
    buffers.record_scores(clip, np.array([0.2, 0.3, 0.5]))
    assert buffers.due_clips() == []  # nothing new until the next sampled frame
    for frame in (22, 23):
        buffers.add(7, np.array([frame, -frame], np.float32), stamp_ns=frame * 100_000_000)
        assert buffers.due_clips() == []
    buffers.add(7, np.array([24, -24], np.float32), stamp_ns=2_400_000_000)
    (clip,) = buffers.due_clips()
    np.testing.assert_array_equal(clip.features[:, 0], np.arange(3, 25, 3))


def test_run_rate_limits_how_often_a_clip_is_due():
    buffers = make_buffers(stride=1, every=4)
    runs = []
    for frame in range(20):
        buffers.add(1, np.array([frame], np.float32), stamp_ns=frame * 1_000_000_000)
        for clip in buffers.due_clips():
            runs.append(frame)
            buffers.record_scores(clip, np.ones(3) / 3)
    assert runs == [7, 11, 15, 19]


def test_scores_average_over_the_last_clips():
    buffers = make_buffers(stride=1, average=2)
    estimates = []
    scores = [np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])]
    for frame in range(10):
        buffers.add(3, np.zeros(4, np.float32), stamp_ns=frame * 100_000_000)
        for clip in buffers.due_clips():
            estimates.append(buffers.record_scores(clip, scores[len(estimates)]))
    assert len(estimates) == 3
    np.testing.assert_allclose(estimates[0].scores, [1, 0, 0])
    np.testing.assert_allclose(estimates[2].scores, [0, 0.5, 0.5])
    assert estimates[2].clips_averaged == 2 and estimates[2].top_label in ("b", "c")
    assert buffers.latest(3) is estimates[2]
    buffers.drop([3])
    assert buffers.latest(3) is None


def test_tracks_are_independent_and_reset_forgets():
    buffers = make_buffers(stride=1)
    for frame in range(8):
        buffers.add(1, np.full(2, frame, np.float32), stamp_ns=frame * 1_000_000_000)
        if frame >= 4:
            buffers.add(2, np.full(2, frame, np.float32), stamp_ns=frame * 1_000_000_000)
    assert [clip.track_id for clip in buffers.due_clips()] == [1]
    buffers.reset()
    assert buffers.due_clips() == []


def test_authors_strides_and_bad_values():
    assert authors_clip_stride("ntu60") == 8
    assert authors_clip_stride("penn_action") == 6
    assert authors_clip_stride("ntu60", fps=10.0) == 3
    assert authors_clip_stride("penn_action", fps=60.0) == 12
    assert authors_clip_stride("ntu60", fps=1.0) == 1
    with pytest.raises(ValueError, match="label set"):
        authors_clip_stride("kinetics")
    with pytest.raises(ValueError, match="frame rate"):
        authors_clip_stride("ntu60", fps=0.0)
    with pytest.raises(ValueError, match=">= 1"):
        make_buffers(stride=0)
    buffers = ActionClipBuffers(2, 1, load_labels("penn_action"), "penn_action")
    for frame in range(2):
        buffers.add(1, np.zeros(3, np.float32), float(frame))
    (clip,) = buffers.due_clips()
    with pytest.raises(ValueError, match="15 labels"):
        buffers.record_scores(clip, np.ones(60))
