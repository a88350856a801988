"""Action labels a robot can use (issue 17, item 5): label ids beside the labels, the latched label list,
the label files in share/, `uncertain` below min_action_confidence in every output, one body id.

The last test is a robot's node typed on our messages, started after the perception node: it maps label
ids to names with the latched list and hears `uncertain` once the threshold is raised live.
"""

from __future__ import annotations

import numpy as np
import pytest
from node_rig import Loopback
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header
from test_standard_messages import STAND_INS

from deephar_ros.model.joints import PA17J3D
from deephar_ros.model.labels import load_labels
from deephar_ros.msg import ActionLabels, ActionRecognitionArray
from deephar_ros.offline import drawing
from deephar_ros.offline.video import frame_record
from deephar_ros.perception.results import (
    DEFAULT_MIN_ACTION_CONFIDENCE,
    NO_LABEL_ID,
    ActionEstimate,
    Box,
    FrameResult,
    PersonEstimate,
)
from deephar_ros.ros.action_labels import ACTION_LABELS_TOPIC, action_label_info
from deephar_ros.ros.markers import LABELS_NAMESPACE, frame_markers
from deephar_ros.ros.result_messages import action_array

LABELS = ["sit", "wave", "jump"]
# What a robot subscribes with to hear a latched topic whenever it starts.
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def person(scores: list[float]) -> PersonEstimate:
    """One tracked person (track 3) whose action scores are these."""
    joints = PA17J3D.num_joints
    action = ActionEstimate(3, np.array(scores), LABELS, "ntu60", 0, 10**9, 1)
    return PersonEstimate(
        track_id=3,
        box=Box(20.0, 20.0, 80.0, 90.0),
        joint_names=list(PA17J3D.joint_names),
        joints_2d=np.tile([50.0, 50.0], (joints, 1)) + np.arange(joints)[:, None],
        joints_3d=np.tile([0.0, 0.0, 3.0], (joints, 1)) + 0.01 * np.arange(joints)[:, None],
        confidences=np.ones(joints),
        action=action,
    )


def drawn_texts(result: FrameResult, min_action_confidence: float, monkeypatch) -> list[str]:
    """The texts draw_result writes on the image."""
    texts: list[str] = []
    monkeypatch.setattr(drawing, "outlined_text", lambda image, text, *args, **kwargs: texts.append(text))
    drawing.draw_result(
        np.zeros((120, 160, 3), np.uint8), result, PA17J3D.bones, None, 0.0, min_action_confidence
    )
    return texts


@pytest.mark.parametrize(("threshold", "uncertain"), [(0.5, False), (0.7, True), (0.0, False)])
def test_every_output_says_the_same_label_or_uncertain(threshold, uncertain, monkeypatch):
    """Messages, RViz markers, the drawn image and the job's JSON lines agree, at and off the threshold."""
    result = FrameResult(0, 160, 120, [person([0.2, 0.6, 0.2])])
    action = action_array(result, Header(), 3, threshold).actions[0]
    markers = frame_markers(result, Header(), PA17J3D.bones, 0.0, 0.5, threshold).markers
    (marker_text,) = [m.text for m in markers if m.ns == LABELS_NAMESPACE]
    (person_text,) = [t for t in drawn_texts(result, threshold, monkeypatch) if t.startswith("b3")]
    record = frame_record(result, 0, False, 3, threshold)["people"][0]
    assert record["id"] == action.body_id == "b3"
    assert (record["action"]["uncertain"], action.uncertain) == (uncertain, uncertain)
    if uncertain:
        assert (action.label, action.label_id) == ("", NO_LABEL_ID) == (record["action"]["label"], -1)
        assert marker_text == "b3 uncertain" and person_text.endswith(" uncertain")
    else:
        assert (action.label, action.label_id) == ("wave", 1)
        assert (record["action"]["label"], record["action"]["label_id"]) == ("wave", 1)
        assert marker_text == "b3 wave 60%" and person_text.endswith(" wave 60%")
    assert record["action"]["score"] == pytest.approx(action.score) == pytest.approx(0.6)


def test_a_top_label_at_chance_is_uncertain_by_default():
    """The old behaviour named a label whatever its score: at chance (1/60) the default now says uncertain."""
    chance = np.full(60, 1 / 60)
    chance[7] += 1e-3
    estimate = ActionEstimate(1, chance / chance.sum(), load_labels("ntu60"), "ntu60", 0, 1, 1)
    assert estimate.decision(DEFAULT_MIN_ACTION_CONFIDENCE).uncertain
    assert estimate.decision(0.0).label_id == 7


def test_label_info_maps_every_action_id_to_its_name_with_the_threshold():
    labels = load_labels("penn_action")
    info = action_label_info(Header(), labels, 0.4, STAND_INS)
    assert [(c.class_id, c.class_name) for c in info.class_map] == list(enumerate(labels))
    assert info.threshold == pytest.approx(0.4)


class RobotNode(Node):
    """What a robot writes against our messages: a label id -> name table from the latched list."""

    def __init__(self, context, namespace: str) -> None:
        super().__init__("robot", namespace=namespace, context=context)
        self.names: list[str] | None = None
        self.threshold: float | None = None
        self.heard: list[tuple[int, str, str]] = []  # (stamp ns, body id, what the robot understood)
        self.create_subscription(ActionLabels, ACTION_LABELS_TOPIC, self._on_labels, LATCHED)
        self.create_subscription(ActionRecognitionArray, "actions", self._on_actions, 10)

    def _on_labels(self, msg: ActionLabels) -> None:
        self.names, self.threshold = list(msg.labels), msg.min_action_confidence

    def _on_actions(self, msg: ActionRecognitionArray) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        for action in msg.actions:
            if action.uncertain:
                understood = "uncertain"
            else:
                understood = self.names[action.label_id]
                assert understood == action.label and action.label_ids[0] == action.label_id
            self.heard.append((stamp, action.body_id, understood))


def test_a_robot_maps_label_ids_from_the_latched_list_and_hears_uncertain_above_the_score(
    rclpy_module_context,
):
    frame = np.random.default_rng(17).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    rig = Loopback(
        rclpy_module_context,
        frame,
        namespace="/robot_labels",
        clip_stride=1,
        min_action_confidence=0.0,  # random weights score about chance: 0 names a label anyway
        min_joint_confidence=0.0,
        track_timeout=60.0,
    )
    robot = RobotNode(rclpy_module_context, "/robot_labels")  # after the list was published: latched
    rig.executor.add_node(robot)
    try:
        rig.spin_until(lambda: robot.names is not None)
        assert robot.names == load_labels("ntu60") and robot.threshold == 0.0
        start = 1_000 * 10**9
        for i in range(rig.node.engine.config.num_frames):
            skeletons = rig.answer_for(rig.publish(start + i * 10**8))
        rig.spin_until(lambda: len(robot.heard) > 0)
        _, body, understood = robot.heard[-1]
        assert body == skeletons.skeletons[0].body_id and understood in robot.names
        # an operator raises the threshold over the random network's scores: the robot hears uncertain
        client = AsyncParameterClient(robot, rig.node.get_fully_qualified_name())
        rig.spin_until(client.services_are_ready)
        future = client.set_parameters([Parameter("min_action_confidence", value=0.9)])
        rig.spin_until(future.done)
        assert future.result().results[0].successful
        rig.publish(start + 10 * 10**8)
        rig.spin_until(lambda: any(s == start + 10 * 10**8 for s, _, _ in robot.heard))
        assert [u for s, _, u in robot.heard if s == start + 10 * 10**8] == ["uncertain"]
        rig.spin_until(lambda: robot.threshold == pytest.approx(0.9))  # the list was latched again
    finally:
        rig.executor.remove_node(robot)
        robot.destroy_node()
        rig.close()
