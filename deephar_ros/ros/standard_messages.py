"""FrameResult -> standard ROS messages for tools that know nothing of deephar_ros/msg, without DDS.

- sensor_msgs/RegionOfInterest per body: the person box, as REP-155 publishes on /humans/bodies/<id>/roi.
- vision_msgs/Detection2DArray: one Detection2D per person, `id` the track id, one hypothesis of class
  PERSON_CLASS_ID scored by the detector; LabelInfo names that class.
- hri_msgs/IdsList: the REP-155 list of tracked bodies (/humans/bodies/tracked).
- sensor_msgs/JointState per body, for what it can honestly hold. JointState carries one scalar per
  joint of a kinematic model (an angle for a revolute joint), not a 3D point; the 3D joint positions go
  to TF (tf_frames.py). hri_body_detect fits a URDF human model by inverse kinematics to publish every
  joint angle; without such a model the angles a skeleton defines on its own are those of the hinge
  joints, so this JointState holds the flexion of the elbows and knees (0 rad straight, pi folded).

vision_msgs and hri_msgs are not on PyPI: their classes are imported only when asked for (vision_types
raises a clear error where vision_msgs is missing; ids_list_type returns None where hri_msgs is, as
/humans/bodies/tracked is an extra), and the builders take the classes, so tests pass stand-ins with
the same field names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from sensor_msgs.msg import JointState, RegionOfInterest
from std_msgs.msg import Header

from deephar_ros.results import FrameResult, PersonEstimate
from deephar_ros.ros.result_messages import region_of_interest
from deephar_ros.ros.tf_frames import body_id

# vision_msgs' ObjectHypothesis.class_id is a string that LabelInfo maps from a uint16.
PERSON_CLASS_ID = 0
PERSON_CLASS_NAME = "person"
# hinge joint -> (proximal joint, distal joint)
HINGES = {
    "right_elbow": ("right_shoulder", "right_wrist"),
    "left_elbow": ("left_shoulder", "left_wrist"),
    "right_knee": ("right_hip", "right_ankle"),
    "left_knee": ("left_hip", "left_ankle"),
}
HUMANS_BODIES = "/humans/bodies"


@dataclass(frozen=True)
class VisionTypes:
    """The vision_msgs message classes the detection builders fill."""

    detection_array: type
    detection: type
    hypothesis: type
    label_info: type
    vision_class: type


def vision_types() -> VisionTypes:
    """vision_msgs' classes, for publish_detections; a start-up error naming the fix where it is missing."""
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
            "parameter publish_detections is true but vision_msgs is not installed (it comes with ROS 2,"
            " e.g. apt install ros-$ROS_DISTRO-vision-msgs; PyPI has none): install it or set"
            " publish_detections: false"
        ) from None
    return VisionTypes(Detection2DArray, Detection2D, ObjectHypothesisWithPose, LabelInfo, VisionClass)


def ids_list_type() -> type | None:
    """hri_msgs/IdsList where hri_msgs is installed, else None."""
    try:
        from hri_msgs.msg import IdsList
    except ImportError:
        return None
    return IdsList


def body_roi(person: PersonEstimate, width: int, height: int) -> RegionOfInterest:
    """The person box clipped to the width x height image (Skeleton.bounding_box's too)."""
    return region_of_interest(person.box, width, height)


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
    """Flexion (rad) of each elbow and knee whose three 3D points are finite and confident enough."""
    joints = np.asarray(person.joints_3d, dtype=np.float64)
    confidences = np.asarray(person.confidences, dtype=np.float64)
    index = {name: i for i, name in enumerate(person.joint_names)}
    names, positions = [], []
    for hinge, (proximal, distal) in HINGES.items():
        chain = [index.get(name) for name in (proximal, hinge, distal)]
        if None in chain or not np.all(np.isfinite(joints[chain])):
            continue
        if confidences[chain].min() < min_confidence:
            continue
        upper, lower = joints[chain[0]] - joints[chain[1]], joints[chain[2]] - joints[chain[1]]
        lengths = np.linalg.norm(upper) * np.linalg.norm(lower)
        if lengths == 0.0:
            continue
        inner = np.arccos(np.clip(np.dot(upper, lower) / lengths, -1.0, 1.0))
        names.append(hinge)
        positions.append(float(np.pi - inner))
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
