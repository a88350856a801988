"""FrameResult -> TF frames per body (deephar_ros/ros/tf_frames.py), checked without DDS or tf2_ros."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from deephar_ros.joints import PA16J2D, PA17J3D
from deephar_ros.results import Box, FrameResult, PersonEstimate
from deephar_ros.ros import tf_frames
from deephar_ros.ros.tf_frames import body_transforms, transform_broadcaster

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="camera_optical_frame")


def person(track_id: int, root=(0.1, -0.2, 3.0), names=PA17J3D.joint_names) -> PersonEstimate:
    """Joint j at root + (0, 0.01 j, 0), confidence 0.9."""
    count = len(names)
    joints_3d = np.array(root, dtype=np.float64) + np.outer(np.arange(count) * 0.01, [0.0, 1.0, 0.0])
    return PersonEstimate(
        track_id=track_id,
        box=Box(10, 20, 110, 220, 0.8),
        joint_names=list(names),
        joints_2d=np.zeros((count, 2)),
        joints_3d=joints_3d,
        confidences=np.full(count, 0.9),
    )


def by_child(transforms) -> dict:
    return {t.child_frame_id: t for t in transforms}


def translation(transform) -> tuple[float, float, float]:
    t = transform.transform.translation
    return (t.x, t.y, t.z)


def test_body_frame_at_the_root_in_the_camera_frame_and_joints_under_it():
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[person(3), person(7, root=(1, 1, 5))])
    transforms = by_child(body_transforms(result, HEADER))
    assert len(transforms) == 2 * (1 + PA17J3D.num_joints)
    body = transforms["body_b3"]
    assert body.header.frame_id == "camera_optical_frame"
    assert body.header.stamp == HEADER.stamp
    assert translation(body) == pytest.approx((0.1, -0.2, 3.0))
    wrist = transforms["body_b3/left_wrist"]
    assert wrist.header.frame_id == "body_b3" and wrist.header.stamp == HEADER.stamp
    index = PA17J3D.index("left_wrist")
    assert translation(wrist) == pytest.approx((0.0, 0.01 * index, 0.0))
    assert translation(transforms["body_b3/pelvis"]) == (0.0, 0.0, 0.0)
    assert translation(transforms["body_b7"]) == pytest.approx((1.0, 1.0, 5.0))
    for transform in transforms.values():  # no orientation is estimated: the camera's axes
        r = transform.transform.rotation
        assert (r.x, r.y, r.z, r.w) == (0.0, 0.0, 0.0, 1.0)


def test_nan_and_unconfident_joints_get_no_frame():
    estimate = person(1)
    estimate.joints_3d[PA17J3D.index("right_knee")] = np.nan
    estimate.confidences[PA17J3D.index("head_top")] = 0.1
    children = set(by_child(body_transforms(FrameResult(0, 64, 48, [estimate]), HEADER, 0.2)))
    assert "body_b1" in children
    assert "body_b1/right_knee" not in children and "body_b1/head_top" not in children
    assert len(children) == 1 + PA17J3D.num_joints - 2


def test_a_person_without_3d_root_has_no_frames():
    flat = person(2, names=PA16J2D.joint_names)
    flat.joints_3d[:] = np.nan  # the 2D-only preset
    assert body_transforms(FrameResult(0, 64, 48, [flat, person(4)]), HEADER)[0].child_frame_id == "body_b4"
    assert tf_frames.person_transforms(flat, HEADER, 0.0) == []


def test_broadcaster_is_a_clear_error_without_tf2_ros(monkeypatch):
    monkeypatch.setattr(tf_frames, "TransformBroadcaster", None)
    with pytest.raises(RuntimeError, match="publish_tf is true but tf2_ros is not installed"):
        transform_broadcaster(object())


def test_broadcaster_is_made_for_the_node_where_tf2_ros_exists(monkeypatch):
    made = []
    monkeypatch.setattr(tf_frames, "TransformBroadcaster", made.append)
    node = object()
    transform_broadcaster(node)
    assert made == [node]
