"""The optional standard outputs of the perception node, built from its parameters.

TF frames per body and joint (publish_tf), per-body JointState and RegionOfInterest plus the REP-155
list of tracked bodies (publish_joint_states, publish_humans), vision_msgs detections with a latched
LabelInfo (publish_detections). All off by default; each one asked for on a ROS install that lacks
its package stops the node at start-up naming the package. The message building lives in
tf_frames.py and standard_messages.py; this class only owns the publishers.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, RegionOfInterest
from std_msgs.msg import Header

from deephar_ros.results import FrameResult
from deephar_ros.ros.parameters import PerceptionParameters
from deephar_ros.ros.standard_messages import (
    HUMANS_BODIES,
    BodyPublishers,
    body_roi,
    detection_array,
    hinge_joint_state,
    ids_list_type,
    label_info,
    tracked_ids,
    vision_types,
)
from deephar_ros.ros.tf_frames import body_transforms, transform_broadcaster

LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class StandardOutputs:
    """Publishes a frame's people on the standard topics its parameters switched on."""

    def __init__(
        self,
        node: Node,
        parameters: PerceptionParameters,
        qos: QoSProfile,
        min_confidence: float,
        detection_threshold: float,
    ):
        """`detection_threshold`: the person box score threshold in force, which LabelInfo reports."""
        self._min_confidence = min_confidence
        self._tf = transform_broadcaster(node) if parameters.publish_tf else None
        self._vision = vision_types() if parameters.publish_detections else None
        if self._vision is not None:
            self._detections = node.create_publisher(self._vision.detection_array, "detections", qos)
            labels = node.create_publisher(self._vision.label_info, "label_info", LATCHED_QOS)
            header = Header(stamp=node.get_clock().now().to_msg())
            labels.publish(label_info(header, detection_threshold, self._vision))

        def per_body(leaf: str, message_type: type) -> BodyPublishers:
            return BodyPublishers(
                leaf, lambda topic: node.create_publisher(message_type, topic, qos), node.destroy_publisher
            )

        self._rois = per_body("roi", RegionOfInterest) if parameters.publish_humans else None
        self._joint_states = per_body("joint_states", JointState) if parameters.publish_joint_states else None
        self._ids_type = ids_list_type() if parameters.publish_humans else None
        self._tracked = (
            node.create_publisher(self._ids_type, f"{HUMANS_BODIES}/tracked", qos) if self._ids_type else None
        )
        if parameters.publish_humans and self._ids_type is None:
            node.get_logger().info(
                f"hri_msgs is not installed: {HUMANS_BODIES}/tracked is not published (the per-body roi is)"
            )

    def publish(self, result: FrameResult, header: Header) -> None:
        """Every switched-on output of one frame; per-body topics of retired tracks go away."""
        # TF refuses a frame without a parent name: skipped when the image has no frame_id.
        if self._tf is not None and header.frame_id:
            transforms = body_transforms(result, header, self._min_confidence)
            if transforms:
                self._tf.sendTransform(transforms)
        if self._vision is not None:
            self._detections.publish(detection_array(result, header, self._vision))
        if self._tracked is not None:
            self._tracked.publish(tracked_ids(result, header, self._ids_type))
        for person in result.people:
            if self._rois is not None:
                self._rois[person.track_id].publish(body_roi(person, result.width, result.height))
            if self._joint_states is not None:
                state = hinge_joint_state(person, header, self._min_confidence)
                self._joint_states[person.track_id].publish(state)
        self.retire(result.retired_track_ids)

    def retire(self, track_ids: list[int]) -> None:
        """Remove the per-body publishers of tracks that ended (TF frames just stop being updated)."""
        for publishers in (self._rois, self._joint_states):
            if publishers is not None:
                publishers.retire(track_ids)
