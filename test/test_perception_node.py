"""The perception node: its parts (frame slot, depth pairing, stats, parameters) and the node itself
over real rclpy on loopback with the project's messages."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from engine_doubles import NTU
from geometry_msgs.msg import TransformStamped
from node_rig import Loopback
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from deephar_ros.model.keras_weights import WeightsFileError
from deephar_ros.msg import Skeleton
from deephar_ros.perception.action_buffer import authors_clip_stride
from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.ros.demo_source import camera_info
from deephar_ros.ros.diagnostics import PerceptionStats
from deephar_ros.ros.frame_slot import LatestSlot
from deephar_ros.ros.frame_transform import StaticTransforms, result_in_frame
from deephar_ros.ros.image_conversion import image_to_rgb, rgb_to_image
from deephar_ros.ros.parameters import (
    LIVE_PARAMETERS,
    PerceptionParameters,
    declare_parameters,
    live_change_refusal,
)
from deephar_ros.ros.perception_node import ApproximateTimeSynchronizer, PerceptionNode

# --- frame slot -------------------------------------------------------------------------------


def test_slot_keeps_only_the_newest_item_and_reports_replacements():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.pending() == 1
    assert slot.take(timeout=0) == 3
    assert slot.pending() == 0
    assert slot.take(timeout=0) is None


def test_slot_wakes_a_waiting_taker_and_close_releases_it():
    slot: LatestSlot[str] = LatestSlot()
    taken: list[str | None] = []
    taker = threading.Thread(target=lambda: taken.extend([slot.take(), slot.take()]))
    taker.start()
    slot.put("frame")
    while slot.pending():
        pass
    slot.close()
    taker.join(timeout=5)
    assert not taker.is_alive()
    assert taken == ["frame", None]


# --- depth pairing ------------------------------------------------------------------------------


# --- stats --------------------------------------------------------------------------------------


def test_stats_count_rates_and_latency_percentiles():
    now = [100.0]
    stats = PerceptionStats(clock=lambda: now[0])
    for i in range(11):
        now[0] = 100.0 + i * 0.1
        stats.frame_received()
        if i % 2 == 0:
            stats.frame_processed(latency_ms=float(i))
    stats.frame_dropped(3)
    stats.bad("image")
    stats.bad("image")
    stats.bad("depth")
    stats.condition("camera_info_missing")
    values = stats.snapshot()
    assert values["frames_received"] == 11 and values["frames_processed"] == 6
    assert values["frames_dropped"] == 3 and values["bad_input_total"] == 3
    assert values["bad_input.image"] == 2 and values["bad_input.depth"] == 1
    assert values["condition.camera_info_missing"] == 1
    assert values["input_rate_hz"] == pytest.approx(10.0)
    assert values["processed_rate_hz"] == pytest.approx(5.0)
    assert values["latency_p50_ms"] == pytest.approx(5.0)
    now[0] += 60.0  # everything fell out of the window
    assert stats.snapshot()["input_rate_hz"] == 0.0


# --- parameters ---------------------------------------------------------------------------------

# What pipeline_for needs of an engine: the network's config.
ENGINE_DOUBLE = SimpleNamespace(config=NTU, backend="test", device="cpu")


def declared(rclpy_context, **overrides) -> PerceptionParameters:
    node = Node(
        "parameter_test",
        context=rclpy_context,
        parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
    )
    try:
        return declare_parameters(node)
    finally:
        node.destroy_node()


def test_parameters_take_their_defaults_and_overrides(rclpy_context):
    parameters = declared(rclpy_context, random_weights=True, max_people=2, output_frame="base")
    assert parameters == PerceptionParameters(random_weights=True, max_people=2, output_frame="base")


def test_live_parameters_are_writable_and_the_others_say_a_restart_is_needed(rclpy_context):
    node = Node(
        "descriptor_test",
        context=rclpy_context,
        parameter_overrides=[Parameter("random_weights", value=True)],
    )
    try:
        declare_parameters(node)
        names = list(PerceptionParameters.__dataclass_fields__)
        for name, descriptor in zip(names, node.describe_parameters(names), strict=True):
            live = name in LIVE_PARAMETERS
            assert descriptor.read_only is not live, name
            assert ("Live:" if live else "restart the node") in descriptor.description, name
    finally:
        node.destroy_node()
    assert {
        "min_joint_confidence",
        "min_detection_score",
        "max_people",
        "smoothing",
        "enabled",
        "min_action_confidence",
    } <= LIVE_PARAMETERS


def test_a_live_change_is_checked_as_at_start_up():
    topic = PerceptionParameters(random_weights=True, detector="topic")
    refusal = live_change_refusal(topic, [Parameter("person_class_ids", value=[])])
    assert refusal is not None and "person_class_ids is empty" in refusal
    assert live_change_refusal(topic, [Parameter("person_class_ids", value=["1"])]) is None
    assert live_change_refusal(topic, [Parameter("max_people", value=3)]) is None


@pytest.mark.parametrize(
    ("overrides", "threshold"),
    [
        ({}, 0.6),  # HOG's own
        ({"detector": "yolox-tiny"}, 0.3),  # YOLOX scores are probabilities
        ({"detector": "topic"}, 0.0),  # the other detector chose its threshold
        ({"detector": "yolox-tiny", "min_detection_score": 0.55}, 0.55),
    ],
)
def test_the_detection_threshold_is_the_detectors_own_unless_given(overrides, threshold, monkeypatch):
    from deephar_ros.perception import pipeline
    from deephar_ros.perception.detection import FullFrameDetector
    from deephar_ros.ros.perception_node import pipeline_for

    # the threshold is what is under test, not the YOLOX file: any detector stands in
    monkeypatch.setattr(pipeline, "create_detector", lambda *a, **k: FullFrameDetector())
    parameters = PerceptionParameters(random_weights=True, **overrides)
    assert pipeline_for(parameters, ENGINE_DOUBLE).min_score == threshold


def test_the_pipeline_gets_the_detector_file_device_and_the_authors_clip_options(tmp_path, monkeypatch):
    from deephar_ros.ros.perception_node import pipeline_for

    parameters = PerceptionParameters(
        random_weights=True, detector="full-frame", action_window="frame", depth_scale_from_window=False
    )
    pipeline = pipeline_for(parameters, ENGINE_DOUBLE)
    config = pipeline.config
    assert (config.action_window, config.depth_scale_from_window, config.detector_device) == (
        "frame",
        False,
        "auto",
    )
    assert pipeline.min_score == 0.0
    monkeypatch.setenv("DEEPHAR_ROS_CACHE", str(tmp_path))  # an empty cache: nothing downloaded
    with pytest.raises(ValueError, match="deephar-ros download --detector yolox-nano"):
        pipeline_for(PerceptionParameters(random_weights=True, detector="yolox-nano"), ENGINE_DOUBLE)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"random_weights": True, "min_joint_confidence": 1.5},
            InvalidParameterValueException,
            "min_joint_confidence",
        ),
        ({"random_weights": True, "qos_depth": 0}, InvalidParameterValueException, "qos_depth"),
        (
            {"random_weights": True, "min_action_confidence": 1.5},
            InvalidParameterValueException,
            "min_action_confidence",
        ),
        ({"random_weights": True, "model": "resnet"}, ValueError, "model='resnet'"),
        ({"random_weights": True, "backend": "fastest"}, ValueError, "backend='fastest'"),
        ({"random_weights": True, "detector": "yolo"}, ValueError, "detector='yolo'"),
        ({"random_weights": True, "qos_reliability": "sometimes"}, ValueError, "qos_reliability"),
        ({"random_weights": True, "image_transport": "theora"}, ValueError, "image_transport"),
        ({}, ValueError, "weights is empty"),
        ({"weights": "w.h5", "random_weights": True}, ValueError, "choose one"),
        ({"random_weights": True, "action_window": "sliding"}, ValueError, "action_window='sliding'"),
        ({"random_weights": True, "detector_weights": "x.onnx"}, ValueError, "takes no weights file"),
        (
            {"random_weights": True, "min_detection_score": -2.0},
            InvalidParameterValueException,
            "min_detection",
        ),
    ],
)
def test_invalid_parameters_are_refused_with_a_message(rclpy_context, overrides, error, message):
    with pytest.raises(error, match=message):
        declared(rclpy_context, **overrides)


# --- the node over rclpy ------------------------------------------------------------------------


# A small frame: the whole-frame detector makes one 256x256 crop of it, so the network dominates.
FRAME = np.random.default_rng(1).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
# Long enough that a test machine stalling between two frames never reads as the camera stopping.
PATIENT_TRACK_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def harness(rclpy_module_context):
    """One node for the module (building the network is the slow part); tests compare counter deltas."""
    built = Loopback(
        rclpy_module_context,
        FRAME,
        clip_stride=1,
        action_top_k=3,
        min_joint_confidence=0.0,
        qos_reliability="reliable",
        qos_depth=100,
        publish_debug_image=True,
        output_frame="",
        diagnostics_period=0.2,
        track_timeout=PATIENT_TRACK_TIMEOUT_S,
    )
    yield built
    built.close()


def time_ns(time: Time) -> int:
    return time.sec * 10**9 + time.nanosec


def stamp_ns(msg) -> int:
    return time_ns(msg.header.stamp)


def test_frames_give_skeletons_actions_markers_and_diagnostics_with_the_image_stamp(harness):
    config = harness.node.stream.pipeline.engine.config
    headers = []
    for i in range(config.num_frames + 1):  # clip_stride 1: the 8th frame completes the first clip
        headers.append(harness.publish(1_000_000_000_000 + i * 100_000_000))
        harness.answer_for(headers[-1])
    wanted = {time_ns(h.stamp) for h in headers}
    for name in ("skeletons", "actions", "debug_image"):
        harness.spin_until(lambda name=name: wanted <= {stamp_ns(m) for m in harness.received[name]})
    marked = {stamp_ns(marker) for array in harness.received["markers"] for marker in array.markers}
    harness.spin_until(
        lambda: (
            wanted
            <= marked.union(
                stamp_ns(marker) for array in harness.received["markers"] for marker in array.markers
            )
        )
    )
    last = next(m for m in harness.received["skeletons"] if m.header.stamp == headers[-1].stamp)
    assert last.header.frame_id == "test_camera"
    assert len(last.skeletons) == 1
    skeleton = last.skeletons[0]
    assert (
        len(skeleton.joint_names) == config.num_joints == len(skeleton.positions) == len(skeleton.confidences)
    )
    assert skeleton.header.stamp == headers[-1].stamp
    assert (skeleton.bounding_box.width, skeleton.bounding_box.height) == (64, 48)
    assert all(np.isfinite([p.z for p in skeleton.positions]))
    actions = [m for m in harness.received["actions"] if m.actions]
    assert actions, "no action after a full clip"
    action = actions[-1].actions[0]
    assert action.body_id == skeleton.body_id and len(action.labels) == len(action.label_ids) == 3
    # random weights score about chance (1/60): below the default min_action_confidence, no label
    assert action.score < 0.5 and action.uncertain and (action.label, action.label_id) == ("", -1)
    assert action.label_set == "ntu60"
    markers = next(
        m for m in harness.received["markers"] if m.markers and stamp_ns(m.markers[0]) == stamp_ns(last)
    )
    assert {marker.ns for marker in markers.markers} == {"bones", "joints", "labels"}
    assert all(marker.header.frame_id == "test_camera" for marker in markers.markers)
    annotated = image_to_rgb(
        next(m for m in harness.received["debug_image"] if m.header.stamp == last.header.stamp)
    )
    assert annotated.shape == FRAME.shape and not np.array_equal(
        annotated, FRAME
    )  # drawn on, banner included
    harness.spin_until(
        lambda: any(_values(m).get("frames_processed", "0") != "0" for m in harness.received["diagnostics"])
    )
    values = _values(harness.received["diagnostics"][-1])
    for key in ("input_rate_hz", "processed_rate_hz", "frames_dropped", "latency_p50_ms", "latency_p95_ms"):
        assert key in values
    assert (values["backend"], values["device"]) == ("cpu-eager", "cpu")


def _values(diagnostics: DiagnosticArray) -> dict[str, str]:
    return {kv.key: kv.value for kv in diagnostics.status[0].values}


def test_a_flood_of_frames_keeps_one_pending_counts_drops_and_answers_the_newest(harness, monkeypatch):
    # The network is held busy until the whole flood has arrived, so frames outrun it on any machine
    # and under any load (a fast network on an idle machine could otherwise keep up with 40 frames).
    flood_in = threading.Event()
    process = harness.node.stream.pipeline.process

    def busy_network(*args, **kwargs):
        flood_in.wait(timeout=120.0)
        return process(*args, **kwargs)

    monkeypatch.setattr(harness.node.stream.pipeline, "process", busy_network)
    stats = harness.node.stats
    before = stats.snapshot()
    before_done = before["frames_processed"] + before["frames_dropped"]
    first = 2_000_000_000_000
    headers = [harness.publish(first + i * 1_000_000) for i in range(40)]
    pending_seen = []

    def flood_received() -> bool:
        pending_seen.append(harness.node.slot.pending())
        return stats.received - before["frames_received"] == 40

    try:
        harness.spin_until(flood_received)
    finally:
        flood_in.set()
    newest = time_ns(headers[-1].stamp)
    harness.spin_until(lambda: newest in {stamp_ns(m) for m in harness.received["skeletons"]})
    # every frame is either answered or counted as dropped; none waits forever
    harness.spin_until(lambda: stats.processed + stats.dropped - before_done == 40)
    processed = stats.processed - before["frames_processed"]
    assert max(pending_seen) <= 1
    assert stats.dropped - before["frames_dropped"] == 40 - processed
    assert 1 <= processed < 40
    answered = [stamp_ns(m) for m in harness.received["skeletons"] if stamp_ns(m) >= first]
    assert answered == sorted(answered) and len(answered) == processed  # never an older frame after a newer
    assert answered[-1] == newest


def test_bad_messages_are_counted_and_the_node_keeps_serving(harness):
    stats = harness.node.stats
    before = dict(stats.bad_input)
    good = rgb_to_image(FRAME, Header())
    harness.publish(3_000_000_000_000, step=good.step - 1)  # step too small for the width
    harness.publish(3_000_000_000_001, data=bytes(good.data)[:-5])  # truncated
    harness.publish(3_000_000_000_002, encoding="16UC1")  # depth on the colour topic
    harness.publish(3_000_000_000_003, encoding="bayer_unknown")
    harness.publish(3_000_000_000_004, width=0, height=0, step=0, data=b"")
    harness.publish(3_000_000_000_005, width=20000, height=20000, step=60000)  # absurd declared size
    bad_info = CameraInfo(width=64, height=48, k=[0.0] * 9)  # uncalibrated
    harness.peer.info_out.publish(bad_info)
    harness.spin_until(lambda: stats.bad_input["image"] - before.get("image", 0) == 6)
    harness.spin_until(lambda: stats.bad_input["camera_info"] - before.get("camera_info", 0) == 1)
    clean = harness.publish(3_000_000_001_000)
    assert len(harness.answer_for(clean).skeletons) == 1
    reported = len(harness.received["diagnostics"])
    harness.spin_until(lambda: len(harness.received["diagnostics"]) > reported)
    harness.spin_until(
        lambda: any(
            _values(m).get("bad_input.image") == str(stats.bad_input["image"])
            for m in harness.received["diagnostics"]
        )
    )
    warned = [
        m.status[0] for m in harness.received["diagnostics"] if "bad_input.image" in m.status[0].message
    ]
    assert warned and all(status.level == DiagnosticStatus.WARN for status in warned)


def test_camera_info_is_used_and_a_mismatching_one_is_refused_per_frame(harness):
    stats = harness.node.stats
    info = camera_info(CameraIntrinsics.default_for(64, 48, hfov_deg=70.0), Header(frame_id="test_camera"))
    harness.peer.info_out.publish(info)
    harness.spin_until(
        lambda: harness.node.stream.intrinsics is not None and harness.node.stream.intrinsics.width == 64
    )
    missing = stats.conditions["camera_info_missing"]
    harness.answer_for(harness.publish(4_000_000_000_000))
    assert stats.conditions["camera_info_missing"] == missing
    wrong_size = camera_info(CameraIntrinsics.default_for(640, 480), Header(frame_id="test_camera"))
    harness.peer.info_out.publish(wrong_size)
    harness.spin_until(lambda: harness.node.stream.intrinsics.width == 640)
    mismatched = stats.conditions["camera_info_size"]
    assert len(harness.answer_for(harness.publish(4_000_000_100_000)).skeletons) == 1
    assert stats.conditions["camera_info_size"] == mismatched + 1


def test_a_stamp_going_back_resets_the_tracks_and_is_counted(harness):
    stats = harness.node.stats
    harness.answer_for(harness.publish(5_000_000_000_000))
    backwards = stats.conditions["stamp_backwards"]
    answer = harness.answer_for(harness.publish(10_000_000))  # a simulated clock restarting
    assert len(answer.skeletons) == 1
    assert stats.conditions["stamp_backwards"] == backwards + 1


def mount_transform() -> TransformStamped:
    """A camera 1.2 m above base_link looking along its x axis (REP-103 optical frame)."""
    mount = TransformStamped(header=Header(frame_id="base_link"), child_frame_id="test_camera")
    mount.transform.translation.z = 1.2
    optical = mount.transform.rotation  # optical z forward = base x, x right = base -y, y down = base -z
    optical.x, optical.y, optical.z, optical.w = -0.5, 0.5, -0.5, 0.5
    return mount


def camera_mount() -> StaticTransforms:
    """/tf_static's tree of mount_transform."""
    static = StaticTransforms()
    static.add([mount_transform()])
    return static


def test_output_frame_transforms_the_points_and_depth_gives_the_root_depth(rclpy_module_context, monkeypatch):
    from deephar_ros.ros import perception_node

    # tf2_ros (and tf2_msgs for /tf_static) are not on PyPI: the node's transform source is given the
    # static transforms a robot's /tf_static would hold.
    monkeypatch.setattr(perception_node, "transform_source", lambda node, qos: camera_mount())
    camera_points = []  # each frame's joints in the camera frame, before the transform

    def recording(result, transform):
        camera_points.append(result.people[0].joints_3d.copy())
        return result_in_frame(result, transform)

    monkeypatch.setattr(perception_node, "result_in_frame", recording)
    harness = Loopback(
        rclpy_module_context,
        FRAME,
        namespace="/depth_test",
        qos_reliability="reliable",  # every image arrives: the unpaired count below is exact
        output_frame="base_link",
        use_depth=True,
        depth_slop=0.01,
    )
    try:
        harness.trust_every_joint()
        header = harness.publish(6_000_000_000_000)
        depth = Image(header=header, width=64, height=48, encoding="16UC1", step=128)
        depth.data = np.full((48, 64), 2500, np.uint16).tobytes()  # 2.5 m everywhere
        harness.peer.depth_out.publish(depth)
        answer = harness.answer_for(header)
        assert answer.header.frame_id == "base_link"
        # the camera-frame root the worker computed, moved by the mount by hand
        stream_root = harness.node.stream.pipeline.layout.root
        root = answer.skeletons[0].positions[stream_root]
        camera_root = camera_points[-1][stream_root]
        by_hand = (camera_root[2], -camera_root[0], 1.2 - camera_root[1])
        assert (root.x, root.y, root.z) == pytest.approx(by_hand)
        assert answer.skeletons[0].depth_source == Skeleton.DEPTH_FROM_IMAGE
        assert camera_root[2] == pytest.approx(2.5, abs=0.3)
        if ApproximateTimeSynchronizer is None:  # our pairer counts what message_filters drops silently
            unpaired = harness.node.stats.bad_input["depth_unpaired"]
            # Images without depth wait in a queue of 5 for theirs; the sixth pushes the first out.
            for k in range(1, 7):  # one at a time: the subscription keeps only the last qos_depth (5)
                received = harness.node.stats.received
                harness.publish(6_000_000_000_000 + k * 100_000_000)
                harness.spin_until(lambda count=received: harness.node.stats.received > count)
            harness.spin_until(lambda: harness.node.stats.bad_input["depth_unpaired"] == unpaired + 1)
    finally:
        harness.close()


def test_the_rate_of_the_processed_frames_is_measured_and_clips_sample_by_time(rclpy_module_context):
    harness = Loopback(
        rclpy_module_context, FRAME, namespace="/rate_test", track_timeout=PATIENT_TRACK_TIMEOUT_S
    )
    try:
        assert harness.node.stream.pipeline.actions.stride == authors_clip_stride("ntu60")
        for i in range(12):  # a 10 Hz camera
            harness.answer_for(harness.publish(8_000_000_000_000 + i * 100_000_000))
        assert harness.node.stream.pipeline.config.frame_rate_hz == pytest.approx(10.0)
        assert harness.node.stream.pipeline.actions.stride == authors_clip_stride("ntu60") == 8
        assert harness.node.stream.pipeline.actions.spacing_ns == 266_666_667  # 8 / 30 s, whatever the rate
        # the rate is on /diagnostics once measured (the stride, 8 from the start, says nothing of that)
        harness.spin_until(lambda: "frame_rate_hz" in harness.peer.last_diagnostics())
        assert harness.peer.last_diagnostics()["clip_stride"] == "8"
        assert float(harness.peer.last_diagnostics()["frame_rate_hz"]) == pytest.approx(10.0)
    finally:
        harness.close()


def test_compressed_transport_and_an_empty_frame_id(rclpy_module_context):
    # Reliable: a best-effort reader drops what a writer sends before the reader has matched it.
    harness = Loopback(
        rclpy_module_context,
        FRAME,
        namespace="/compressed_test",
        image_transport="compressed",
        qos_reliability="reliable",
    )
    try:
        compressed_out = harness.peer.compressed_out
        stats = harness.node.stats
        compressed_out.publish(CompressedImage(format="jpeg", data=b"garbage, not a jpeg"))
        harness.spin_until(lambda: stats.bad_input["image"] == 1)
        _, png = cv2.imencode(".png", cv2.cvtColor(FRAME, cv2.COLOR_RGB2BGR))
        header = Header(stamp=Time(sec=7, nanosec=5))  # no frame_id
        compressed_out.publish(CompressedImage(header=header, format="png", data=png.tobytes()))
        answer = harness.answer_for(header)
        assert len(answer.skeletons) == 1 and answer.header.frame_id == ""
        assert stats.conditions["frame_id_missing"] == 1
    finally:
        harness.close()


def test_a_corrupt_weights_file_is_refused_at_construction(rclpy_module_context, tmp_path):
    corrupt = tmp_path / "weights.hdf5"
    corrupt.write_bytes(b"not an HDF5 file")
    with pytest.raises(WeightsFileError, match="truncated or corrupt"):
        PerceptionNode(
            context=rclpy_module_context, parameter_overrides=[Parameter("weights", value=str(corrupt))]
        )


@pytest.mark.slow
def test_missing_weights_end_start_up_with_an_error_and_a_non_zero_exit(tmp_path):
    missing = tmp_path / "weights_3dp+ntu_ar_062.hdf5"
    command = [
        sys.executable,
        "-m",
        "deephar_ros.ros.perception_node",
        "--ros-args",
        "-p",
        f"weights:={missing}",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1
    assert "weights file not found" in finished.stderr and str(missing) in finished.stderr


def test_a_frame_without_its_transform_is_processed_but_not_published(rclpy_module_context, monkeypatch):
    from deephar_ros.ros import perception_node

    monkeypatch.setattr(perception_node, "transform_source", lambda node, qos: camera_mount())
    harness = Loopback(
        rclpy_module_context,
        FRAME,
        namespace="/tf_missing_test",
        qos_reliability="reliable",
        output_frame="map",
    )
    try:
        stats = harness.node.stats
        unknown = harness.publish(6_100 * 10**9)  # map is not on /tf_static: no transform
        harness.spin_until(lambda: stats.conditions["transform_missing"] == 1)
        harness.spin_until_settled()
        assert all(m.header.stamp != unknown.stamp for m in harness.received["skeletons"])
        harness.spin_until(lambda: any("transform_missing" in w for w in harness.received["warnings"]))
        assert any(
            "no transform from the image's frame 'test_camera' to output_frame 'map'" in w
            for w in harness.received["warnings"]
        )
    finally:
        harness.close()


@pytest.mark.skipif(
    importlib.util.find_spec("tf2_ros") is None and importlib.util.find_spec("tf2_msgs") is None,
    reason="tf2_ros and tf2_msgs are not on PyPI: the transform use is tested above with the /tf_static tree",
)
def test_output_frame_follows_a_transform_published_on_tf_static(rclpy_module_context, monkeypatch):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from deephar_ros.ros import perception_node

    camera_points = []
    monkeypatch.setattr(
        perception_node,
        "result_in_frame",
        lambda result, transform: (
            camera_points.append(result.people[0].joints_3d.copy()) or result_in_frame(result, transform)
        ),
    )
    harness = Loopback(
        rclpy_module_context,
        FRAME,
        namespace="/tf_static_test",
        qos_reliability="reliable",
        output_frame="base_link",
    )
    try:
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        tf_static = harness.peer.create_publisher(TFMessage, "/tf_static", latched)
        tf_static.publish(TFMessage(transforms=[mount_transform()]))
        stats = harness.node.stats
        for k in range(200):  # frames before the transform arrives are withheld, and counted
            header = harness.publish(6_200 * 10**9 + k * 100_000_000)
            harness.spin_until(lambda k=k: stats.processed > k)
            if any(m.header.stamp == header.stamp for m in harness.received["skeletons"]):
                break
            harness.spin_until(lambda k=k: stats.conditions["transform_missing"] > 0)
        answer = harness.answer_for(header)
        assert answer.header.frame_id == "base_link"
        root_index = harness.node.stream.pipeline.layout.root
        root, camera_root = answer.skeletons[0].positions[root_index], camera_points[-1][root_index]
        assert (root.x, root.y, root.z) == pytest.approx(
            (camera_root[2], -camera_root[0], 1.2 - camera_root[1])
        )
    finally:
        harness.close()
