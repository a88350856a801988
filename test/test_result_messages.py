"""FrameResult -> SkeletonArray / ActionRecognitionArray, labels -> ActionLabels: every field carried,
header kept exactly, the body id of TF and /humans, uncertain below the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from deephar_ros.msg import Skeleton
from deephar_ros.perception.results import DEPTH_FROM_IMAGE, ActionEstimate, Box, FrameResult, PersonEstimate
from deephar_ros.ros.result_messages import (
    action_array,
    action_labels,
    ns_to_time,
    skeleton_array,
    time_to_ns,
)
from deephar_ros.ros.standard_messages import body_topic
from deephar_ros.ros.tf_frames import body_frame

LABELS = ["drink", "eat", "wave", "sit"]


def header() -> Header:
    msg = Header(frame_id="camera_optical_frame")
    msg.stamp.sec, msg.stamp.nanosec = 1_700_000_000, 123_456_789
    return msg


def person(track_id: int, with_action: bool) -> PersonEstimate:
    action = ActionEstimate(
        track_id=track_id,
        scores=np.array([0.1, 0.2, 0.6, 0.1]),
        labels=LABELS,
        label_set="ntu60",
        clip_start_ns=10_250_000_000,
        clip_end_ns=11_000_000_000,
        clips_averaged=3,
    )
    return PersonEstimate(
        track_id=track_id,
        box=Box(-4.2, 10.5, 100.2, 700.0, score=0.75),
        joint_names=["pelvis", "thorax"],
        joints_2d=np.array([[50.0, 60.0], [51.0, 40.0]]),
        joints_3d=np.array([[0.1, 0.2, 3.0], [0.1, -0.3, 3.1]]),
        confidences=np.array([0.9, 0.4]),
        depth_source=DEPTH_FROM_IMAGE,
        action=action if with_action else None,
    )


def result() -> FrameResult:
    return FrameResult(stamp_ns=0, width=640, height=480, people=[person(4, True), person(9, False)])


def test_skeletons_carry_every_field_and_the_source_header():
    msg = skeleton_array(result(), header())
    assert msg.header == header()
    assert [s.body_id for s in msg.skeletons] == ["b4", "b9"]
    skeleton = msg.skeletons[0]
    assert skeleton.header == header()
    assert skeleton.joint_names == ["pelvis", "thorax"]
    assert [(p.x, p.y, p.z) for p in skeleton.positions] == [(0.1, 0.2, 3.0), (0.1, -0.3, 3.1)]
    assert [(p.x, p.y, p.z) for p in skeleton.pixels] == [(50.0, 60.0, 0.0), (51.0, 40.0, 0.0)]
    np.testing.assert_allclose(skeleton.confidences, [0.9, 0.4], rtol=1e-6)
    assert skeleton.detection_score == pytest.approx(0.75)
    assert skeleton.depth_source == Skeleton.DEPTH_FROM_IMAGE
    box = skeleton.bounding_box  # clipped to the 640x480 image, whole pixels covering the box
    assert (box.x_offset, box.y_offset, box.width, box.height) == (0, 10, 101, 470)


def test_actions_only_for_people_with_an_estimate_and_top_k_labels_with_their_ids():
    msg = action_array(result(), header(), top_k=2, min_confidence=0.5)
    assert msg.header == header()
    assert len(msg.actions) == 1
    action = msg.actions[0]
    assert (action.body_id, action.label, action.label_set, action.clips_averaged) == (
        "b4",
        "wave",
        "ntu60",
        3,
    )
    assert (action.label_id, action.uncertain) == (2, False)
    assert action.score == pytest.approx(0.6)
    assert action.labels == ["wave", "eat"]
    assert list(action.label_ids) == [2, 1]
    np.testing.assert_allclose(action.scores, [0.6, 0.2], rtol=1e-6)
    assert (action.clip_start.sec, action.clip_start.nanosec) == (10, 250_000_000)
    assert (action.clip_end.sec, action.clip_end.nanosec) == (11, 0)
    every = action_array(result(), header(), top_k=0, min_confidence=0.5).actions[0]
    assert list(every.label_ids) == [2, 1, 0, 3]  # the tie (0.1, 0.1) by id
    assert [LABELS[i] for i in every.label_ids] == list(every.labels)


def test_an_action_below_the_threshold_is_uncertain_with_no_label_but_its_evidence():
    action = action_array(result(), header(), top_k=2, min_confidence=0.61).actions[0]
    assert (action.label, action.label_id, action.uncertain) == ("", -1, True)
    assert action.score == pytest.approx(0.6)  # how unsure: the top score is still there
    assert (action.labels, list(action.label_ids)) == (["wave", "eat"], [2, 1])
    at = action_array(result(), header(), top_k=2, min_confidence=0.6).actions[0]
    assert (at.label, at.label_id, at.uncertain) == ("wave", 2, False)  # at the threshold: certain
    never = action_array(result(), header(), top_k=2, min_confidence=0.0).actions[0]
    assert not never.uncertain


def test_the_person_is_one_body_id_in_skeletons_actions_tf_and_humans():
    skeleton = skeleton_array(result(), header()).skeletons[0]
    action = action_array(result(), header(), top_k=1, min_confidence=0.0).actions[0]
    assert skeleton.body_id == action.body_id == "b4"
    assert body_frame(4) == f"body_{action.body_id}"
    assert body_topic(4, "roi") == f"/humans/bodies/{action.body_id}/roi"


def test_the_label_list_names_every_label_id_in_score_order():
    msg = action_labels(header(), "ntu60", LABELS, 0.5)
    assert (msg.header, msg.label_set, list(msg.labels)) == (header(), "ntu60", LABELS)
    assert msg.min_action_confidence == 0.5
    action = action_array(result(), header(), top_k=3, min_confidence=0.5).actions[0]
    assert msg.labels[action.label_id] == action.label
    assert [msg.labels[i] for i in action.label_ids] == list(action.labels)


def test_empty_result_gives_empty_arrays_with_the_header():
    empty = FrameResult(stamp_ns=0, width=10, height=10)
    assert skeleton_array(empty, header()).skeletons == []
    assert action_array(empty, header(), 5, 0.5).actions == []
    assert skeleton_array(empty, header()).header == header()


def test_stamp_conversion_round_trips_to_the_nanosecond():
    # 1.7e9 s + 123456789 ns: a float of seconds could not hold this stamp (it rounds to ~238 ns).
    time = Time(sec=1_700_000_000, nanosec=123_456_789)
    assert time_to_ns(time) == 1_700_000_000_123_456_789
    assert ns_to_time(time_to_ns(time)) == time
    assert ns_to_time(-3) == Time(sec=0, nanosec=0)
