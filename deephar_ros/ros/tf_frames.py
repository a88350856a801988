"""FrameResult -> TF frames per tracked body, in the REP-155 naming (`body_<id>`), without DDS.

The tree, per person (parent -> child):

    <camera optical frame> -> body_<id>              at the root joint (pelvis)
    body_<id>              -> body_<id>/<joint_name>  at the joint, relative to the root

Joints hang under their body frame, not under the camera frame, so that a consumer reads one person's
pose in its own frame (`lookup_transform("body_3", "body_3/left_wrist")`) and the camera frame carries
one child per person. Every rotation is the identity: the network estimates joint positions, not the
orientation of the body or of its parts, so every frame keeps the axes of the camera optical frame
(x right, y down, z forward). Joints that are NaN (the 2D-only preset, a joint not estimated) or less
confident than min_confidence get no frame; a person without a finite root joint gets none at all.
TF has no deletion: a retired track's frames simply stop being updated.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Transform, TransformStamped, Vector3
from rclpy.node import Node
from std_msgs.msg import Header

from deephar_ros.joints import PA17J3D
from deephar_ros.results import FrameResult, PersonEstimate

try:  # part of every ROS 2 install, but not on PyPI
    from tf2_ros import TransformBroadcaster
except ImportError:
    TransformBroadcaster = None

ROOT_JOINT = PA17J3D.joint_names[PA17J3D.root]  # "pelvis", the root of both layouts


def body_id(track_id: int) -> str:
    """The REP-155 body id of a track, as the TF frames and the /humans/bodies topics name it.

    A letter first: a ROS topic name token must not start with a digit (/humans/bodies/b3/roi).
    """
    return f"b{int(track_id)}"


def body_frame(track_id: int) -> str:
    return f"body_{body_id(track_id)}"


def joint_frame(track_id: int, joint_name: str) -> str:
    return f"{body_frame(track_id)}/{joint_name}"


def body_transforms(
    result: FrameResult, header: Header, min_confidence: float = 0.0
) -> list[TransformStamped]:
    """The transforms of every person of result; header is the output's (stamp, camera frame id)."""
    return [
        transform
        for person in result.people
        for transform in person_transforms(person, header, min_confidence)
    ]


def person_transforms(
    person: PersonEstimate, header: Header, min_confidence: float
) -> list[TransformStamped]:
    """body_<id> in header's frame, then body_<id>/<joint> for each finite, confident joint."""
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    names = list(person.joint_names)
    root = joints[names.index(ROOT_JOINT) if ROOT_JOINT in names else 0]
    if not np.all(np.isfinite(root)):
        return []
    parent = body_frame(person.track_id)
    transforms = [_transform(header, parent, root)]
    joint_header = Header(stamp=header.stamp, frame_id=parent)
    confidences = np.asarray(person.confidences, dtype=np.float64)
    for name, point, confidence in zip(names, joints, confidences, strict=True):
        if np.all(np.isfinite(point)) and confidence >= min_confidence:
            transforms.append(_transform(joint_header, joint_frame(person.track_id, name), point - root))
    return transforms


def _transform(header: Header, child: str, offset: np.ndarray) -> TransformStamped:
    x, y, z = (float(value) for value in offset)
    return TransformStamped(
        header=header, child_frame_id=child, transform=Transform(translation=Vector3(x=x, y=y, z=z))
    )


def transform_broadcaster(node: Node) -> TransformBroadcaster:
    """node's TF broadcaster, for publish_tf; a start-up error naming the fix where tf2_ros is missing."""
    if TransformBroadcaster is None:
        raise RuntimeError(
            "parameter publish_tf is true but tf2_ros is not installed (it comes with a ROS 2 install, "
            "e.g. apt install ros-$ROS_DISTRO-tf2-ros; PyPI has none): install it or set publish_tf: false"
        )
    return TransformBroadcaster(node)
