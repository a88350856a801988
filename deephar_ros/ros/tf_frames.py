"""FrameResult -> TF frames per tracked body as REP-155 names and orients them, without DDS.

The tree, per person (parent -> child), checked against REP-155 ("Body Frames") and the
human_description URDF (ros4hri/human_description, urdf/human-tpl.xacro):

    <output frame> -> body_<id>          origin at the mid-point of the hips; x forward (out of the
                                         body), z toward the head, y to the person's left (REP-103)
    body_<id>      -> <link>_<id>        one frame per finite, confident joint, in body_<id>'s axes

`<link>` is the human_description link at that point where the model has one (torso, l_shoulder,
l_elbow, l_wrist, l_hip, l_knee, l_ankle and the right ones); the joints it has no link for keep
our name (pelvis, spine, neck, head_top: its `head` link is the head's centre, not its top). The
body axes come from the joints: z along mid-hip -> thorax, y along right -> left hip (shoulders
when the hips are not both seen) made square to z, x = y cross z. A person without a confident
mid-hip and torso gets no frame: REP-155 gives the body frame its own axes, and a frame whose
axes are guessed would mislead. The joint frames carry no rotation of their own (the network
estimates points, not limb orientations). TF has no deletion: a retired body's frames simply
stop being updated.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Transform, TransformStamped, Vector3
from rclpy.node import Node
from std_msgs.msg import Header

from deephar_ros.perception.results import FrameResult, PersonEstimate, body_id
from deephar_ros.ros.frame_transform import quaternion

try:  # part of every ROS 2 install, but not on PyPI
    from tf2_ros import TransformBroadcaster
except ImportError:
    TransformBroadcaster = None

# our joint -> the human_description link at the same point (REP-155's recommended names)
HUMAN_DESCRIPTION_LINKS = {
    "thorax": "torso",
    "right_shoulder": "r_shoulder",
    "left_shoulder": "l_shoulder",
    "right_elbow": "r_elbow",
    "left_elbow": "l_elbow",
    "right_wrist": "r_wrist",
    "left_wrist": "l_wrist",
    "right_hip": "r_hip",
    "left_hip": "l_hip",
    "right_knee": "r_knee",
    "left_knee": "l_knee",
    "right_ankle": "r_ankle",
    "left_ankle": "l_ankle",
}
MIN_AXIS_LENGTH_M = 1e-3  # shorter hip-to-torso or hip-to-hip vectors give no direction


def body_frame(track_id: int) -> str:
    return f"body_{body_id(track_id)}"


def joint_frame(track_id: int, joint_name: str) -> str:
    """`<link>_<bodyID>`: the human_description link name where there is one, else the joint's."""
    return f"{HUMAN_DESCRIPTION_LINKS.get(joint_name, joint_name)}_{body_id(track_id)}"


def body_transforms(
    result: FrameResult, header: Header, min_confidence: float = 0.0
) -> list[TransformStamped]:
    """The transforms of every person of result; header is the output's (stamp, frame id)."""
    return [
        transform
        for person in result.people
        for transform in person_transforms(person, header, min_confidence)
    ]


def body_pose(person: PersonEstimate, min_confidence: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin, rotation whose columns are the body's x, y, z) in the joints' frame; None when the
    confident joints do not define them."""
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    seen = np.all(np.isfinite(joints), axis=1) & (np.asarray(person.confidences) >= min_confidence)
    index = {name: i for i, name in enumerate(person.joint_names) if seen[i]}

    def point(name: str) -> np.ndarray | None:
        return joints[index[name]] if name in index else None

    def between(start: str, end: str) -> np.ndarray | None:
        a, b = point(start), point(end)
        return None if a is None or b is None else b - a

    hips = between("right_hip", "left_hip")
    origin = point("pelvis") if hips is None else point("right_hip") + hips / 2
    top = point("thorax")
    if origin is None or top is None:
        return None
    up = top - origin
    if np.linalg.norm(up) < MIN_AXIS_LENGTH_M:
        return None
    z = up / np.linalg.norm(up)
    for lateral in (hips, between("right_shoulder", "left_shoulder")):
        if lateral is None:
            continue
        left = lateral - np.dot(lateral, z) * z
        if np.linalg.norm(left) >= MIN_AXIS_LENGTH_M:
            y = left / np.linalg.norm(left)
            return origin, np.column_stack([np.cross(y, z), y, z])
    return None


def person_transforms(
    person: PersonEstimate, header: Header, min_confidence: float
) -> list[TransformStamped]:
    """body_<id> in header's frame, then <link>_<id> for each finite, confident joint."""
    pose = body_pose(person, min_confidence)
    if pose is None:
        return []
    origin, rotation = pose
    parent = body_frame(person.track_id)
    body = _transform(header, parent, origin)
    body.transform.rotation = quaternion(rotation)
    transforms = [body]
    joint_header = Header(stamp=header.stamp, frame_id=parent)
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    confidences = np.asarray(person.confidences, dtype=np.float64)
    in_body = (joints - origin) @ rotation  # each row: rotation.T @ (p - origin)
    for name, point, offset, confidence in zip(person.joint_names, joints, in_body, confidences, strict=True):
        if np.all(np.isfinite(point)) and confidence >= min_confidence:
            transforms.append(_transform(joint_header, joint_frame(person.track_id, name), offset))
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
