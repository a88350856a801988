"""FrameResult -> standard ROS messages for tools that know nothing of deephar_ros/msg, without DDS.

REP-155 as the ROS 2 HRI stack reads it (checked against hri_msgs 2.0, libhri's Body and
hri_body_detect, which subscribe and publish these types on these names):
- hri_msgs/IdsList on /humans/bodies/tracked: the body ids of the frame.
- hri_msgs/NormalizedRegionOfInterest2D on /humans/bodies/<id>/roi: the person box over the image
  size, clipped to [0, 1], `c` the detection score clipped to [0, 1].
- hri_msgs/Skeleton2D on /humans/bodies/<id>/skeleton2d: its 18 OpenPose-COCO points over the image
  size. Ours fill 13 of them: NECK is our thorax (OpenPose's neck is the shoulders' mid-point, where
  MPII's thorax lies; hri_body_detect computes it so too), shoulders, elbows, wrists, hips, knees and
  ankles by name. Our layouts have no nose, eyes or ears: those points are (0, 0) with `c` 0, and so
  is a joint that is NaN or below the confidence threshold.
- sensor_msgs/JointState on /humans/bodies/<id>/joint_states, for what a skeleton of points honestly
  defines. REP-155 peers (hri_body_detect) fit the human_description URDF by inverse kinematics and
  publish its 20 revolute joints (`l_y_shoulder_<id>`, ...) for robot_state_publisher. Shoulder,
  hip, head and waist yaw/pitch/roll need limb orientations a point skeleton does not give, so this
  publishes the four hinges it does define, under the URDF's names and signs: `l_elbow_<id>` and
  `r_elbow_<id>` (flexion, 0 straight, positive bent as the URDF's 0..2.5 limit), `l_knee_<id>` and
  `r_knee_<id>` (negative bent, its -2.5..0 limit). robot_state_publisher places only the links whose
  joints all have values; the 3D joint positions are on TF (tf_frames.py), named after the same links.
- vision_msgs/Detection2DArray: one Detection2D per person, `id` the body id, one hypothesis of class
  PERSON_CLASS_ID scored by the detector; LabelInfo names that class.

vision_msgs and hri_msgs are not on PyPI: their classes are imported only when a parameter asks for
them (a start-up error naming that parameter and the package where it is missing), and the builders
take the classes, so tests pass stand-ins with the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from deephar_ros.perception.results import FrameResult, PersonEstimate
from deephar_ros.ros.tf_frames import body_id

# vision_msgs' ObjectHypothesis.class_id is a string that LabelInfo maps from a uint16.
PERSON_CLASS_ID = 0
PERSON_CLASS_NAME = "person"
# human_description joint -> (proximal joint, hinge joint, distal joint) of ours, sign of flexion
HINGES = {
    "r_elbow": (("right_shoulder", "right_elbow", "right_wrist"), 1.0),
    "l_elbow": (("left_shoulder", "left_elbow", "left_wrist"), 1.0),
    "r_knee": (("right_hip", "right_knee", "right_ankle"), -1.0),
    "l_knee": (("left_hip", "left_knee", "left_ankle"), -1.0),
}
HUMANS_BODIES = "/humans/bodies"
# hri_msgs/Skeleton2D index -> our joint (its constants: NOSE 0, NECK 1, ..., RIGHT_EAR 17)
SKELETON2D_SIZE = 18
SKELETON2D_JOINTS = {
    1: "thorax",  # NECK
    2: "right_shoulder",
    3: "right_elbow",
    4: "right_wrist",
    5: "left_shoulder",
    6: "left_elbow",
    7: "left_wrist",
    8: "right_hip",
    9: "right_knee",
    10: "right_ankle",
    11: "left_hip",
    12: "left_knee",
    13: "left_ankle",
}


@dataclass(frozen=True)
class VisionTypes:
    """The vision_msgs message classes the detection builders fill."""

    detection_array: type
    detection: type
    hypothesis: type
    label_info: type
    vision_class: type


def vision_types(wanted_by: str) -> VisionTypes:
    """vision_msgs' classes; where it is missing, a start-up error naming the parameter that asked
    for it (wanted_by, e.g. "publish_detections is true") and the fix."""
    try:
        from vision_msgs.msg import (
            Detection2D,
            Detection2DArray,
            LabelInfo,
            ObjectHypothesisWithPose,
            VisionClass,
        )
    except ImportError:
        raise RuntimeError(
            f"parameter {wanted_by} but vision_msgs is not installed (it comes with ROS 2,"
            " e.g. apt install ros-$ROS_DISTRO-vision-msgs; PyPI has none): install it or change"
            " that parameter"
        ) from None
    return VisionTypes(Detection2DArray, Detection2D, ObjectHypothesisWithPose, LabelInfo, VisionClass)


@dataclass(frozen=True)
class HriTypes:
    """The hri_msgs message classes of the REP-155 body topics."""

    ids_list: type
    roi: type  # NormalizedRegionOfInterest2D
    skeleton2d: type
    point: type  # NormalizedPointOfInterest2D


def hri_types() -> HriTypes:
    """hri_msgs' classes, for publish_humans; a start-up error naming the fix where it is missing.

    Nothing is published under a REP-155 name in another type: a consumer typed on hri_msgs would
    not match it (and in one process rclpy refuses the topic).
    """
    try:
        from hri_msgs.msg import (
            IdsList,
            NormalizedPointOfInterest2D,
            NormalizedRegionOfInterest2D,
            Skeleton2D,
        )
    except ImportError:
        raise RuntimeError(
            "parameter publish_humans is true but hri_msgs is not installed (ROS 2: apt install"
            " ros-$ROS_DISTRO-hri-msgs, or build ros4hri/hri_msgs; PyPI has none): install it or set"
            " publish_humans: false"
        ) from None
    return HriTypes(IdsList, NormalizedRegionOfInterest2D, Skeleton2D, NormalizedPointOfInterest2D)


def _unit(value: float) -> float:
    """value clipped to [0, 1], as hri_msgs' normalised fields must be; NaN gives 0."""
    return float(np.clip(np.nan_to_num(value, nan=0.0), 0.0, 1.0))


def normalized_roi(person: PersonEstimate, header: Header, width: int, height: int, types: HriTypes) -> Any:
    """The person box over the image size, clipped to the image; `c` the detection score."""
    box = person.box
    return types.roi(
        header=header,
        xmin=_unit(box.x0 / width),
        ymin=_unit(box.y0 / height),
        xmax=_unit(box.x1 / width),
        ymax=_unit(box.y1 / height),
        c=_unit(box.score),
    )


def skeleton_2d(
    person: PersonEstimate, header: Header, width: int, height: int, types: HriTypes, min_confidence: float
) -> Any:
    """hri_msgs/Skeleton2D of person: the points SKELETON2D_JOINTS maps, the others (0, 0, c=0)."""
    index = {name: i for i, name in enumerate(person.joint_names)}
    points = []
    for slot in range(SKELETON2D_SIZE):
        i = index.get(SKELETON2D_JOINTS.get(slot, ""))
        point = types.point(x=0.0, y=0.0, c=0.0)
        if i is not None:
            (u, v), confidence = person.joints_2d[i], float(person.confidences[i])
            if np.isfinite(u) and np.isfinite(v) and confidence >= min_confidence:
                point = types.point(x=_unit(u / width), y=_unit(v / height), c=_unit(confidence))
        points.append(point)
    return types.skeleton2d(header=header, skeleton=points)


def detection_array(result: FrameResult, header: Header, types: VisionTypes) -> Any:
    """A Detection2DArray of result's people: box centre and size in pixels, id the track id."""
    detections = []
    for person in result.people:
        box = person.box
        detection = types.detection(header=header, id=body_id(person.track_id))
        detection.bbox.center.position.x = float(box.x0 + box.x1) / 2.0
        detection.bbox.center.position.y = float(box.y0 + box.y1) / 2.0
        detection.bbox.size_x = float(box.width)
        detection.bbox.size_y = float(box.height)
        hypothesis = types.hypothesis()
        hypothesis.hypothesis.class_id = str(PERSON_CLASS_ID)
        hypothesis.hypothesis.score = float(box.score)
        detection.results = [hypothesis]
        detections.append(detection)
    return types.detection_array(header=header, detections=detections)


def label_info(header: Header, threshold: float, types: VisionTypes) -> Any:
    """The LabelInfo of detection_array's class ids; threshold is the detector's min_detection_score."""
    return types.label_info(
        header=header,
        class_map=[types.vision_class(class_id=PERSON_CLASS_ID, class_name=PERSON_CLASS_NAME)],
        threshold=float(threshold),
    )


def tracked_ids(result: FrameResult, header: Header, ids_list: type) -> Any:
    """The REP-155 /humans/bodies/tracked message: the body ids seen in this frame."""
    return ids_list(header=header, ids=[body_id(person.track_id) for person in result.people])


def hinge_joint_state(person: PersonEstimate, header: Header, min_confidence: float = 0.0) -> JointState:
    """The human_description elbow and knee joints (rad) whose three 3D points are finite and
    confident enough, named `<joint>_<bodyID>` as the URDF of that body names them."""
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    confidences = np.asarray(person.confidences, dtype=np.float64)
    index = {name: i for i, name in enumerate(person.joint_names)}
    names, positions = [], []
    for hinge, (chain_names, sign) in HINGES.items():
        chain = [index.get(name) for name in chain_names]
        if None in chain or not np.all(np.isfinite(joints[chain])):
            continue
        if confidences[chain].min() < min_confidence:
            continue
        upper, lower = joints[chain[0]] - joints[chain[1]], joints[chain[2]] - joints[chain[1]]
        lengths = np.linalg.norm(upper) * np.linalg.norm(lower)
        if lengths == 0.0:
            continue
        inner = np.arccos(np.clip(np.dot(upper, lower) / lengths, -1.0, 1.0))
        names.append(f"{hinge}_{body_id(person.track_id)}")
        positions.append(sign * float(np.pi - inner))
    return JointState(header=header, name=names, position=positions)


def body_topic(track_id: int, leaf: str) -> str:
    """The REP-155 per-body topic, e.g. /humans/bodies/3/roi."""
    return f"{HUMANS_BODIES}/{body_id(track_id)}/{leaf}"


Publisher = TypeVar("Publisher")


class BodyPublishers(Generic[Publisher]):
    """One publisher per tracked body on /humans/bodies/<id>/<leaf>: made when the body first appears,
    destroyed when its track retires, so `ros2 topic list` shows the bodies that exist."""

    def __init__(
        self, leaf: str, create: Callable[[str], Publisher], destroy: Callable[[Publisher], object]
    ) -> None:
        self.leaf = leaf
        self._create = create
        self._destroy = destroy
        self._publishers: dict[int, Publisher] = {}

    def __getitem__(self, track_id: int) -> Publisher:
        if track_id not in self._publishers:
            self._publishers[track_id] = self._create(body_topic(track_id, self.leaf))
        return self._publishers[track_id]

    def retire(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            publisher = self._publishers.pop(track_id, None)
            if publisher is not None:
                self._destroy(publisher)

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._publishers)
