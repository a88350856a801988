"""Tracker: ids survive crossings and short gaps in a scripted scene; timeouts retire them; smoothing."""

import numpy as np
import pytest

from deephar_ros.perception.results import Box
from deephar_ros.perception.smoothing import OneEuroFilter
from deephar_ros.perception.tracking import Tracker, box_holds_track, box_iou, repeated_skeletons

FPS = 10.0


def person(cx, cy=200.0, height=160.0):
    """A box and a simple 5-joint skeleton (head, hands, feet) for a person centred at cx."""
    box = Box(cx - height / 4, cy - height / 2, cx + height / 4, cy + height / 2, 0.9)
    offsets = np.array([[0, -0.45], [-0.2, 0.0], [0.2, 0.0], [-0.1, 0.45], [0.1, 0.45]]) * height
    return box, offsets + np.array([cx, cy])


def frame(people):
    boxes = [p[0] for p in people]
    joints = np.array([p[1] for p in people]).reshape(len(people), 5, 2)
    return boxes, joints, np.ones((len(people), 5))


def test_ids_survive_a_crossing_and_a_short_gap():
    tracker = Tracker(timeout_s=1.0)
    left_id = right_id = None
    for k in range(40):
        stamp = round(k * 1e9 / FPS)
        walker_a = person(100 + 12 * k)  # left to right
        walker_b = person(580 - 12 * k, cy=210)  # right to left, crossing walker_a around k = 20
        visible = [("a", walker_a)] if 24 <= k < 27 else [("a", walker_a), ("b", walker_b)]  # b hidden 0.3 s
        boxes, joints, conf = frame([p for _, p in visible])
        ids, retired = tracker.update(boxes, joints, conf, stamp)
        assert retired == []
        named = dict(zip([name for name, _ in visible], ids, strict=True))
        if k == 0:
            left_id, right_id = named["a"], named["b"]
            assert left_id != right_id
        assert named["a"] == left_id
        if "b" in named:
            assert named["b"] == right_id
    assert tracker.next_id == 3  # no spurious tracks were born


def test_lost_track_is_retired_after_the_timeout_and_ids_are_not_reused():
    tracker = Tracker(timeout_s=0.5)
    boxes, joints, conf = frame([person(200)])
    (first,), _ = tracker.update(boxes, joints, conf, 0)
    assert tracker.update([], np.zeros((0, 5, 2)), np.zeros((0, 5)), 400_000_000) == ([], [])
    assert tracker.update([], np.zeros((0, 5, 2)), np.zeros((0, 5)), 600_000_000) == ([], [first])
    (second,), retired = tracker.update(boxes, joints, conf, 700_000_000)
    assert retired == [] and second != first


def test_a_track_unseen_past_the_timeout_does_not_come_back():
    tracker = Tracker(timeout_s=1.0)
    boxes, joints, conf = frame([person(200)])
    (first,), _ = tracker.update(boxes, joints, conf, 0)
    assert tracker.update([], np.zeros((0, 5, 2)), np.zeros((0, 5)), 500_000_000) == (
        [],
        [],
    )  # nobody in view
    (second,), retired = tracker.update(
        boxes, joints, conf, 10_000_000_000
    )  # same place, long after the timeout
    assert retired == [first] and second != first


def test_a_track_seen_in_the_previous_frame_survives_slow_frames():
    tracker = Tracker(timeout_s=1.0)
    boxes, joints, conf = frame([person(200)])
    ids = [tracker.update(boxes, joints, conf, 2_000_000_000 * k)[0] for k in range(3)]  # one frame every 2 s
    assert ids == [[1], [1], [1]]


def test_time_going_backwards_is_refused_and_reset_forgets_without_reusing_ids():
    # The pipeline resets the tracker when stamps go back (test_pipeline.py); the tracker refuses them.
    tracker = Tracker()
    boxes, joints, conf = frame([person(150), person(450)])
    ids, _ = tracker.update(boxes, joints, conf, 5_000_000_000)
    with pytest.raises(ValueError, match="older than the previous"):
        tracker.update(boxes, joints, conf, 1_000_000_000)
    assert sorted(tracker.reset()) == sorted(ids)
    new_ids, retired = tracker.update(boxes, joints, conf, 1_000_000_000)
    assert retired == [] and set(new_ids).isdisjoint(ids)


def test_far_jump_starts_a_new_track():
    tracker = Tracker()
    boxes, joints, conf = frame([person(100)])
    (first,), _ = tracker.update(boxes, joints, conf, 0)
    boxes, joints, conf = frame([person(600)])
    (second,), _ = tracker.update(boxes, joints, conf, 100_000_000)
    assert second != first


def test_box_iou_and_bad_input():
    assert box_iou(Box(0, 0, 10, 10), Box(5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou(Box(0, 0, 10, 10), Box(20, 20, 30, 30)) == 0.0
    with pytest.raises(ValueError, match="boxes but"):
        Tracker().update([Box(0, 0, 1, 1)], np.zeros((0, 5, 2)), np.zeros((0, 5)), 0)
    with pytest.raises(ValueError, match="timeout"):
        Tracker(timeout_s=0)


def test_one_euro_filter_per_track_joints():
    smoother = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
    start = np.array([[10.0, 20.0], [np.nan, 5.0]])
    np.testing.assert_array_equal(smoother(start, 0), start)
    step = np.array([[20.0, 20.0], [7.0, 5.0]])
    first = smoother(step, 100_000_000)
    assert 10.0 < first[0, 0] < 20.0  # lags behind a jump
    assert first[1, 0] == 7.0  # a joint that was NaN restarts at its new value
    for k in range(2, 60):
        settled = smoother(step, k * 100_000_000)
    np.testing.assert_allclose(settled, step, atol=1e-3)
    np.testing.assert_array_equal(smoother(start, 0), start)  # time going backwards restarts
    with pytest.raises(ValueError, match="cutoffs"):
        OneEuroFilter(min_cutoff_hz=0.0)


def test_repeated_skeletons_keep_the_best_framed_of_one_person_and_every_other_person():
    rng = np.random.default_rng(0)
    person = rng.uniform(100, 300, (17, 2))
    other = person + 150.0
    skeletons = np.stack([person, person + 2.0, other, person + 40.0])
    confident = np.ones((4, 17))
    assert repeated_skeletons(skeletons, confident) == [1]  # 2 px apart; 40 px is another person
    assert repeated_skeletons(skeletons, confident, priority=np.array([0.2, 0.9, 0.5, 0.5])) == [0]
    unsure = confident.copy()
    unsure[1] = 0.1  # no joint held by both: nothing to compare
    assert repeated_skeletons(skeletons, unsure) == []


def test_a_loose_box_holds_the_tracked_box_inside_it_and_not_a_neighbours():
    tracked = Box(100, 100, 160, 260, 1.0)
    loose = Box(82, 52, 178, 308, 0.9)  # 1.6x around it
    assert box_holds_track(loose, tracked)
    assert box_iou(loose, tracked) < 0.4  # what IoU alone missed
    behind = Box(130, 120, 200, 230, 0.9)  # a smaller person partly behind
    assert not box_holds_track(behind, tracked)
    assert not box_holds_track(Box(150, 100, 210, 260, 0.9), tracked)  # a neighbour
