"""Camera subscriptions whose reliability follows the camera's publishers (qos_reliability: auto).

A best-effort reader matches every writer, but it gets a reliable writer's messages best effort:
on loopback, 640x480 rgb8 frames (~900 kB, many DDS fragments) are then mostly lost (4 of 75 at
15 Hz arrived), and a silent loss looks like a stopped camera. A reliable reader gets every frame of
a reliable writer but does not match a best-effort one at all. So: reliable when every publisher of
the topic is reliable, best effort when any is not or none is known yet, checked again whenever
the publishers change (a camera started after the node).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy


def matching_reliability(publisher_reliabilities: Sequence[ReliabilityPolicy]) -> ReliabilityPolicy:
    """The reliability that receives everything the given publishers send and matches all of them."""
    if publisher_reliabilities and all(r == ReliabilityPolicy.RELIABLE for r in publisher_reliabilities):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def publishers_reliability(node: Node, topic: str) -> ReliabilityPolicy:
    """The matching reliability for the publishers `node` sees on `topic` now (a resolved name)."""
    infos = node.get_publishers_info_by_topic(topic)
    return matching_reliability([info.qos_profile.reliability for info in infos])


class MatchedSubscription:
    """A subscription on `topic` with `qos`; with `auto`, its reliability follows the publishers."""

    def __init__(
        self,
        node: Node,
        message_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        auto: bool,
    ) -> None:
        self._node, self._type, self._callback, self._qos, self.auto = node, message_type, callback, qos, auto
        self.topic = node.resolve_topic_name(topic)
        self.reliability = publishers_reliability(self._node, self.topic) if auto else qos.reliability
        self._subscription = self._subscribe()

    def _subscribe(self):
        qos = QoSProfile(
            history=self._qos.history,
            depth=self._qos.depth,
            reliability=self.reliability,
            durability=self._qos.durability,
        )
        return self._node.create_subscription(self._type, self.topic, self._callback, qos)

    def refresh(self) -> bool:
        """Re-subscribe when the publishers now call for the other reliability; True when it changed."""
        if not self.auto:
            return False
        wanted = publishers_reliability(self._node, self.topic)
        if wanted == self.reliability:
            return False
        self._node.destroy_subscription(self._subscription)
        self.reliability = wanted
        self._subscription = self._subscribe()
        return True
