"""FrameResult -> standard messages (deephar_ros/ros/standard_messages.py) and the ~/enable switch,
without DDS. vision_msgs and hri_msgs are not installable here: stand-in dataclasses with their field
names (vision_msgs 4.x, as in Humble, Jazzy and Kilted; hri_msgs 2.0 in hri_stand_ins.py) check the
mapping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from hri_stand_ins import HRI_STAND_INS, IdsList, Skeleton2D
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from deephar_ros.model.joints import PA17J3D
from deephar_ros.perception.results import Box, FrameResult, PersonEstimate
from deephar_ros.ros.enable_switch import EnableSwitch
from deephar_ros.ros.standard_messages import (
    PERSON_CLASS_ID,
    BodyPublishers,
    VisionTypes,
    detection_array,
    hinge_joint_state,
    hri_types,
    label_info,
    normalized_roi,
    skeleton_2d,
    tracked_ids,
    vision_types,
)

HEADER = Header(stamp=Time(sec=5, nanosec=6), frame_id="cam")


@dataclass
class Point2D:
    x: float = 0.0
    y: float = 0.0


@dataclass
class Pose2D:
    position: Point2D = field(default_factory=Point2D)
    theta: float = 0.0


@dataclass
class BoundingBox2D:
    center: Pose2D = field(default_factory=Pose2D)
    size_x: float = 0.0
    size_y: float = 0.0


@dataclass
class ObjectHypothesis:
    class_id: str = ""
    score: float = 0.0


@dataclass
class ObjectHypothesisWithPose:
    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: object = None


@dataclass
class Detection2D:
    header: Header = field(default_factory=Header)
    results: list = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ""


@dataclass
class Detection2DArray:
    header: Header = field(default_factory=Header)
    detections: list = field(default_factory=list)


@dataclass
class VisionClass:
    class_id: int = 0
    class_name: str = ""


@dataclass
class LabelInfo:
    header: Header = field(default_factory=Header)
    class_map: list = field(default_factory=list)
    threshold: float = 0.0


STAND_INS = VisionTypes(Detection2DArray, Detection2D, ObjectHypothesisWithPose, LabelInfo, VisionClass)


def person(track_id: int, box: Box, joints_3d: np.ndarray | None = None) -> PersonEstimate:
    count = PA17J3D.num_joints
    return PersonEstimate(
        track_id=track_id,
        box=box,
        joint_names=list(PA17J3D.joint_names),
        joints_2d=np.zeros((count, 2)),
        joints_3d=np.zeros((count, 3)) if joints_3d is None else joints_3d,
        confidences=np.full(count, 0.9),
    )


def result() -> FrameResult:
    return FrameResult(
        stamp_ns=0,
        width=640,
        height=480,
        people=[person(3, Box(10.5, 20, 110.5, 220, 0.8)), person(9, Box(-5, 400, 50, 500, 0.7))],
    )


def test_detections_carry_track_ids_boxes_and_person_scores():
    array = detection_array(result(), HEADER, STAND_INS)
    assert array.header is HEADER
    first, second = array.detections
    assert (first.id, second.id) == ("b3", "b9")
    assert first.header is HEADER
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (60.5, 120.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (100.0, 200.0)
    (hypothesis,) = first.results
    assert hypothesis.hypothesis.class_id == str(PERSON_CLASS_ID)
    assert hypothesis.hypothesis.score == pytest.approx(0.8)


def test_label_info_names_the_person_class():
    info = label_info(HEADER, 0.6, STAND_INS)
    assert info.class_map == [VisionClass(class_id=PERSON_CLASS_ID, class_name="person")]
    assert info.threshold == pytest.approx(0.6)


@pytest.mark.parametrize("wanted_by", ["publish_detections is true", "detector is 'topic'"])
def test_vision_types_say_what_is_missing_and_which_parameter_asked(wanted_by):
    try:
        import vision_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=f"parameter {wanted_by} but vision_msgs is not installed"):
            vision_types(wanted_by)
    else:  # a ROS 2 install: the real classes take the same mapping
        array = detection_array(result(), HEADER, vision_types(wanted_by))
        assert [d.id for d in array.detections] == ["b3", "b9"]


def test_hri_types_say_what_is_missing():
    try:
        import hri_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="publish_humans is true but hri_msgs is not installed"):
            hri_types()
    else:  # a ROS 2 install with hri_msgs: the real classes take the same mapping
        skeleton = skeleton_2d(result().people[0], HEADER, 640, 480, hri_types(), 0.0)
        assert len(skeleton.skeleton) == 18


def test_tracked_ids_and_normalised_rois_per_body():
    ids = tracked_ids(result(), HEADER, IdsList)
    assert ids.ids == ["b3", "b9"] and ids.header is HEADER
    first, second = (normalized_roi(p, HEADER, 640, 480, HRI_STAND_INS) for p in result().people)
    assert first.header is HEADER
    assert (first.xmin, first.ymin, first.xmax, first.ymax) == pytest.approx(
        (10.5 / 640, 20 / 480, 110.5 / 640, 220 / 480)
    )
    assert first.c == pytest.approx(0.8)
    # clipped to [0, 1] as hri_msgs requires: the box reaches past the left and bottom edges
    assert (second.xmin, second.ymin, second.xmax, second.ymax) == pytest.approx(
        (0.0, 400 / 480, 50 / 640, 1.0)
    )


def test_skeleton2d_fills_the_openpose_points_our_joints_have():
    estimate = person(3, Box(0, 0, 640, 480))
    estimate.joints_2d = np.array([[10.0 * i, 5.0 * i] for i in range(PA17J3D.num_joints)])
    estimate.confidences = np.linspace(0.3, 1.0, PA17J3D.num_joints)
    estimate.joints_2d[PA17J3D.index("left_ankle")] = np.nan
    estimate.joints_2d[PA17J3D.index("right_knee")] = (-30.0, 900.0)  # outside the image
    estimate.confidences[PA17J3D.index("right_shoulder")] = 0.1
    skeleton = skeleton_2d(estimate, HEADER, 640, 480, HRI_STAND_INS, min_confidence=0.2)
    points = skeleton.skeleton
    assert skeleton.header is HEADER and len(points) == 18

    def expected(joint: str) -> tuple[float, float, float]:
        i = PA17J3D.index(joint)
        return (10.0 * i / 640, 5.0 * i / 480, estimate.confidences[i])

    def got(slot: int) -> tuple[float, float, float]:
        return (points[slot].x, points[slot].y, points[slot].c)

    # OpenPose's neck is the shoulders' mid-point: our thorax
    assert got(Skeleton2D.NECK) == pytest.approx(expected("thorax"))
    assert got(Skeleton2D.LEFT_WRIST) == pytest.approx(expected("left_wrist"))
    assert got(Skeleton2D.RIGHT_HIP) == pytest.approx(expected("right_hip"))
    knee_confidence = estimate.confidences[PA17J3D.index("right_knee")]
    assert got(Skeleton2D.RIGHT_KNEE) == pytest.approx((0.0, 1.0, knee_confidence))  # clipped to the image
    for slot in (Skeleton2D.NOSE, Skeleton2D.LEFT_EYE, Skeleton2D.RIGHT_EAR):  # we have none: not seen
        assert got(slot) == (0.0, 0.0, 0.0)
    assert got(Skeleton2D.LEFT_ANKLE) == (0.0, 0.0, 0.0)  # NaN
    assert got(Skeleton2D.RIGHT_SHOULDER) == (0.0, 0.0, 0.0)  # below min_confidence
    for point in points:
        assert 0.0 <= point.x <= 1.0 and 0.0 <= point.y <= 1.0 and 0.0 <= point.c <= 1.0


def test_joint_state_holds_elbow_and_knee_flexion():
    joints = np.full((PA17J3D.num_joints, 3), np.nan)
    place = {
        "right_shoulder": (0, 0, 2),
        "right_elbow": (0, 0.3, 2),
        "right_wrist": (0.3, 0.3, 2),  # a right angle: flexion pi / 2
        "left_shoulder": (1, 0, 2),
        "left_elbow": (1, 0.3, 2),
        "left_wrist": (1, 0.6, 2),  # straight: 0
        "right_hip": (0, 1, 2),
        "right_knee": (0, 1.4, 2),
        # right_ankle NaN: no right knee; left knee side missing entirely
    }
    for name, point in place.items():
        joints[PA17J3D.index(name)] = point
    state = hinge_joint_state(person(1, Box(0, 0, 1, 1), joints), HEADER)
    assert state.header == HEADER
    # human_description's joint names, suffixed with the body id as its URDF for body b1 names them
    assert list(state.name) == ["r_elbow_b1", "l_elbow_b1"]
    assert list(state.position) == pytest.approx([math.pi / 2, 0.0], abs=1e-9)
    assert list(state.velocity) == [] and list(state.effort) == []


def test_joint_state_leaves_out_unconfident_hinges():
    joints = np.random.default_rng(0).normal(size=(PA17J3D.num_joints, 3))
    estimate = person(1, Box(0, 0, 1, 1), joints)
    assert len(hinge_joint_state(estimate, HEADER).name) == 4
    estimate.confidences[PA17J3D.index("left_ankle")] = 0.1
    assert "l_knee_b1" not in hinge_joint_state(estimate, HEADER, min_confidence=0.2).name


def test_knees_bend_negative_as_the_human_description_urdf_limits_them():
    joints = np.full((PA17J3D.num_joints, 3), np.nan)
    place = {
        "left_hip": (0, 1, 2),
        "left_knee": (0, 1.4, 2),
        "left_ankle": (0, 1.4, 2.4),  # bent a right angle
        "left_shoulder": (0, 0, 2),
        "left_elbow": (0, 0.3, 2),
        "left_wrist": (0, 0.3, 1.7),  # bent a right angle
    }
    for name, point in place.items():
        joints[PA17J3D.index(name)] = point
    state = hinge_joint_state(person(4, Box(0, 0, 1, 1), joints), HEADER)
    # l_elbow: axis 0 -1 0, limits 0..2.5; l_knee: axis 0 -1 0, limits -2.5..0
    assert dict(zip(state.name, state.position, strict=True)) == pytest.approx(
        {"l_elbow_b4": math.pi / 2, "l_knee_b4": -math.pi / 2}
    )


def test_body_publishers_follow_the_tracks():
    made, destroyed = [], []
    publishers = BodyPublishers("roi", lambda topic: made.append(topic) or topic, destroyed.append)
    assert publishers[3] == "/humans/bodies/b3/roi"
    assert publishers[3] == "/humans/bodies/b3/roi"
    assert publishers[9] == "/humans/bodies/b9/roi"
    assert made == ["/humans/bodies/b3/roi", "/humans/bodies/b9/roi"]  # once per body
    publishers.retire([3, 42])
    assert destroyed == ["/humans/bodies/b3/roi"] and publishers.track_ids == [9]


def test_enable_switch_answers_set_bool():
    switch = EnableSwitch()
    assert switch.enabled
    response = switch.on_set_bool(SetBool.Request(data=False), SetBool.Response())
    assert (response.success, response.message, switch.enabled) == (True, "disabled", False)
    response = switch.on_set_bool(SetBool.Request(data=False), SetBool.Response())
    assert (response.success, response.message, switch.enabled) == (True, "already disabled", False)
    response = switch.on_set_bool(SetBool.Request(data=True), SetBool.Response())
    assert (response.message, switch.enabled) == ("enabled", True)
    assert not EnableSwitch(enabled=False).enabled
