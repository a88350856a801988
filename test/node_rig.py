"""A loopback rig for the perception node tests: the node and a CameraPeer on one executor.

The tests drive the real node over DDS with it. Waits are on conditions with a guard that only
stops a hung run; nothing here measures or asserts time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from deephar_ros.msg import SkeletonArray
from deephar_ros.ros.camera_peer import OUTPUTS, CameraPeer
from deephar_ros.ros.perception_node import PerceptionNode

# A node on random weights with the whole-frame detector on the CPU: each frame costs one crop.
PLUMBING_PARAMETERS = {
    "random_weights": True,
    "backend": "cpu-eager",
    "device": "cpu",
    "detector": "full-frame",
    # The peer's reliable writers match it; "auto" would re-subscribe once they appear (test_node_outputs.py).
    "qos_reliability": "best_effort",
}


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

    def trust_every_joint(self) -> None:
        """Count every joint as found. Random weights' confidences sit near 0, and only the torso
        joints the network found read the depth image for the root depth: a depth test needs them."""
        self.node.stream.pipeline.config.pose_box_min_confidence = 0.0

    def spin_until(self, done: Callable[[], bool], guard_s: float = 120.0) -> None:
        """Spin both nodes until done() holds; the guard only stops a hung test, it asserts no timing."""
        give_up = time.monotonic() + guard_s
        while not done():
            assert time.monotonic() < give_up, "the condition never came true: the node stopped answering?"
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until_settled(self) -> None:
        """Spin until every image received is counted as processed, dropped, failed or refused.

        A frame's answer is published before the worker counts it, so a test that reads the counts
        right after an answer arrives must wait for this first.
        """
        stats = self.node.stats

        def settled() -> bool:
            ended = stats.processed + stats.dropped + stats.failed + stats.bad_input["image"]
            return ended == stats.received

        self.spin_until(settled)

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
