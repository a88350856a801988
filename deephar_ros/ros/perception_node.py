"""The deephar_perception node: camera images in, skeletons, actions, markers and diagnostics out.

A thin adapter over the ROS-free Pipeline. Callbacks only convert and validate messages and put
the frame in a one-frame slot; a worker thread runs the pipeline on the newest frame, so a busy
network drops old frames (counted) instead of building latency. Every bad input is refused with
a throttled warning, counted in the diagnostics, and the node keeps serving.

When no image arrives for track_timeout seconds (wall clock: the camera stopped), every track
retires with DELETE markers, so a camera that comes back starts new tracks. The stride of the
action clips follows the rate of the frames the pipeline actually gets, measured from their stamps
(see frame_rate.py), unless clip_stride is set.

Why a plain Node and not a lifecycle node (rclpy has rclpy.lifecycle.LifecycleNode from Humble
to Kilted): the node owns no device that must be opened or released in steps; it loads its
weights in the constructor, so a missing or wrong file ends the process at once with an error
and a non-zero exit that `ros2 launch` shows; and a lifecycle node that no lifecycle manager
configures publishes nothing and says nothing, the silent failure users complain about. Every
parameter is read-only, so restarting the node is the reconfiguration path.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from deephar_ros.camera import CameraIntrinsics
from deephar_ros.config import get_preset
from deephar_ros.engine import InferenceEngine, create_engine
from deephar_ros.keras_weights import load_model, random_model
from deephar_ros.msg import ActionRecognitionArray, SkeletonArray
from deephar_ros.pipeline import Pipeline, PipelineConfig
from deephar_ros.results import DEPTH_FROM_SIZE, FrameResult
from deephar_ros.ros.diagnostics import PerceptionStats, diagnostic_array
from deephar_ros.ros.frame_rate import FrameRateEstimator
from deephar_ros.ros.frame_slot import ApproximateTimePairer, LatestSlot
from deephar_ros.ros.image_conversion import (
    ImageConversionError,
    camera_info_to_intrinsics,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image,
)
from deephar_ros.ros.markers import frame_markers
from deephar_ros.ros.node_main import run_node
from deephar_ros.ros.parameters import PerceptionParameters, declare_parameters
from deephar_ros.ros.result_messages import action_array, skeleton_array, time_to_stamp
from deephar_ros.video import RANDOM_WEIGHTS_BANNER, draw_result

try:  # RGB-D pairing on ROS installs; message_filters is not on PyPI, see ApproximateTimePairer
    from message_filters import ApproximateTimeSynchronizer
    from message_filters import Subscriber as MessageFilterSubscriber
except ImportError:
    ApproximateTimeSynchronizer = None

NODE_NAME = "deephar_perception"
WARNING_PERIOD_S = 5.0
OUTPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
Message = Image | CompressedImage | CameraInfo
Converted = TypeVar("Converted")


@dataclass
class _Frame:
    """One validated camera frame waiting for the worker."""

    header: Header
    image: np.ndarray  # uint8 (H, W, 3) RGB
    depth: np.ndarray | None  # float32 (H, W) metres
    received: float  # time.monotonic() when the image arrived


def camera_qos(parameters: PerceptionParameters) -> QoSProfile:
    """Sensor-data QoS (keep last, volatile) with the configured reliability and depth."""
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


def build_engine(parameters: PerceptionParameters) -> InferenceEngine:
    """The network (released weights, or random ones when asked) on the chosen back end."""
    config = get_preset(parameters.model)
    model = random_model(config) if parameters.random_weights else load_model(parameters.weights, config)
    return create_engine(model, backend=parameters.backend, device=parameters.device)


def build_pipeline(parameters: PerceptionParameters, engine: InferenceEngine) -> Pipeline:
    """The ROS-free pipeline configured from the node's parameters."""
    config = PipelineConfig(
        detector=parameters.detector,
        max_people=parameters.max_people,
        min_score=parameters.min_detection_score,
        flip_tta=parameters.flip_tta,
        action_every_n_frames=parameters.action_every_n_frames,
        clip_stride=parameters.clip_stride or None,
        smoothing=parameters.smoothing,
        track_timeout_s=parameters.track_timeout,
    )
    return Pipeline(engine, config)


class PerceptionNode(Node):
    """Runs the pipeline on the newest camera frame and publishes what it finds."""

    def __init__(self, **node_options) -> None:
        super().__init__(NODE_NAME, **node_options)
        # destroy_node also runs when __init__ fails half way (missing weights): it needs these two.
        self.slot: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        self.parameters = declare_parameters(self)
        if self.parameters.random_weights:
            self.get_logger().warning(
                "random_weights is set: the network has RANDOM weights, every skeleton and action it "
                "publishes is meaningless (plumbing tests only)"
            )
        engine = build_engine(self.parameters)
        self.pipeline = build_pipeline(self.parameters, engine)
        self.bones = self.pipeline.layout.bones
        self.stats = PerceptionStats()
        self.stats.backend = engine.backend
        self.stats.device = engine.device
        if self.pipeline.actions is not None:
            self.stats.set_setting("clip_stride", self.pipeline.actions.stride)
        self._frame_rate = FrameRateEstimator()
        self._live_tracks: set[int] = set()  # ids shown and not retired yet (worker thread only)
        self._last_header: Header | None = None
        self._pairer: ApproximateTimePairer[tuple[Header, np.ndarray, float], np.ndarray] = (
            ApproximateTimePairer(self.parameters.depth_slop)
        )
        self._intrinsics: CameraIntrinsics | None = None
        self._intrinsics_lock = threading.Lock()
        self._last_stamp: float | None = None
        self._last_warning: dict[str, float] = {}
        self._reported_counts: dict[str, int] = {}

        self._skeletons = self.create_publisher(SkeletonArray, "skeletons", OUTPUT_QOS)
        self._actions = self.create_publisher(ActionRecognitionArray, "actions", OUTPUT_QOS)
        self._markers = self.create_publisher(MarkerArray, "markers", OUTPUT_QOS)
        self._debug_image = (
            self.create_publisher(Image, "debug_image", OUTPUT_QOS)
            if self.parameters.publish_debug_image
            else None
        )
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        qos = camera_qos(self.parameters)
        if self.parameters.image_transport == "compressed":
            colour_type, colour_topic = CompressedImage, self.resolve_topic_name("image") + "/compressed"
            self._to_rgb = compressed_to_rgb
        else:
            colour_type, colour_topic = Image, "image"
            self._to_rgb = image_to_rgb
        if self.parameters.use_depth and ApproximateTimeSynchronizer is not None:
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
            self.create_subscription(colour_type, colour_topic, self._on_colour, qos)
            if self.parameters.use_depth:
                self.create_subscription(Image, "depth", self._on_depth, qos)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        self.create_timer(self.parameters.diagnostics_period, self._publish_diagnostics)

        self._worker = threading.Thread(target=self._work, name="deephar_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: model {self.parameters.model}, {engine.selection}, "
            f"listening on {self.resolve_topic_name('image')}"
        )

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away."""
        self.slot.close()
        if self._worker is not None:
            self._worker.join()
        super().destroy_node()

    # Callbacks: convert, validate, hand over. Nothing slow runs here.

    def _on_colour(self, msg: Image | CompressedImage) -> None:
        self.stats.frame_received()
        received = time.monotonic()
        image = self._convert(self._to_rgb, msg, "image")
        if image is None:
            return
        if not self.parameters.use_depth:
            self._submit(msg.header, image, received, None)
            return
        pair, unpaired = self._pairer.add_colour(
            time_to_stamp(msg.header.stamp), (msg.header, image, received)
        )
        for _ in range(unpaired):
            self._refuse(
                "depth_unpaired", f"no depth image within {self.parameters.depth_slop} s of an image"
            )
        if pair is not None:
            self._submit(*pair[0], pair[1])

    def _on_depth(self, msg: Image) -> None:
        depth = self._convert(depth_to_metres, msg, "depth")
        if depth is None:
            return
        pair = self._pairer.add_depth(time_to_stamp(msg.header.stamp), depth)
        if pair is not None:
            self._submit(*pair[0], pair[1])

    def _on_colour_and_depth(self, colour: Image | CompressedImage, depth_msg: Image) -> None:
        """A pair from message_filters' ApproximateTimeSynchronizer (ROS installs that have it)."""
        self.stats.frame_received()
        received = time.monotonic()
        image = self._convert(self._to_rgb, colour, "image")
        depth = None if image is None else self._convert(depth_to_metres, depth_msg, "depth")
        if depth is not None:
            self._submit(colour.header, image, received, depth)

    def _convert(
        self, converter: Callable[[Message], np.ndarray], msg: Message, reason: str
    ) -> np.ndarray | None:
        """converter(msg), or None after counting and warning when the message is bad."""
        try:
            return converter(msg)
        except ImageConversionError as error:
            self._refuse(reason, str(error))
        except Exception as error:  # a case the validation missed must not end the executor's spin
            self._refuse(reason, f"unexpected {type(error).__name__} converting a message: {error}")
        return None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        intrinsics = self._convert(camera_info_to_intrinsics, msg, "camera_info")
        if intrinsics is None:
            return
        with self._intrinsics_lock:
            self._intrinsics = intrinsics

    def _submit(self, header: Header, image: np.ndarray, received: float, depth: np.ndarray | None) -> None:
        if self.slot.put(_Frame(header, image, depth, received)):
            self.stats.frame_dropped()

    def _refuse(self, reason: str, text: str) -> None:
        """Count a refused input under reason; warn at most once per WARNING_PERIOD_S per reason."""
        self._warn(f"bad_input.{reason}", text, self.stats.bad(reason))

    def _notice(self, reason: str, text: str) -> None:
        """Count a frame processed despite something odd; warn at most once per WARNING_PERIOD_S."""
        self._warn(f"condition.{reason}", text, self.stats.condition(reason))

    def _warn(self, key: str, text: str, count: int) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(key, -WARNING_PERIOD_S) >= WARNING_PERIOD_S:
            self._last_warning[key] = now
            self.get_logger().warning(f"{text} ({key}: {count} so far)")

    # Worker thread: the newest frame through the pipeline, then the messages out.

    def _work(self) -> None:
        while True:
            frame = self.slot.take(timeout=self.parameters.track_timeout)
            if self.slot.closed:
                return
            try:
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
        if self._live_tracks:
            self._notice(
                "camera_silent",
                f"no image for {self.parameters.track_timeout} s: {len(self._live_tracks)} track(s) retired",
            )
        self._retire_all_tracks()

    def _retire_all_tracks(self) -> None:
        """Forget every track and clip (camera restart, time jump); DELETE markers for those shown."""
        self.pipeline.reset()
        self._frame_rate.reset()
        if self._live_tracks and self._last_header is not None:
            retired = FrameResult(stamp=0.0, width=0, height=0, retired_track_ids=sorted(self._live_tracks))
            self._markers.publish(
                frame_markers(
                    retired,
                    self._last_header,
                    self.bones,
                    self.parameters.min_joint_confidence,
                    self.parameters.marker_lifetime,
                )
            )
        self._live_tracks.clear()

    def _follow_frame_rate(self, stamp: float) -> None:
        """Once the rate of processed frames is known, rescale the authors' clip stride to it."""
        rate = self._frame_rate.add(stamp)
        if rate is None:
            return
        self.stats.set_setting("frame_rate_hz", rate)
        stride = self.pipeline.set_frame_rate(rate)
        if stride is not None:
            self.stats.set_setting("clip_stride", stride)

    def _process(self, frame: _Frame) -> None:
        height, width = frame.image.shape[:2]
        stamp = time_to_stamp(frame.header.stamp)
        if self._last_stamp is not None and stamp < self._last_stamp:
            self._notice(
                "stamp_backwards", f"image stamp went back {self._last_stamp - stamp:.3f} s: tracks reset"
            )
            self._retire_all_tracks()
        self._last_stamp = stamp
        self._follow_frame_rate(stamp)
        depth = frame.depth
        if depth is not None and depth.shape != (height, width):
            self._notice(
                "depth_size", f"depth image {depth.shape[::-1]} does not match image {(width, height)}"
            )
            depth = None
        frame_id = self.parameters.output_frame or frame.header.frame_id
        if not frame_id:
            self._notice("frame_id_missing", "image has an empty frame_id and output_frame is not set")
        result = self.pipeline.process(frame.image, stamp, self._intrinsics_for(width, height), depth)
        if depth is not None and any(person.depth_source == DEPTH_FROM_SIZE for person in result.people):
            self._notice("depth_fallback", "no valid depth pixel on a person: root depth from their size")
        self._live_tracks.difference_update(result.retired_track_ids)
        self._live_tracks.update(person.track_id for person in result.people)
        self._last_header = Header(stamp=frame.header.stamp, frame_id=frame_id)
        self._publish(result, self._last_header, frame.image)
        self.stats.frame_processed((time.monotonic() - frame.received) * 1000.0)

    def _intrinsics_for(self, width: int, height: int) -> CameraIntrinsics:
        """The camera_info intrinsics when they fit the image, else defaults (with a warning)."""
        with self._intrinsics_lock:
            intrinsics = self._intrinsics
        if intrinsics is None:
            self._notice(
                "camera_info_missing", "no camera_info received yet: default intrinsics (60 deg hfov)"
            )
            return CameraIntrinsics.default_for(width, height)
        if (intrinsics.width, intrinsics.height) != (width, height):
            self._notice(
                "camera_info_size",
                f"camera_info is for {intrinsics.width}x{intrinsics.height}, image is {width}x{height}: "
                "default intrinsics",
            )
            return CameraIntrinsics.default_for(width, height)
        return intrinsics

    def _publish(self, result: FrameResult, header: Header, image: np.ndarray) -> None:
        self._skeletons.publish(skeleton_array(result, header))
        self._actions.publish(action_array(result, header, self.parameters.action_top_k))
        markers = frame_markers(
            result, header, self.bones, self.parameters.min_joint_confidence, self.parameters.marker_lifetime
        )
        if markers.markers:
            self._markers.publish(markers)
        if self._debug_image is not None:
            banner = RANDOM_WEIGHTS_BANNER if self.parameters.random_weights else None
            annotated = draw_result(image, result, self.bones, banner, self.parameters.min_joint_confidence)
            self._debug_image.publish(rgb_to_image(annotated, header))

    def _publish_diagnostics(self) -> None:
        """The stats, at WARN level naming every bad-input or condition count that grew since last time."""
        counts = self.stats.counts()
        warnings = [
            f"{key}: {count - self._reported_counts.get(key, 0)} new"
            for key, count in sorted(counts.items())
            if count > self._reported_counts.get(key, 0)
        ]
        self._reported_counts = counts
        if self.stats.received == 0:
            warnings.append(f"no image received on {self.resolve_topic_name('image')}")
        if self.parameters.random_weights:
            warnings.append("random weights: every output is meaningless")
        if self.stats.device.startswith("cuda"):
            self.stats.set_setting(
                "gpu_memory_reserved_mb", torch.cuda.memory_reserved(self.stats.device) / 2**20
            )
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diagnostics.publish(
            diagnostic_array(self.stats, header, f"{self.get_name()}: perception", warnings)
        )


def main(args: list[str] | None = None) -> int:
    """Entry point of the perception_node executable; non-zero exit when start-up fails."""
    return run_node(NODE_NAME, PerceptionNode, rclpy.spin, args)


if __name__ == "__main__":
    sys.exit(main())
