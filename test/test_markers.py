"""Markers: one id per track and namespace, DELETE for retired tracks, hidden joints left out."""

from __future__ import annotations

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from deephar_ros.perception.results import ActionEstimate, Box, FrameResult, PersonEstimate
from deephar_ros.ros.markers import (
    BONES_NAMESPACE,
    JOINTS_NAMESPACE,
    LABELS_NAMESPACE,
    NAMESPACES,
    MarkerLifetime,
    frame_markers,
    track_colour,
)

BONES = ((0, 1), (1, 2), (2, 3))


def person(
    track_id: int, confidences=(0.9, 0.9, 0.9, 0.9), action: ActionEstimate | None = None
) -> PersonEstimate:
    joints_3d = np.array([[0.0, 0.5, 3.0], [0.0, 0.0, 3.0], [0.0, -0.5, 3.0], [0.2, -0.7, 3.1]]) + track_id
    return PersonEstimate(
        track_id=track_id,
        box=Box(10, 20, 110, 220, 0.8),
        joint_names=["a", "b", "c", "d"],
        joints_2d=np.zeros((4, 2)),
        joints_3d=joints_3d,
        confidences=np.array(confidences),
        action=action,
    )


def by_key(markers) -> dict[tuple[str, int], Marker]:
    return {(marker.ns, marker.id): marker for marker in markers.markers}


def test_each_track_gets_bones_joints_and_label_under_its_own_id():
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    result = FrameResult(stamp_ns=12_000_000_000, width=640, height=480, people=[person(3), person(7)])
    markers = by_key(frame_markers(result, header, BONES, min_joint_confidence=0.2, lifetime_s=0.5))
    assert set(markers) == {(ns, track) for ns in NAMESPACES for track in (3, 7)}
    bones = markers[(BONES_NAMESPACE, 3)]
    assert bones.type == Marker.LINE_LIST and bones.action == Marker.ADD
    assert len(bones.points) == 2 * len(BONES)
    assert (bones.points[0].x, bones.points[0].y, bones.points[0].z) == (3.0, 3.5, 6.0)
    joints = markers[(JOINTS_NAMESPACE, 7)]
    assert joints.type == Marker.SPHERE_LIST and len(joints.points) == 4
    assert markers[(LABELS_NAMESPACE, 3)].type == Marker.TEXT_VIEW_FACING
    assert markers[(LABELS_NAMESPACE, 3)].text == "b3"  # the body id, as on the messages, TF and /humans
    for marker in markers.values():
        assert marker.header.frame_id == "cam" and marker.header.stamp.sec == 12
        assert marker.lifetime.sec == 0 and marker.lifetime.nanosec == 500_000_000
    assert markers[(BONES_NAMESPACE, 3)].color == markers[(JOINTS_NAMESPACE, 3)].color
    assert markers[(BONES_NAMESPACE, 3)].color != markers[(BONES_NAMESPACE, 7)].color


def test_label_shows_top_action_above_the_highest_joint():
    action = ActionEstimate(1, np.array([0.1, 0.7, 0.2]), ["sit", "wave", "jump"], "ntu60", 0.0, 0.7, 2)
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[person(1, action=action)])
    label = by_key(frame_markers(result, Header(), BONES, 0.2, 0.5))[(LABELS_NAMESPACE, 1)]
    assert label.text == "b1 wave 70%"
    assert label.pose.position.y < 1.0 - 0.7  # above joint 3 (y = -0.7 + 1), y points down


def test_label_says_uncertain_below_the_action_threshold():
    action = ActionEstimate(1, np.array([0.1, 0.7, 0.2]), ["sit", "wave", "jump"], "ntu60", 0.0, 0.7, 2)
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[person(1, action=action)])
    label = by_key(frame_markers(result, Header(), BONES, 0.2, 0.5, 0.75))[(LABELS_NAMESPACE, 1)]
    assert label.text == "b1 uncertain"
    default = by_key(frame_markers(result, Header(), BONES, 0.2, 0.5))[(LABELS_NAMESPACE, 1)]
    assert default.text == "b1 wave 70%"  # 0.7 passes the default 0.5


def test_retired_tracks_get_delete_in_every_namespace():
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[person(2)], retired_track_ids=[5, 9])
    markers = frame_markers(result, Header(), BONES, 0.2, 0.5)
    deletes = {(m.ns, m.id) for m in markers.markers if m.action == Marker.DELETE}
    assert deletes == {(ns, track) for ns in NAMESPACES for track in (5, 9)}


def test_low_confidence_and_missing_3d_joints_are_left_out():
    low = person(1, confidences=(0.9, 0.05, 0.9, 0.9))
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[low])
    markers = by_key(frame_markers(result, Header(), BONES, 0.2, 0.0))
    assert len(markers[(JOINTS_NAMESPACE, 1)].points) == 3
    assert len(markers[(BONES_NAMESPACE, 1)].points) == 2  # only bone (2, 3) has both ends shown
    flat = person(2)
    flat.joints_3d = np.full((4, 3), np.nan)  # a 2D-only preset
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[flat])
    assert frame_markers(result, Header(), BONES, 0.2, 0.0).markers == []


@pytest.mark.parametrize("track_id", [0, 1, 2, 1000])
def test_track_colours_are_opaque_and_bright(track_id):
    colour = track_colour(track_id)
    assert colour.a == 1.0 and max(colour.r, colour.g, colour.b) > 0.9


def test_marker_lifetime_outlives_the_measured_update_interval():
    lifetime = MarkerLifetime(minimum_s=0.5)
    assert lifetime.update(100.0) == 0.5  # nothing measured yet: the minimum
    assert lifetime.update(100.1) == 0.5  # 10 Hz: three intervals are shorter than the minimum
    # A network answering every 0.6 s (the blinking case): markers live three intervals, not 0.5 s.
    assert lifetime.update(100.7) == pytest.approx(1.8)
    assert lifetime.update(101.3) == pytest.approx(1.8)
    for step in range(10):  # back to 10 Hz: the slow intervals age out of the recent ones
        lifetime.update(101.4 + 0.1 * step)
    assert lifetime.update(102.4) == 0.5
    assert MarkerLifetime(minimum_s=0.0).update(5.0) == 0.0  # 0: forever, as the parameter says
