"""A peer of the perception node that plays the camera and records what the node says.

CameraPeer publishes Image / CompressedImage / CameraInfo / depth on the node's input topics and
records its skeletons, actions, markers, debug images, /diagnostics and its own /rosout warnings.
bench/bench_soak.py runs it against a node in its own process; the tests put both in one process
(test/node_rig.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from deephar_ros.msg import ActionRecognitionArray, SkeletonArray
from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.perception_node import NODE_NAME

# Reliable with a deep history: a test's frames all arrive, however busy the machine is.
FRAMES_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
OUTPUTS = {
    "skeletons": SkeletonArray,
    "actions": ActionRecognitionArray,
    "markers": MarkerArray,
    "debug_image": Image,
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
