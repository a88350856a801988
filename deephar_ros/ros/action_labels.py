"""The latched action label list, so a consumer maps ActionRecognition.label_id to a name.

`action_labels` (deephar_ros/ActionLabels) is published on every install: a consumer typed on our
messages must not depend on what else is installed. Where vision_msgs is installed, the same list
also goes out as vision_msgs/LabelInfo on `action_label_info` (class_id the label id, threshold the
min_action_confidence) for tools that read LabelInfo. Both are reliable and transient-local
(latched), published at start-up and again when min_action_confidence changes.
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from std_msgs.msg import Header

from deephar_ros.msg import ActionLabels
from deephar_ros.ros.result_messages import action_labels
from deephar_ros.ros.standard_messages import VisionTypes, vision_types
from deephar_ros.ros.standard_outputs import LATCHED_QOS

ACTION_LABELS_TOPIC = "action_labels"
ACTION_LABEL_INFO_TOPIC = "action_label_info"


def action_label_info(header: Header, labels: list[str], min_confidence: float, types: VisionTypes) -> Any:
    """vision_msgs/LabelInfo of the action labels: class_id i is labels[i]; threshold min_confidence."""
    return types.label_info(
        header=header,
        class_map=[types.vision_class(class_id=i, class_name=name) for i, name in enumerate(labels)],
        threshold=float(min_confidence),
    )


class ActionLabelTopics:
    """Latches the label list of the node's model on action_labels (and action_label_info)."""

    def __init__(self, node: Node, label_set: str, labels: list[str], min_confidence: float) -> None:
        self._node = node
        self._label_set = label_set
        self._labels = list(labels)
        self._publisher = node.create_publisher(ActionLabels, ACTION_LABELS_TOPIC, LATCHED_QOS)
        try:
            self._vision: VisionTypes | None = vision_types(f"{ACTION_LABEL_INFO_TOPIC} is published")
        except RuntimeError:  # no vision_msgs: our own message alone carries the list
            self._vision = None
        self._info = (
            None
            if self._vision is None
            else node.create_publisher(self._vision.label_info, ACTION_LABEL_INFO_TOPIC, LATCHED_QOS)
        )
        self.set_threshold(min_confidence)

    def set_threshold(self, min_confidence: float) -> None:
        """Latch the list again with the threshold in force (start-up, and a live change)."""
        header = Header(stamp=self._node.get_clock().now().to_msg())
        self._publisher.publish(action_labels(header, self._label_set, self._labels, min_confidence))
        if self._info is not None:
            self._info.publish(action_label_info(header, self._labels, min_confidence, self._vision))
