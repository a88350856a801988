"""output_frame through TF (deephar_ros/ros/frame_transform.py): static transforms composed along the
/tf_static tree give the same points as the transform worked out by hand; rotations round-trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
from std_msgs.msg import Header

from deephar_ros.perception.results import Box, FrameResult, PersonEstimate
from deephar_ros.ros import frame_transform
from deephar_ros.ros.frame_transform import (
    RigidTransform,
    StaticTransforms,
    TransformUnavailable,
    quaternion,
    result_in_frame,
    rotation_matrix,
    transform_source,
)

# REP-103's optical frame in its camera link: z forward = link x, x right = link -y, y down = link -z
OPTICAL_IN_LINK = Quaternion(x=-0.5, y=0.5, z=-0.5, w=0.5)
NO_ROTATION = Quaternion()
MOUNT = np.array([0.3, 0.0, 1.2])


def stamped(parent: str, child: str, xyz, q: Quaternion = NO_ROTATION) -> TransformStamped:
    return TransformStamped(
        header=Header(frame_id=parent),
        child_frame_id=child,
        transform=Transform(translation=Vector3(x=xyz[0], y=xyz[1], z=xyz[2]), rotation=q),
    )


def camera_mount() -> StaticTransforms:
    """base_link -> camera_link (1.2 m up, 0.3 m ahead, yawed 90 degrees left) -> camera_optical_frame."""
    yaw = Quaternion(z=math.sin(math.pi / 4), w=math.cos(math.pi / 4))
    static = StaticTransforms()
    static.on_message(
        type(
            "TFMessage",
            (),
            {
                "transforms": [
                    stamped("base_link", "camera_link", (0.3, 0.0, 1.2), yaw),
                    stamped("camera_link", "camera_optical_frame", (0.0, 0.0, 0.0), OPTICAL_IN_LINK),
                ]
            },
        )()
    )
    return static


def test_a_static_camera_mount_gives_points_in_base_link_equal_to_the_hand_transform():
    to_base = camera_mount().lookup("base_link", "camera_optical_frame", stamp_ns=123)
    points = np.array([[0.0, 0.0, 2.0], [0.5, -0.4, 3.0], [np.nan, np.nan, np.nan]])
    moved = to_base.apply(points)
    # By hand: optical (x right, y down, z forward) -> link (x = z, y = -x, z = -y), then the yaw
    # of 90 degrees left (link x -> base y, link y -> base -x), then the mount offset.
    for (x, y, z), got in zip(points[:2], moved[:2], strict=True):
        link = np.array([z, -x, -y])
        base = np.array([-link[1], link[0], link[2]]) + MOUNT
        assert got == pytest.approx(base)
    assert np.isnan(moved[2]).all()
    # the other way round is the inverse; a frame to itself is the identity
    back = camera_mount().lookup("camera_optical_frame", "base_link", 0).apply(moved[:2])
    assert back == pytest.approx(points[:2])
    itself = camera_mount().lookup("camera_link", "camera_link", 0)
    assert itself.apply(points[:2]) == pytest.approx(points[:2])


def test_frames_of_two_trees_or_unknown_ones_are_unavailable_with_the_reason():
    static = camera_mount()
    static.add([stamped("map", "odom", (1.0, 0.0, 0.0))])
    with pytest.raises(
        TransformUnavailable, match="no static transform between 'map' and 'camera_optical_frame'"
    ):
        static.lookup("map", "camera_optical_frame", 0)
    with pytest.raises(TransformUnavailable, match="is the camera mount on /tf_static"):
        static.lookup("base_link", "head_camera", 0)


def test_a_newer_mount_replaces_the_old_one_and_loops_are_refused():
    static = camera_mount()
    static.add([stamped("base_link", "camera_link", (0.0, 0.0, 2.0))])
    assert static.lookup("base_link", "camera_link", 0).apply(np.zeros((1, 3)))[0] == pytest.approx([0, 0, 2])
    static.add([stamped("camera_optical_frame", "base_link", (0.0, 0.0, 0.0))])
    with pytest.raises(TransformUnavailable, match="loop"):
        static.lookup("base_link", "map", 0)


def test_a_result_is_moved_in_3d_and_keeps_its_pixels():
    joints = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 2.0]])
    estimate = PersonEstimate(3, Box(1, 2, 3, 4), ["a", "b"], np.ones((2, 2)), joints, np.ones(2))
    result = FrameResult(0, 64, 48, [estimate])
    shift = RigidTransform(np.eye(3), np.array([0.0, 0.0, 1.0]))
    moved = result_in_frame(result, shift)
    assert moved.people[0].joints_3d == pytest.approx(joints + np.array([0, 0, 1]))
    assert (moved.people[0].joints_2d == 1).all() and moved.people[0].box == estimate.box
    assert result.people[0].joints_3d is joints  # the original is left as it was


@pytest.mark.parametrize("angle", [0.0, 0.7, math.pi / 2, math.pi - 1e-9, math.pi])
@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 2, -3)])
def test_quaternion_and_rotation_matrix_round_trip(angle, axis):
    unit = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    q = np.append(unit * math.sin(angle / 2), math.cos(angle / 2))
    matrix = rotation_matrix(*q)
    assert matrix @ matrix.T == pytest.approx(np.eye(3), abs=1e-12)
    back = quaternion(matrix)
    assert rotation_matrix(back.x, back.y, back.z, back.w) == pytest.approx(matrix, abs=1e-9)
    with pytest.raises(TransformUnavailable):
        rotation_matrix(0.0, 0.0, 0.0, 0.0)


def test_transform_source_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(frame_transform, "tf2_ros", None)
    try:
        import tf2_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="output_frame is set but neither tf2_ros nor tf2_msgs"):
            transform_source(object(), None)
