"""The project's five messages go through real DDS (rclpy, Fast DDS) on loopback and arrive intact.

Each message is published by one rclpy node and received by another: both in this process, and from a
second process (the venv's Python running this file as a script). Discovery stays on this machine
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) in a ROS domain chosen from the test's pid, so concurrent
test runs do not hear each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from deephar_ros.msg import ActionLabels, ActionRecognition, ActionRecognitionArray, Skeleton, SkeletonArray

RECEIVE_TIMEOUT_S = 20.0
PUBLISH_PERIOD_S = 0.1
# Reliable and transient-local: a subscriber that discovers the publisher late still gets the message.
QOS = QoSProfile(
    depth=1,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
)


def domain_id_for(pid: int) -> int:
    """A ROS domain id in 1..100 (0 is everybody's default) picked from a process id."""
    return 1 + pid % 100


def make_skeleton(track_id: int, frame_id: str) -> Skeleton:
    """A skeleton whose every field holds a distinctive value (float32-exact where float32)."""
    names = ["pelvis", "thorax", "head"]
    return Skeleton(
        header=Header(stamp=Time(sec=1_700_000_000 + track_id, nanosec=123_456_789), frame_id=frame_id),
        body_id=f"b{track_id}",
        joint_names=names,
        positions=[Point(x=0.25 * i, y=-1.5 + i, z=3.0 + 0.125 * track_id) for i in range(len(names))],
        pixels=[Point(x=320.5 + 10 * i, y=240.25 - 5 * i, z=0.0) for i in range(len(names))],
        confidences=[0.5, 0.75, 1.0],
        bounding_box=RegionOfInterest(x_offset=100 + track_id, y_offset=50, height=300, width=120),
        detection_score=0.875,
        depth_source=Skeleton.DEPTH_FROM_SIZE,
    )


def make_action(track_id: int, frame_id: str) -> ActionRecognition:
    """An action result whose every field holds a distinctive value."""
    return ActionRecognition(
        header=Header(stamp=Time(sec=1_700_000_010, nanosec=5), frame_id=frame_id),
        body_id=f"b{track_id}",
        label="drink water",
        label_id=0,
        score=0.625,
        uncertain=False,
        labels=["drink water", "eat meal/snack", "brushing teeth"],
        label_ids=[0, 1, 2],
        scores=[0.625, 0.25, 0.125],
        label_set="ntu60",
        clip_start=Time(sec=1_700_000_009, nanosec=300_000_000),
        clip_end=Time(sec=1_700_000_010, nanosec=5),
        clips_averaged=4,
    )


def make_messages() -> dict[str, object]:
    """One message of each of the project's types, keyed by the topic it travels on."""
    frame = "camera_color_optical_frame"
    array_header = Header(stamp=Time(sec=1_700_000_020, nanosec=999_999_999), frame_id=frame)
    return {
        "skeleton": make_skeleton(3, frame),
        "skeletons": SkeletonArray(
            header=array_header, skeletons=[make_skeleton(1, frame), make_skeleton(7, frame)]
        ),
        "action": make_action(3, frame),
        "actions": ActionRecognitionArray(
            header=array_header, actions=[make_action(1, frame), make_uncertain_action(2, frame)]
        ),
        "action_labels": ActionLabels(
            header=Header(stamp=Time(sec=1_700_000_000, nanosec=1)),
            label_set="ntu60",
            labels=["drink water", "eat meal/snack", "brushing teeth"],
            min_action_confidence=0.5,
        ),
    }


def make_uncertain_action(track_id: int, frame_id: str) -> ActionRecognition:
    """An action below the threshold: no label, id -1, the evidence kept."""
    action = make_action(track_id, frame_id)
    action.label, action.label_id, action.uncertain = "", -1, True
    return action


def topic_name(key: str, domain_id: int) -> str:
    return f"deephar_test_{domain_id}/{key}"


def assert_skeleton_intact(received: Skeleton, sent: Skeleton) -> None:
    assert received.header.stamp.sec == sent.header.stamp.sec
    assert received.header.stamp.nanosec == sent.header.stamp.nanosec
    assert received.header.frame_id == sent.header.frame_id
    assert received.body_id == sent.body_id
    assert list(received.joint_names) == list(sent.joint_names)
    assert [(p.x, p.y, p.z) for p in received.positions] == [(p.x, p.y, p.z) for p in sent.positions]
    assert [(p.x, p.y) for p in received.pixels] == [(p.x, p.y) for p in sent.pixels]
    assert list(received.confidences) == [0.5, 0.75, 1.0]
    assert received.bounding_box == sent.bounding_box
    assert received.detection_score == 0.875
    assert received.depth_source == Skeleton.DEPTH_FROM_SIZE == 1
    assert Skeleton.DEPTH_FROM_IMAGE == 0


def assert_action_intact(received: ActionRecognition, sent: ActionRecognition) -> None:
    assert received.header == sent.header
    assert received.body_id == sent.body_id
    assert (received.label, received.label_id, received.uncertain) == (
        sent.label,
        sent.label_id,
        sent.uncertain,
    )
    assert received.score == 0.625
    assert list(received.labels) == list(sent.labels)
    assert list(received.label_ids) == [0, 1, 2]
    assert list(received.scores) == [0.625, 0.25, 0.125]
    assert received.label_set == "ntu60"
    assert (received.clip_start.sec, received.clip_start.nanosec) == (1_700_000_009, 300_000_000)
    assert (received.clip_end.sec, received.clip_end.nanosec) == (1_700_000_010, 5)
    assert received.clips_averaged == 4


def assert_all_intact(received: dict[str, object], sent: dict[str, object]) -> None:
    """Field by field first (a readable failure), then whole-message equality."""
    assert_skeleton_intact(received["skeleton"], sent["skeleton"])
    assert received["skeletons"].header == sent["skeletons"].header
    assert len(received["skeletons"].skeletons) == 2
    for got, want in zip(received["skeletons"].skeletons, sent["skeletons"].skeletons, strict=True):
        assert_skeleton_intact(got, want)
    assert_action_intact(received["action"], sent["action"])
    assert received["actions"].header == sent["actions"].header
    assert len(received["actions"].actions) == 2
    for got, want in zip(received["actions"].actions, sent["actions"].actions, strict=True):
        assert_action_intact(got, want)
    assert received["actions"].actions[1].label_id == -1
    labels = received["action_labels"]
    assert (labels.label_set, list(labels.labels)) == ("ntu60", list(sent["action_labels"].labels))
    assert labels.min_action_confidence == 0.5
    assert received == sent


def start_ros(domain_id: int) -> Context:
    """An rclpy context of its own in this domain (the caller's environment says LOCALHOST)."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    return context


def make_publishers(node: Node, domain_id: int, messages: dict[str, object]) -> Callable[[], None]:
    """Publishers for every message; returns a function that publishes them all once."""
    publishers = {
        key: node.create_publisher(type(msg), topic_name(key, domain_id), QOS)
        for key, msg in messages.items()
    }

    def publish_all() -> None:
        for key, msg in messages.items():
            publishers[key].publish(msg)

    return publish_all


def receive_all(
    node: Node, executor: SingleThreadedExecutor, domain_id: int, sent: dict[str, object]
) -> dict:
    """Subscribes to every topic and spins until one message arrived on each, or the timeout."""
    received: dict[str, object] = {}
    for key, msg in sent.items():
        node.create_subscription(
            type(msg), topic_name(key, domain_id), lambda m, key=key: received.setdefault(key, m), QOS
        )
    deadline = time.monotonic() + RECEIVE_TIMEOUT_S
    while len(received) < len(sent) and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    missing = sorted(set(sent) - set(received))
    assert not missing, f"no message within {RECEIVE_TIMEOUT_S} s on: {missing}"
    return received


@pytest.fixture
def ros_context(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    domain_id = domain_id_for(os.getpid())
    context = start_ros(domain_id)
    yield context, domain_id
    rclpy.shutdown(context=context)


def test_message_constants_and_defaults():
    assert Skeleton.DEPTH_FROM_IMAGE == 0
    assert Skeleton.DEPTH_FROM_SIZE == 1
    assert Skeleton().depth_source == Skeleton.DEPTH_FROM_IMAGE
    assert list(SkeletonArray().skeletons) == []
    assert list(ActionRecognitionArray().actions) == []
    for message_type in (Skeleton, SkeletonArray, ActionRecognition, ActionRecognitionArray, ActionLabels):
        assert isinstance(message_type().header, Header)


def test_messages_between_two_nodes_in_one_process(ros_context):
    context, domain_id = ros_context
    sent = make_messages()
    publisher_node = Node("deephar_test_publisher", context=context)
    subscriber_node = Node("deephar_test_subscriber", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(publisher_node)
    executor.add_node(subscriber_node)
    publish_all = make_publishers(publisher_node, domain_id, sent)
    publisher_node.create_timer(PUBLISH_PERIOD_S, publish_all)
    try:
        received = receive_all(subscriber_node, executor, domain_id, sent)
    finally:
        executor.shutdown()
        publisher_node.destroy_node()
        subscriber_node.destroy_node()
    assert_all_intact(received, sent)


@pytest.mark.slow
def test_messages_from_another_process(ros_context, tmp_path: Path):
    context, domain_id = ros_context
    sent = make_messages()
    log_path = tmp_path / "publisher.log"
    # This very file, run as a script by the venv's Python (site enabled: the ROS wheels need it).
    with log_path.open("w") as log:
        publisher = subprocess.Popen(
            [sys.executable, __file__, "publish", str(domain_id)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"},
        )
    subscriber_node = Node("deephar_test_subscriber", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(subscriber_node)
    try:
        received = receive_all(subscriber_node, executor, domain_id, sent)
    except AssertionError as error:
        raise AssertionError(f"{error}\npublisher process said:\n{log_path.read_text()}") from error
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
        executor.shutdown()
        subscriber_node.destroy_node()
    assert publisher.returncode in (0, -15), log_path.read_text()
    assert_all_intact(received, sent)


def publish_until_stopped(domain_id: int, seconds: float) -> None:
    """The second process of test_messages_from_another_process: publishes every message repeatedly."""
    context = start_ros(domain_id)
    node = Node("deephar_test_remote_publisher", context=context)
    publish_all = make_publishers(node, domain_id, make_messages())
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            publish_all()
            executor.spin_once(timeout_sec=PUBLISH_PERIOD_S)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "publish":
        sys.exit(f"usage: {sys.argv[0]} publish DOMAIN_ID")
    publish_until_stopped(int(sys.argv[2]), seconds=2 * RECEIVE_TIMEOUT_S)
