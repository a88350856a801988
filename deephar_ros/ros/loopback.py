"""A loopback rig for the perception node: a peer that plays the camera and records what the node says.

CameraPeer publishes Image / CompressedImage / CameraInfo / depth on the node's input topics and
records its skeletons, actions, markers, debug images, /diagnostics and its own /rosout warnings.
Loopback puts a PerceptionNode and a CameraPeer in one process on one single-threaded executor:
the tests drive the real node over DDS with it, and bench/bench_soak.py uses CameraPeer against a
node running in its own process. Waits are on conditions with a guard that only stops a hung run;
nothing here measures or asserts time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from deephar_ros.msg import ActionRecognitionArray, SkeletonArray
from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.perception_node import NODE_NAME, PerceptionNode

# Reliable with a deep history: a test's frames all arrive, however busy the machine is.
FRAMES_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
OUTPUTS = {
    "skeletons": SkeletonArray,
    "actions": ActionRecognitionArray,
    "markers": MarkerArray,
    "debug_image": Image,
}
# A node on random weights with the whole-frame detector on the CPU: each frame costs one crop.
PLUMBING_PARAMETERS = {
    "random_weights": True,
    "backend": "cpu-eager",
    "device": "cpu",
    "detector": "full-frame",
}


def node_logger_name(namespace: str) -> str:
    """The logger name (the `name` of its /rosout messages) of the perception node in namespace."""
    parts = [part for part in namespace.split("/") if part]
    return ".".join([*parts, NODE_NAME])


def stamp_time(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


class CameraPeer(Node):
    """Publishes camera messages into a perception node and keeps the last `keep` of each output."""

    def __init__(
        self,
        namespace: str = "",
        *,
        context: Context | None = None,
        camera_qos: QoSProfile = FRAMES_QOS,
        keep: int = 10_000,
    ) -> None:
        super().__init__("camera_peer", namespace=namespace, context=context)
        self.watched_logger = node_logger_name(namespace)
        self.image_out = self.create_publisher(Image, "image", camera_qos)
        self.compressed_out = self.create_publisher(CompressedImage, "image/compressed", camera_qos)
        self.info_out = self.create_publisher(CameraInfo, "camera_info", camera_qos)
        self.depth_out = self.create_publisher(Image, "depth", camera_qos)
        self.received: dict[str, deque] = {
            name: deque(maxlen=keep) for name in (*OUTPUTS, "diagnostics", "warnings")
        }
        self._inputs = {
            name: self.create_subscription(kind, name, self._recorder(name), FRAMES_QOS)
            for name, kind in OUTPUTS.items()
        }
        self._inputs["diagnostics"] = self.create_subscription(
            DiagnosticArray, "/diagnostics", self._recorder("diagnostics"), FRAMES_QOS
        )
        self._inputs["rosout"] = self.create_subscription(
            Log, "/rosout", self._on_log, QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        )

    def _recorder(self, name: str) -> Callable[[object], None]:
        # rclpy inspects a callback's signature, which deque.append (a builtin) does not have.
        def record(message: object) -> None:
            self.received[name].append(message)

        return record

    def _on_log(self, message: Log) -> None:
        if message.name == self.watched_logger and message.level >= Log.WARN:
            self.received["warnings"].append(message.msg)

    def publish_image(
        self, stamp_ns: int, rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "test_camera", **fields
    ) -> Header:
        """Publish rgb as an Image stamped stamp_ns, with encoding and any field overridden; its header."""
        header = Header(stamp=stamp_time(stamp_ns), frame_id=frame_id)
        msg = rgb_to_image(rgb, header)
        msg.encoding = encoding
        for name, value in fields.items():
            setattr(msg, name, value)
        self.image_out.publish(msg)
        return header

    def hears(self, *outputs: str) -> bool:
        """True when a publisher matched each named recording (an OUTPUTS name, diagnostics, rosout)."""
        return all(self._inputs[name].get_publisher_count() > 0 for name in outputs)

    def last_diagnostics(self) -> dict[str, str]:
        """The key/values of the newest /diagnostics status from the watched node ({} before one)."""
        for array in reversed(self.received["diagnostics"]):
            for status in array.status:
                if status.name.startswith(f"{NODE_NAME}:"):
                    return {value.key: value.value for value in status.values}
        return {}


class Loopback:
    """A PerceptionNode and its CameraPeer in this process, spun together by one executor."""

    def __init__(self, context: Context, frame: np.ndarray, namespace: str = "", **overrides) -> None:
        self.frame = frame
        parameters = PLUMBING_PARAMETERS | overrides
        self.node = PerceptionNode(
            context=context,
            namespace=namespace,
            parameter_overrides=[Parameter(name, value=value) for name, value in parameters.items()],
        )
        self.peer = CameraPeer(namespace, context=context)
        self.received = self.peer.received
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        camera = self.peer.compressed_out if self.node.parameters.image_transport == "compressed" else None
        camera = camera or self.peer.image_out
        inputs = [camera, self.peer.info_out] + (
            [self.peer.depth_out] if self.node.parameters.use_depth else []
        )
        outputs = {self.node.resolve_topic_name(name) for name in OUTPUTS} | {"/diagnostics"}
        # Both ends of every topic matched: a message sent before that may be lost (volatile QoS).
        self.spin_until(
            lambda: (
                all(publisher.get_subscription_count() > 0 for publisher in inputs)
                and all(
                    publisher.get_subscription_count() > 0
                    for publisher in self.node.publishers
                    if publisher.topic_name in outputs
                )
                and self.peer.hears("skeletons", "actions", "markers", "diagnostics", "rosout")
            )
        )

    def spin_until(self, done: Callable[[], bool], guard_s: float = 120.0) -> None:
        """Spin both nodes until done() holds; the guard only stops a hung test, it asserts no timing."""
        give_up = time.monotonic() + guard_s
        while not done():
            assert time.monotonic() < give_up, "the condition never came true: the node stopped answering?"
            self.executor.spin_once(timeout_sec=0.02)

    def publish(
        self, stamp_ns: int, rgb: np.ndarray | None = None, encoding: str = "rgb8", **fields
    ) -> Header:
        """Publish a frame (this rig's frame by default) with any Image field overridden; its header."""
        return self.peer.publish_image(stamp_ns, self.frame if rgb is None else rgb, encoding, **fields)

    def answer_for(self, header: Header) -> SkeletonArray:
        """Spin until the skeletons of the frame with this header arrive, and return them."""
        self.spin_until(lambda: any(m.header.stamp == header.stamp for m in self.received["skeletons"]))
        return next(m for m in self.received["skeletons"] if m.header.stamp == header.stamp)

    def close(self) -> None:
        self.executor.shutdown()
        self.peer.destroy_node()
        self.node.destroy_node()
