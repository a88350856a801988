"""The optional standard outputs of the perception node, built from its parameters.

REP-155 TF frames per body (publish_tf), per-body JointState (publish_joint_states), the REP-155
list of tracked bodies with each body's roi and skeleton2d (publish_humans, hri_msgs), vision_msgs
detections with a latched LabelInfo (publish_detections). All off by default; each one asked for on
an install that lacks its package stops the node at start-up naming the package. The message
building lives in tf_frames.py and standard_messages.py; this class only owns the publishers.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from deephar_ros.perception.results import FrameResult
from deephar_ros.ros.parameters import PerceptionParameters
from deephar_ros.ros.standard_messages import (
    HUMANS_BODIES,
    BodyPublishers,
    detection_array,
    hinge_joint_state,
    hri_types,
    label_info,
    normalized_roi,
    skeleton_2d,
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
        self._node = node
        self._min_confidence = min_confidence
        self._tf = transform_broadcaster(node) if parameters.publish_tf else None
        self._vision = vision_types("publish_detections is true") if parameters.publish_detections else None
        if self._vision is not None:
            self._detections = node.create_publisher(self._vision.detection_array, "detections", qos)
            self._labels = node.create_publisher(self._vision.label_info, "label_info", LATCHED_QOS)
            self._publish_labels(detection_threshold)
        self._hri = hri_types() if parameters.publish_humans else None

        def per_body(leaf: str, message_type: type) -> BodyPublishers:
            return BodyPublishers(
                leaf, lambda topic: node.create_publisher(message_type, topic, qos), node.destroy_publisher
            )

        self._joint_states = per_body("joint_states", JointState) if parameters.publish_joint_states else None
        self._rois = self._skeletons = self._tracked = None
        if self._hri is not None:
            self._rois = per_body("roi", self._hri.roi)
            self._skeletons = per_body("skeleton2d", self._hri.skeleton2d)
            self._tracked = node.create_publisher(self._hri.ids_list, f"{HUMANS_BODIES}/tracked", qos)

    def set_thresholds(self, min_confidence: float, detection_threshold: float) -> None:
        """New thresholds from a live parameter change; LabelInfo is latched again with the new one."""
        self._min_confidence = min_confidence
        if self._vision is not None:
            self._publish_labels(detection_threshold)

    def _publish_labels(self, threshold: float) -> None:
        header = Header(stamp=self._node.get_clock().now().to_msg())
        self._labels.publish(label_info(header, threshold, self._vision))

    def publish(self, result: FrameResult, header: Header, image_header: Header) -> None:
        """Every switched-on output of one frame; per-body topics of retired tracks go away.

        header: the 3D outputs' (output frame); image_header: the 2D ones' (the image's frame).
        """
        # TF refuses a frame without a parent name: skipped when the image has no frame_id.
        if self._tf is not None and header.frame_id:
            transforms = body_transforms(result, header, self._min_confidence)
            if transforms:
                self._tf.sendTransform(transforms)
        if self._vision is not None:
            self._detections.publish(detection_array(result, image_header, self._vision))
        if self._tracked is not None:
            self._tracked.publish(tracked_ids(result, image_header, self._hri.ids_list))
        width, height = result.width, result.height
        for person in result.people:
            if self._rois is not None:
                roi = normalized_roi(person, image_header, width, height, self._hri)
                self._rois[person.track_id].publish(roi)
                skeleton = skeleton_2d(person, image_header, width, height, self._hri, self._min_confidence)
                self._skeletons[person.track_id].publish(skeleton)
            if self._joint_states is not None:
                state = hinge_joint_state(person, header, self._min_confidence)
                self._joint_states[person.track_id].publish(state)
        self.retire(result.retired_track_ids)

    def retire(self, track_ids: list[int]) -> None:
        """Remove the per-body publishers of tracks that ended (TF frames just stop being updated)."""
        for publishers in (self._rois, self._skeletons, self._joint_states):
            if publishers is not None:
                publishers.retire(track_ids)
