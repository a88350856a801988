"""FrameResult -> REP-155 TF frames per body (deephar_ros/ros/tf_frames.py), without DDS or tf2_ros:
body_<id> at the mid-hip with x forward, y left, z up; <link>_<id> per joint in the body's axes."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from deephar_ros.model.joints import PA16J2D, PA17J3D
from deephar_ros.perception.results import Box, FrameResult, PersonEstimate
from deephar_ros.ros import tf_frames
from deephar_ros.ros.frame_transform import rotation_matrix
from deephar_ros.ros.tf_frames import body_transforms, joint_frame, transform_broadcaster

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="camera_optical_frame")
# A person facing the camera, upright, in the camera optical frame (x right, y down, z forward):
# their left is the camera's +x, their up the camera's -y, their forward (toward the camera) -z.
OFFSETS = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.1, 0.0, 0.0),
    "right_hip": (-0.1, 0.0, 0.0),
    "thorax": (0.0, -0.5, 0.0),
    "left_shoulder": (0.2, -0.5, 0.0),
    "right_shoulder": (-0.2, -0.5, 0.0),
    "left_wrist": (0.3, -0.2, 0.0),
}
BODY_AXES_IN_CAMERA = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float).T  # columns x, y, z


def person(track_id: int, root=(0.1, -0.2, 3.0), names=PA17J3D.joint_names) -> PersonEstimate:
    """The upright person of OFFSETS at root; other joints at root + (0, 0.01 j, 0); confidence 0.9."""
    count = len(names)
    joints_3d = np.array(root, dtype=np.float64) + np.outer(np.arange(count) * 0.01, [0.0, 1.0, 0.0])
    for name, offset in OFFSETS.items():
        if name in names:
            joints_3d[list(names).index(name)] = np.add(root, offset)
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


def rotation(transform) -> np.ndarray:
    q = transform.transform.rotation
    return rotation_matrix(q.x, q.y, q.z, q.w)


def test_body_frame_at_the_mid_hip_facing_out_of_the_body_with_z_up():
    result = FrameResult(stamp_ns=0, width=640, height=480, people=[person(3), person(7, root=(1, 1, 5))])
    transforms = by_child(body_transforms(result, HEADER))
    assert len(transforms) == 2 * (1 + PA17J3D.num_joints)
    body = transforms["body_b3"]
    assert body.header.frame_id == "camera_optical_frame" and body.header.stamp == HEADER.stamp
    assert translation(body) == pytest.approx((0.1, -0.2, 3.0))
    assert rotation(body) == pytest.approx(BODY_AXES_IN_CAMERA)
    assert translation(transforms["body_b7"]) == pytest.approx((1.0, 1.0, 5.0))


def test_joint_frames_carry_human_description_link_names_in_the_body_axes():
    transforms = by_child(body_transforms(FrameResult(0, 640, 480, [person(3)]), HEADER))
    wrist = transforms["l_wrist_b3"]
    assert wrist.header.frame_id == "body_b3" and wrist.header.stamp == HEADER.stamp
    # 0.3 m to the person's left and 0.2 m above the hips, none forward
    assert translation(wrist) == pytest.approx((0.0, 0.3, 0.2))
    assert translation(transforms["torso_b3"]) == pytest.approx((0.0, 0.0, 0.5))
    assert translation(transforms["r_hip_b3"]) == pytest.approx((0.0, -0.1, 0.0))
    # joints the human_description model has no link for keep our name, suffixed with the body id
    assert {"pelvis_b3", "spine_b3", "neck_b3", "head_top_b3"} <= set(transforms)
    for name in ("r_shoulder", "l_elbow", "r_wrist", "l_hip", "r_knee", "l_ankle"):
        assert f"{name}_b3" in transforms
    for transform in transforms.values():
        if transform.child_frame_id != "body_b3":  # points: no orientation of their own
            r = transform.transform.rotation
            assert (r.x, r.y, r.z, r.w) == (0.0, 0.0, 0.0, 1.0)


def test_body_axes_fall_back_to_the_shoulders_when_a_hip_is_unseen():
    estimate = person(5)
    estimate.confidences[PA17J3D.index("left_hip")] = 0.05
    body = by_child(body_transforms(FrameResult(0, 64, 48, [estimate]), HEADER, 0.2))["body_b5"]
    assert translation(body) == pytest.approx((0.1, -0.2, 3.0))  # the pelvis joint
    assert rotation(body) == pytest.approx(BODY_AXES_IN_CAMERA)


def test_nan_and_unconfident_joints_get_no_frame():
    estimate = person(1)
    estimate.joints_3d[PA17J3D.index("right_knee")] = np.nan
    estimate.confidences[PA17J3D.index("head_top")] = 0.1
    children = set(by_child(body_transforms(FrameResult(0, 64, 48, [estimate]), HEADER, 0.2)))
    assert "body_b1" in children
    assert joint_frame(1, "right_knee") not in children and joint_frame(1, "head_top") not in children
    assert len(children) == 1 + PA17J3D.num_joints - 2


def test_a_person_whose_axes_are_unknown_has_no_frames():
    flat = person(2, names=PA16J2D.joint_names)
    flat.joints_3d[:] = np.nan  # the 2D-only preset
    no_torso = person(6)
    no_torso.confidences[PA17J3D.index("thorax")] = 0.0
    people = [flat, no_torso, person(4)]
    assert body_transforms(FrameResult(0, 64, 48, people), HEADER, 0.2)[0].child_frame_id == "body_b4"
    assert tf_frames.person_transforms(flat, HEADER, 0.0) == []
    assert tf_frames.person_transforms(no_torso, HEADER, 0.2) == []


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
