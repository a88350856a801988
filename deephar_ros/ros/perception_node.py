"""The deephar_perception node: camera images in, skeletons, actions, markers and diagnostics out.

Convert -> hand over -> publish: a thin adapter over the ROS-free LiveStream (perception/live_stream.py,
which holds the stream policy: camera silence, time jumps, frame rate, intrinsics fallback) and
Pipeline. Callbacks only convert and validate messages and put the frame in a one-frame slot; a
worker thread runs the newest frame through the stream, so a busy network drops old frames
(counted) instead of building latency, then publishes. Every bad input is refused with a throttled
warning, counted in the diagnostics, and the node keeps serving. `~/enable` (std_srvs/SetBool)
pauses it: images are ignored (not counted), so its tracks retire as for a stopped camera; the
`enabled` parameter is the same switch. The live parameters (parameters.LIVE_PARAMETERS) are
checked when set and applied by the worker between frames, so a frame never sees half a change.
With `output_frame` the 3D outputs are transformed by TF at the image stamp (frame_transform.py);
a frame whose transform is missing is processed but not published, with a throttled warning.
The timers run on the steady clock: `use_sim_time` without a /clock publisher stops no timer.

Why a plain Node and not a lifecycle node (rclpy has rclpy.lifecycle.LifecycleNode from Humble
to Kilted): the node owns no device that must be opened or released in steps; it loads its
weights in the constructor, so a missing or wrong file ends the process at once with an error
and a non-zero exit that `ros2 launch` shows; and a lifecycle node that no lifecycle manager
configures publishes nothing and says nothing, the silent failure users complain about. What
cannot change live is read-only and says so in its descriptor: restarting is its reconfiguration.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from visualization_msgs.msg import MarkerArray

from deephar_ros.inference.engine import InferenceEngine, build_engine
from deephar_ros.model.labels import load_labels
from deephar_ros.msg import ActionRecognitionArray, SkeletonArray
from deephar_ros.offline.drawing import draw_result, weights_banner
from deephar_ros.offline.people_clips import people_clips_from
from deephar_ros.perception.detection import GivenBoxesDetector, default_min_score
from deephar_ros.perception.frame_rate import LostFrameCounter
from deephar_ros.perception.live_stream import LiveStream, Notice, StreamStep
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig
from deephar_ros.perception.results import Box, in_image_of_size
from deephar_ros.ros.action_labels import ActionLabelTopics
from deephar_ros.ros.detection_input import boxes_from_detections
from deephar_ros.ros.diagnostics import PerceptionStats, diagnostic_array
from deephar_ros.ros.enable_switch import EnableSwitch
from deephar_ros.ros.frame_slot import ApproximateTimePairer, LatestSlot
from deephar_ros.ros.frame_transform import TransformUnavailable, result_in_frame, transform_source
from deephar_ros.ros.image_conversion import (
    ImageConversionError,
    camera_info_to_intrinsics,
    check_compressed,
    compressed_to_reduced_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image,
)
from deephar_ros.ros.markers import MarkerLifetime, frame_markers
from deephar_ros.ros.node_main import run_node
from deephar_ros.ros.parameters import (
    LIVE_PARAMETERS,
    PerceptionParameters,
    changed,
    declare_parameters,
    live_change_refusal,
)
from deephar_ros.ros.qos_matching import MatchedSubscription, publishers_reliability
from deephar_ros.ros.result_messages import action_array, skeleton_array, time_to_ns
from deephar_ros.ros.standard_messages import vision_types
from deephar_ros.ros.standard_outputs import StandardOutputs

try:  # RGB-D pairing on ROS installs; message_filters is not on PyPI, see ApproximateTimePairer
    from message_filters import ApproximateTimeSynchronizer
    from message_filters import Subscriber as MessageFilterSubscriber
except ImportError:
    ApproximateTimeSynchronizer = None

NODE_NAME = "deephar_perception"
WARNING_PERIOD_S = 5.0
QOS_REFRESH_PERIOD_S = 1.0  # how often qos_reliability auto looks at the camera's publishers again
OUTPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Another detector may publish the boxes of two frames out of order: wait for one more frame's.
DETECTIONS_REORDER = 1
Message = Image | CompressedImage | CameraInfo
Converted = TypeVar("Converted")


@dataclass
class _Frame:
    """One validated camera frame waiting for the worker."""

    header: Header
    image: np.ndarray | CompressedImage  # uint8 (H, W, 3) RGB, or compressed bytes decoded on the worker
    depth: np.ndarray | None  # float32 (H, W) metres
    boxes: list[Box] | None  # people another detector found on this image (detector: topic)
    received: float  # time.monotonic() when the image arrived


def camera_qos(parameters: PerceptionParameters, reliability: ReliabilityPolicy | None = None) -> QoSProfile:
    """Sensor-data QoS (keep last, volatile) with the configured reliability (or the one given) and depth."""
    if reliability is None:
        reliability = (
            ReliabilityPolicy.RELIABLE
            if parameters.qos_reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=parameters.qos_depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def _header_checked(msg: CompressedImage, max_pixels: int) -> CompressedImage:
    """A compressed image whose header passed the checks (format, decode budget); decoded later."""
    check_compressed(msg, max_pixels)
    return msg


def engine_for(parameters: PerceptionParameters) -> InferenceEngine:
    """The network of the node's parameters, through the one model factory."""
    return build_engine(
        parameters.model,
        parameters.weights or None,
        parameters.backend,
        parameters.device,
        random_weights=parameters.random_weights,
        precision=parameters.precision,
        guard_clips=people_clips_from(),
    )


def pipeline_for(parameters: PerceptionParameters, engine: InferenceEngine) -> Pipeline:
    """The ROS-free pipeline configured from the node's parameters."""
    from_topic = parameters.detector == "topic"  # boxes come with each frame: no detector of our own
    config = PipelineConfig(
        detector="full-frame" if from_topic else parameters.detector,
        detector_weights=parameters.detector_weights or None,
        detector_device=parameters.device,
        max_people=parameters.max_people,
        # -1: the detector's own threshold, which the pipeline resolves (topic boxes: full-frame's, 0)
        min_score=None if parameters.min_detection_score < 0 else parameters.min_detection_score,
        flip_tta=parameters.flip_tta,
        action_every_n_frames=parameters.action_every_n_frames,
        clip_stride=parameters.clip_stride or None,
        smoothing=parameters.smoothing,
        track_timeout_s=parameters.track_timeout,
        action_scoring=parameters.action_scoring,
        mirrored_action_pass=parameters.mirrored_action_pass,
        action_window=parameters.action_window,
        depth_scale_from_window=parameters.depth_scale_from_window,
        crop_source=parameters.crop_source,
        detect_every_n_frames=parameters.detect_every_n_frames,
    )
    return Pipeline(engine, config, GivenBoxesDetector() if from_topic else None)


class PerceptionNode(Node):
    """Runs the pipeline on the newest camera frame and publishes what it finds."""

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        # destroy_node also runs when __init__ fails half way (missing weights): it needs these two.
        self.slot: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        try:
            self._start()
        except BaseException:  # a failed or interrupted start: no worker thread may outlive the node
            self.destroy_node()
            raise

    def _start(self) -> None:
        """Parameters, network, publishers, subscriptions, worker; `ready:` is its last line."""
        self.parameters = declare_parameters(self)
        self.engine = engine_for(self.parameters)
        self.stream = LiveStream(pipeline_for(self.parameters, self.engine), self.parameters.track_timeout)
        self.bones = self.stream.pipeline.layout.bones
        # Untrained confidences sit near 0: with random weights every joint is drawn, or nothing would be.
        random = self.engine.random_weights
        self.min_joint_confidence = 0.0 if random else self.parameters.min_joint_confidence
        # changed live by the worker between frames, with the latched label list that states it
        self.min_action_confidence = self.parameters.min_action_confidence
        self.stats = PerceptionStats()
        self.stats.backend = self.engine.backend
        self.stats.device = self.engine.device
        self._last_header: Header | None = None
        self._last_warning: dict[str, float] = {}
        self._reported_counts: dict[str, int] = {}
        self._reported_lost = 0
        self._lost_frames = LostFrameCounter()
        self.enable_switch = EnableSwitch(self.parameters.enabled)
        self._paused = False  # the last image arrived while disabled
        self.marker_lifetime = MarkerLifetime(self.parameters.marker_lifetime)
        self._live_lock = threading.Lock()
        self._live_changes: set[str] = set()  # names set live, applied by the worker
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)  # timers that sim time cannot stop
        self._transforms = transform_source(self, TF_STATIC_QOS) if self.parameters.output_frame else None
        self._create_publishers()
        self._create_subscriptions()
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(self.parameters.diagnostics_period, self._publish_diagnostics, clock=self._steady)
        self._worker = threading.Thread(target=self._work, name="deephar_inference", daemon=True)
        self._worker.start()
        if self.engine.random_weights:
            self.get_logger().warning(
                "random_weights is set: the network has RANDOM weights, every skeleton and action it "
                "publishes is meaningless (plumbing tests only); markers show every joint"
            )
        self.get_logger().info(
            f"ready: model {self.parameters.model}, {self.engine.selection}, "
            f"listening on {self.resolve_topic_name('image')}"
        )

    def _create_publishers(self) -> None:
        self._skeletons = self.create_publisher(SkeletonArray, "skeletons", OUTPUT_QOS)
        self._actions = self.create_publisher(ActionRecognitionArray, "actions", OUTPUT_QOS)
        self._markers = self.create_publisher(MarkerArray, "markers", OUTPUT_QOS)
        self._debug_image = (
            self.create_publisher(Image, "debug_image", OUTPUT_QOS)
            if self.parameters.publish_debug_image
            else None
        )
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._standard = StandardOutputs(
            self, self.parameters, OUTPUT_QOS, self.min_joint_confidence, self.stream.pipeline.min_score
        )
        label_set = self.engine.config.label_set
        self._action_labels = ActionLabelTopics(
            self, label_set, load_labels(label_set), self.min_action_confidence
        )

    def _create_subscriptions(self) -> None:
        qos = camera_qos(self.parameters)
        auto = self.parameters.qos_reliability == "auto"
        self._pairer: ApproximateTimePairer[tuple[Header, np.ndarray, float], np.ndarray] = (
            ApproximateTimePairer(self.parameters.depth_slop, queue_size=self.parameters.qos_depth)
        )  # depth as late as the subscriptions' history still meets its image
        if self.parameters.image_transport == "compressed":
            colour_type, colour_topic = CompressedImage, self.resolve_topic_name("image") + "/compressed"
            self._to_frame_image = functools.partial(
                _header_checked, max_pixels=self.parameters.max_image_pixels
            )
        else:
            colour_type, colour_topic = Image, "image"
            self._to_frame_image = functools.partial(
                image_to_rgb, max_pixels=self.parameters.max_image_pixels
            )
        self._matched: list[MatchedSubscription] = []
        # What the colour images are paired with by stamp, if anything: "depth" or "detections".
        self._pairing = "depth" if self.parameters.use_depth else None
        self._unpaired = (
            f"(none within {self.parameters.depth_slop} s, or late by more than the queue, "
            "or a newer image's pair came first)"
        )
        if self.parameters.detector == "topic":
            # a clear start-up error without vision_msgs
            detections_type = vision_types("detector is 'topic'").detection_array
            self._pairing, self._unpaired = "detections", "of the same stamp (the detector skipped it?)"
            # detectors copy their image's header
            self._pairer = ApproximateTimePairer(0.0, reorder=DETECTIONS_REORDER)
            self._matched.append(
                MatchedSubscription(self, detections_type, "detections_in", self._on_detections, qos, auto)
            )
        if self.parameters.use_depth and ApproximateTimeSynchronizer is not None:
            if auto:  # message_filters owns these subscriptions: the publishers are judged once, now
                qos = camera_qos(
                    self.parameters, publishers_reliability(self, self.resolve_topic_name(colour_topic))
                )
            self._synchroniser = ApproximateTimeSynchronizer(
                [
                    MessageFilterSubscriber(self, colour_type, colour_topic, qos_profile=qos),
                    MessageFilterSubscriber(self, Image, "depth", qos_profile=qos),
                ],
                queue_size=self.parameters.qos_depth,
                slop=self.parameters.depth_slop,
            )
            self._synchroniser.registerCallback(self._on_colour_and_depth)
        else:
            self._matched.append(
                MatchedSubscription(self, colour_type, colour_topic, self._on_colour, qos, auto)
            )
            if self.parameters.use_depth:
                self._matched.append(MatchedSubscription(self, Image, "depth", self._on_depth, qos, auto))
        self._matched.append(
            MatchedSubscription(self, CameraInfo, "camera_info", self._on_camera_info, qos, auto)
        )
        if auto:
            self.create_timer(QOS_REFRESH_PERIOD_S, self._refresh_subscriptions, clock=self._steady)

    def _refresh_subscriptions(self) -> None:
        """qos_reliability auto: follow the publishers' reliability when they change."""
        for subscription in self._matched:
            if subscription.refresh():
                reliability = subscription.reliability.name.lower()
                self.get_logger().info(
                    f"{subscription.topic}: publishers changed, now subscribed {reliability}"
                )

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away."""
        self.slot.close()
        if self._worker is not None:
            self._worker.join()
        super().destroy_node()

    # Callbacks: convert, validate, hand over. Nothing slow runs here.

    def _accept(self, header: Header) -> bool:
        """Count an arriving image, and the frames lost before it; False while disabled (~/enable)."""
        if not self.enable_switch.enabled:
            self._paused = True
            return False
        if self._paused:  # the gap of the pause is no loss
            self._paused = False
            self._lost_frames = LostFrameCounter()
        self.stats.frame_received()
        lost = self._lost_frames.add(time_to_ns(header.stamp))
        if lost:
            self.stats.frames_lost(lost)
        return True

    def _on_colour(self, msg: Image | CompressedImage) -> None:
        if not self._accept(msg.header):
            return
        received = time.monotonic()
        image = self._convert(self._to_frame_image, msg, "image")
        if image is None:
            return
        if not self._pairing:
            self._submit(msg.header, image, received)
            return
        pairs, unpaired = self._pairer.add_colour(
            time_to_ns(msg.header.stamp) / 1e9, (msg.header, image, received)
        )
        for _ in range(unpaired):
            self._refuse(
                f"{self._pairing}_unpaired", f"no {self._pairing} paired with an image {self._unpaired}"
            )
        self._submit_pairs(pairs)

    def _on_depth(self, msg: Image) -> None:
        depth = self._convert(depth_to_metres, msg, "depth")
        if depth is None:
            return
        self._submit_pairs(self._pairer.add_depth(time_to_ns(msg.header.stamp) / 1e9, depth))

    def _on_detections(self, msg: object) -> None:
        """Another detector's boxes for one image (detector: topic); paired with it by stamp."""
        boxes = self._convert(
            lambda m: boxes_from_detections(m, self.parameters.person_class_ids), msg, "detections"
        )
        if boxes is None:
            return
        self._submit_pairs(self._pairer.add_depth(time_to_ns(msg.header.stamp) / 1e9, boxes))

    def _on_colour_and_depth(self, colour: Image | CompressedImage, depth_msg: Image) -> None:
        """A pair from message_filters' ApproximateTimeSynchronizer (ROS installs that have it)."""
        if not self._accept(colour.header):
            return
        received = time.monotonic()
        image = self._convert(self._to_frame_image, colour, "image")
        depth = None if image is None else self._convert(depth_to_metres, depth_msg, "depth")
        if depth is not None:
            self._submit(colour.header, image, received, depth=depth)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        intrinsics = self._convert(camera_info_to_intrinsics, msg, "camera_info")
        if intrinsics is not None:
            self.stream.set_intrinsics(intrinsics)

    def _convert(
        self, converter: Callable[[Message], Converted], msg: Message, reason: str
    ) -> Converted | None:
        """converter(msg), or None after counting and warning when the message is bad."""
        try:
            return converter(msg)
        except ImageConversionError as error:  # a decode-budget refusal is counted by its own reason
            self._refuse(f"{reason}_{error.reason}" if error.reason else reason, str(error))
        except Exception as error:  # a case the validation missed must not end the executor's spin
            self._refuse(reason, f"unexpected {type(error).__name__} converting a message: {error}")
        return None

    def _submit(
        self,
        header: Header,
        image: np.ndarray | CompressedImage,
        received: float,
        depth: np.ndarray | None = None,
        boxes: list[Box] | None = None,
    ) -> None:
        if self.slot.put(_Frame(header, image, depth, boxes, received)):
            self.stats.frame_dropped()

    def _submit_pairs(
        self, pairs: list[tuple[tuple[Header, np.ndarray | CompressedImage, float], object]]
    ) -> None:
        """Images and what the pairer matched to each, oldest first: its depth image, or its detections."""
        for (header, image, received), partner in pairs:
            if self._pairing == "detections":
                self._submit(header, image, received, boxes=partner)
            else:
                self._submit(header, image, received, depth=partner)

    # Counting and throttled warnings.

    def _refuse(self, reason: str, text: str) -> None:
        """Count a refused input under reason; warn at most once per WARNING_PERIOD_S per reason."""
        self._warn(f"bad_input.{reason}", text, self.stats.bad(reason))

    def _notice(self, notice: Notice) -> None:
        """Count a frame processed despite something odd; warn at most once per WARNING_PERIOD_S."""
        self._warn(f"condition.{notice.reason}", notice.text, self.stats.condition(notice.reason))

    def _warn(self, key: str, text: str, count: int) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(key, -WARNING_PERIOD_S) >= WARNING_PERIOD_S:
            self._last_warning[key] = now
            self.get_logger().warning(f"{text} ({key}: {count} so far)")

    # Worker thread: the newest frame through the stream, then the messages out.

    def _work(self) -> None:
        while True:
            frame = self.slot.take(timeout=self.stream.silence_timeout_s)
            if self.slot.closed:
                return
            try:
                self._apply_live_changes()
                if frame is None:
                    self._on_silence()
                else:
                    self._process(frame)
            except Exception as error:  # one bad frame must not stop the node
                if not self.context.ok():  # shutting down: the publishers are gone
                    return
                count = self.stats.frame_failed()
                self._warn(
                    "frames_failed", f"processing a frame failed: {type(error).__name__}: {error}", count
                )

    def _on_silence(self) -> None:
        """No image for track_timeout seconds: the camera stopped, so its tracks end now."""
        step = self.stream.camera_silent()
        for notice in step.notices:
            self._notice(notice)
        self._standard.retire(step.result.retired_track_ids)
        if step.result.retired_track_ids and self._last_header is not None:
            self._markers.publish(
                frame_markers(
                    step.result,
                    self._last_header,
                    self.bones,
                    self.min_joint_confidence,
                    self.marker_lifetime.minimum_s,
                )
            )

    def _process(self, frame: _Frame) -> None:
        image, reduction, full_size = frame.image, 1, None
        if isinstance(image, CompressedImage):  # decoded here, newest first: a flood cannot starve the camera
            decoded = self._convert(self._decode_compressed, image, "image")
            if decoded is None:
                return
            image, reduction, full_size = decoded
        image_frame = frame.header.frame_id
        frame_id = self.parameters.output_frame or image_frame
        if not frame_id:
            self._notice(
                Notice("frame_id_missing", "image has an empty frame_id and output_frame is not set")
            )
        stamp_ns = time_to_ns(frame.header.stamp)
        step = self.stream.process(image, stamp_ns, frame.depth, frame.boxes, reduction, full_size)
        for notice in step.notices:
            self._notice(notice)
        if step.result.non_finite_people:  # the rest of the frame is published
            dropped = f"{step.result.non_finite_people} person(s) dropped: the network gave NaN joints"
            self._notice(Notice("non_finite_people", dropped))
        self.stats.frame_processed((time.monotonic() - frame.received) * 1000.0)
        if frame_id != image_frame:
            try:
                transform = self._transforms.lookup(frame_id, image_frame, stamp_ns)
            except TransformUnavailable as error:
                self._notice(
                    Notice(
                        "transform_missing",
                        f"no transform from the image's frame '{image_frame}' to output_frame "
                        f"'{frame_id}' at the image stamp, the frame's outputs are not published: {error}",
                    )
                )
                self._standard.retire(step.result.retired_track_ids)
                return
            step.result = result_in_frame(step.result, transform)
        self._last_header = Header(stamp=frame.header.stamp, frame_id=frame_id)
        self._publish(step, self._last_header, frame.header, image, reduction)

    def _decode_compressed(self, msg: CompressedImage) -> tuple[np.ndarray, int, tuple[int, int]]:
        """A compressed image at the size the decode budget allows (max_decode_side); see image_conversion."""
        return compressed_to_reduced_rgb(
            msg, self.parameters.max_image_pixels, self.parameters.max_decode_side
        )

    def _publish(
        self, step: StreamStep, header: Header, image_header: Header, image: np.ndarray, reduction: int = 1
    ) -> None:
        """header: the output frame's, for the 3D outputs; image_header: the image's, for the 2D ones.

        `image` was decoded at 1/`reduction`; the result is in the full image's pixels.
        """
        result, min_action = step.result, self.min_action_confidence
        self._skeletons.publish(skeleton_array(result, header))
        self._actions.publish(action_array(result, header, self.parameters.action_top_k, min_action))
        lifetime = self.marker_lifetime.update(time.monotonic())
        markers = frame_markers(result, header, self.bones, self.min_joint_confidence, lifetime, min_action)
        if markers.markers:
            self._markers.publish(markers)
        self._standard.publish(result, header, image_header)
        if self._debug_image is not None:
            banner = weights_banner(self.engine.random_weights)
            drawn = result
            if reduction > 1:  # the debug image is the decoded one: draw the result at its size
                drawn = in_image_of_size(result, 1.0 / reduction, image.shape[1], image.shape[0])
            annotated = draw_result(image, drawn, self.bones, banner, self.min_joint_confidence, min_action)
            self._debug_image.publish(rgb_to_image(annotated, image_header))

    # Live parameters: checked on the executor's thread, applied on the worker's between frames.

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """`ros2 param set` of a live parameter: refused with the reason, or queued for the worker.

        rclpy has already refused the read-only ones and values out of range; parameters that are
        not ours (use_sim_time) pass to rclpy's own handling.
        """
        ours = [parameter for parameter in parameters if parameter.name in LIVE_PARAMETERS]
        if not ours:
            return SetParametersResult(successful=True)
        reason = live_change_refusal(self.parameters, ours)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        with self._live_lock:
            self.parameters = changed(self.parameters, ours)
            self._live_changes.update(parameter.name for parameter in ours)
        if any(parameter.name == "enabled" for parameter in ours):
            self.enable_switch.set(self.parameters.enabled)  # at once: images stop being taken now
        self.get_logger().info(
            "set live: " + ", ".join(f"{parameter.name}={parameter.value!r}" for parameter in ours)
        )
        return SetParametersResult(successful=True)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """~/enable: the switch, with the `enabled` parameter kept the same."""
        response = self.enable_switch.on_set_bool(request, response)
        if self.parameters.enabled != self.enable_switch.enabled:
            self.set_parameters([Parameter("enabled", value=self.enable_switch.enabled)])
        return response

    def _apply_live_changes(self) -> None:
        """The values set live since the last frame, into the pipeline and the outputs."""
        with self._live_lock:
            names, self._live_changes = self._live_changes, set()
            parameters = self.parameters
        if not names:
            return
        pipeline = self.stream.pipeline
        min_score = parameters.min_detection_score
        if min_score < 0:  # the detector's own, as at start-up (topic boxes: full-frame's)
            min_score = default_min_score(pipeline.config.detector)
        pipeline.min_score = pipeline.detector.min_score = min_score
        pipeline.config.max_people = pipeline.detector.max_people = parameters.max_people
        pipeline.config.detect_every_n_frames = parameters.detect_every_n_frames
        if pipeline.config.smoothing != parameters.smoothing:
            pipeline.config.smoothing = parameters.smoothing
            pipeline.filters.clear()  # a filter switched back on starts from the next joints, not old ones
        if "min_joint_confidence" in names:  # as given, with random weights too: the operator asked
            self.min_joint_confidence = parameters.min_joint_confidence
        self.marker_lifetime.minimum_s = parameters.marker_lifetime
        self._standard.set_thresholds(self.min_joint_confidence, min_score)
        if "min_action_confidence" in names:
            self.min_action_confidence = parameters.min_action_confidence
            self._action_labels.set_threshold(self.min_action_confidence)

    def _publish_diagnostics(self) -> None:
        """The stats, at WARN level naming every bad-input or condition count that grew since last time."""
        counts = self.stats.counts()
        warnings = [
            f"{key}: {count - self._reported_counts.get(key, 0)} new"
            for key, count in sorted(counts.items())
            if count > self._reported_counts.get(key, 0)
        ]
        self._reported_counts = counts
        if not self.enable_switch.enabled:
            warnings.append("disabled through ~/enable: images are ignored")
        elif self.stats.received == 0:
            warnings.append(f"no image received on {self.resolve_topic_name('image')}")
        if self.stats.lost > self._reported_lost:
            warnings.append(
                f"frames_lost: {self.stats.lost - self._reported_lost} new (gaps in the camera's stamps: "
                "try qos_reliability reliable)"
            )
            self._reported_lost = self.stats.lost
        self.stats.set_setting("enabled", str(self.enable_switch.enabled).lower())
        if self.engine.random_weights:
            warnings.append("random weights: every output is meaningless")
        if self.get_parameter("use_sim_time").value and self.get_clock().now().nanoseconds == 0:
            warnings.append("use_sim_time is true but no /clock has come: ROS time reads 0 (start the sim?)")
        if self.stream.clip_stride is not None:
            self.stats.set_setting("clip_stride", self.stream.clip_stride)
        if self.stream.frame_rate_hz is not None:
            self.stats.set_setting("frame_rate_hz", self.stream.frame_rate_hz)
        memory_mb = self.engine.device_memory_mb()
        if memory_mb is not None:
            self.stats.set_setting("gpu_memory_reserved_mb", memory_mb)
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diagnostics.publish(
            diagnostic_array(self.stats, header, f"{self.get_name()}: perception", warnings)
        )


def main(args: list[str] | None = None) -> int:
    """Entry point of the perception_node executable; non-zero exit when start-up fails."""
    return run_node(NODE_NAME, PerceptionNode, rclpy.spin, args)


if __name__ == "__main__":
    sys.exit(main())
