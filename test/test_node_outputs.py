"""The node's newer outputs and switches over loopback: QoS that follows the camera, ~/enable and the
live parameters, lost frames on /diagnostics, the REP-155 per-body topics, all markers drawn on random
weights."""

from __future__ import annotations

import itertools
import threading

import cv2
import numpy as np
import pytest
from node_rig import Loopback
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from visualization_msgs.msg import Marker

from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.qos_matching import matching_reliability
from deephar_ros.ros.result_messages import ns_to_time

FRAME = np.random.default_rng(5).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
FRAME_NS = 33_333_333
PATIENT_TIMEOUT_S = 60.0


@pytest.fixture
def rig_factory(rclpy_module_context):
    rigs: list[Loopback] = []
    names = itertools.count()

    def build(**overrides) -> Loopback:
        parameters = {"track_timeout": PATIENT_TIMEOUT_S, "diagnostics_period": 0.2} | overrides
        rigs.append(Loopback(rclpy_module_context, FRAME, namespace=f"/outputs_{next(names)}", **parameters))
        return rigs[-1]

    yield build
    for rig in rigs:
        rig.close()


def test_matching_reliability_receives_all_and_matches_all():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert matching_reliability([]) == best_effort  # nobody publishes yet: match whoever comes
    assert matching_reliability([reliable, reliable]) == reliable
    assert matching_reliability([reliable, best_effort]) == best_effort  # a reliable reader would miss one


def test_auto_qos_follows_a_reliable_camera_that_starts_after_the_node(rig_factory):
    rig = rig_factory(qos_reliability="auto")
    colour = rig.node._matched[0]
    # The rig's camera peer (reliable writers) came up after the node had subscribed best effort.
    rig.spin_until(lambda: colour.reliability == ReliabilityPolicy.RELIABLE)
    rig.spin_until(lambda: rig.peer.image_out.get_subscription_count() > 0)
    assert len(rig.answer_for(rig.publish(1_000 * 10**9)).skeletons) == 1


def test_enable_switch_pauses_and_resumes_the_node(rig_factory):
    rig = rig_factory()
    client = rig.peer.create_client(SetBool, rig.node.resolve_service_name("~/enable"))
    rig.spin_until(client.service_is_ready)

    def call(data: bool) -> SetBool.Response:
        future = client.call_async(SetBool.Request(data=data))
        rig.spin_until(future.done)
        return future.result()

    rig.answer_for(rig.publish(2_000 * 10**9))
    received = rig.node.stats.received
    assert call(False).message == "disabled" and call(False).message == "already disabled"
    ignored = rig.publish(2_000 * 10**9 + FRAME_NS)
    rig.spin_until(lambda: rig.peer.last_diagnostics().get("enabled") == "false")
    assert rig.node.stats.received == received
    assert all(m.header.stamp != ignored.stamp for m in rig.received["skeletons"])
    assert call(True).message == "enabled"
    assert len(rig.answer_for(rig.publish(2_001 * 10**9)).skeletons) == 1
    assert rig.node.stats.lost == 0  # the pause was no loss


def test_lost_frames_are_counted_from_gaps_in_the_stamps(rig_factory):
    rig = rig_factory()
    node = rig.node
    stamps = [3_000 * 10**9 + k * FRAME_NS for k in range(31)]  # 30 intervals: the camera's rate known
    stamps += [stamps[-1] + 4 * FRAME_NS]  # three frames lost on the wire
    for stamp in stamps:  # straight into the callback: what arrives is what this test decides
        node._on_colour(rgb_to_image(FRAME, Header(stamp=ns_to_time(stamp), frame_id="camera")))
    assert node.stats.lost == 3
    rig.spin_until(lambda: rig.peer.last_diagnostics().get("frames_lost") == "3")


def test_rep155_joint_states_and_markers_of_every_joint_on_random_weights(rig_factory):
    rig = rig_factory(publish_joint_states=True)
    answer = rig.answer_for(rig.publish(4_000 * 10**9))
    (skeleton,) = answer.skeletons
    body = f"/humans/bodies/{skeleton.body_id}"
    wanted = {f"{body}/joint_states": ["sensor_msgs/msg/JointState"]}
    # The ROS graph learns of new publishers asynchronously: wait until it lists both.
    rig.spin_until(lambda: wanted.items() <= dict(rig.node.get_topic_names_and_types()).items())
    # Random weights give confidences near 0: every joint is still drawn, or RViz would show nothing.
    assert max(skeleton.confidences) < 0.2 == rig.node.parameters.min_joint_confidence
    rig.spin_until(lambda: any(m.action == Marker.ADD for a in rig.received["markers"] for m in a.markers))
    joints = [m for a in rig.received["markers"] for m in a.markers if m.ns == "joints"]
    assert len(joints[-1].points) == len(skeleton.joint_names)


def test_compressed_images_are_decoded_on_the_worker_newest_first(rig_factory, monkeypatch):
    from deephar_ros.ros import perception_node

    decoded_on: list[str] = []
    decode = perception_node.compressed_to_reduced_rgb

    def recording_decode(msg, *limits):
        decoded_on.append(threading.current_thread().name)
        return decode(msg, *limits)

    monkeypatch.setattr(perception_node, "compressed_to_reduced_rgb", recording_decode)
    rig = rig_factory(image_transport="compressed", qos_reliability="reliable")
    node, stats = rig.node, rig.node.stats
    _, png = cv2.imencode(".png", cv2.cvtColor(FRAME, cv2.COLOR_RGB2BGR))
    # A flood of large JPEGs (2000 x 2000 noise, within every decode budget): the callback only reads
    # their headers, and the worker decodes the newest frame only.
    noise = np.random.default_rng(8).integers(0, 256, size=(2000, 2000, 3), dtype=np.uint8)
    large = cv2.imencode(".jpg", noise)[1].tobytes()
    for k in range(20):
        stamp = ns_to_time(5_000 * 10**9 + k * FRAME_NS)
        node._on_colour(
            CompressedImage(header=Header(stamp=stamp, frame_id="camera"), format="jpeg", data=large)
        )
    clean = Header(stamp=ns_to_time(5_001 * 10**9), frame_id="camera")
    node._on_colour(CompressedImage(header=clean, format="png", data=png.tobytes()))
    assert len(rig.answer_for(clean).skeletons) == 1
    assert decoded_on and set(decoded_on) == {"deephar_inference"}
    assert len(decoded_on) < 21  # most were replaced before the worker got to them
    rig.spin_until_settled()
    assert stats.failed == 0


def test_a_large_jpeg_is_decoded_reduced_and_answered_in_the_full_images_pixels(rig_factory, monkeypatch):
    from deephar_ros.ros import perception_node

    shapes: list[tuple[int, ...]] = []
    decode = perception_node.compressed_to_reduced_rgb

    def recording_decode(msg, *limits):
        decoded = decode(msg, *limits)
        shapes.append(decoded[0].shape)
        return decoded

    monkeypatch.setattr(perception_node, "compressed_to_reduced_rgb", recording_decode)
    rig = rig_factory(
        image_transport="compressed", qos_reliability="reliable", detector="full-frame", max_decode_side=1024
    )
    large = cv2.resize(FRAME, (2560, 1920), interpolation=cv2.INTER_NEAREST)
    header = Header(stamp=ns_to_time(6_000 * 10**9), frame_id="camera")
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(large, cv2.COLOR_RGB2BGR))[1].tobytes()
    rig.node._on_colour(CompressedImage(header=header, format="jpeg", data=jpeg))
    (skeleton,) = rig.answer_for(header).skeletons
    assert shapes == [(480, 640, 3)]  # 1/4: the first reduction whose larger side fits 1024
    box = skeleton.bounding_box  # the full-frame detector's box: the whole image, in its full pixels
    assert (box.x_offset, box.y_offset, box.width, box.height) == (0, 0, 2560, 1920)


def test_boxes_from_a_topic_need_vision_msgs_person_classes_and_no_depth(rclpy_module_context, tmp_path):
    from deephar_ros.ros.perception_node import NODE_NAME, PerceptionNode

    def start(cli_args: list[str] | None = None, **parameters):
        overrides = {"random_weights": True, "backend": "cpu-eager", "detector": "topic"} | parameters
        return PerceptionNode(
            context=rclpy_module_context,
            namespace="/outputs_topic",
            parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
            cli_args=cli_args,
        )

    with pytest.raises(ValueError, match="cannot be combined with use_depth"):
        start(use_depth=True)
    # A YAML [] reaches rclpy as a parameter of no type: a clear refusal, not "not initialized".
    params = tmp_path / "params.yaml"
    params.write_text(f"/outputs_topic/{NODE_NAME}:\n  ros__parameters:\n    person_class_ids: []\n")
    with pytest.raises(ValueError, match="person_class_ids is empty with detector='topic'"):
        start(["--ros-args", "--params-file", str(params)])
    # PyPI has no vision_msgs: the node says so at start-up, naming what asked for it.
    with pytest.raises(RuntimeError, match="parameter detector is 'topic' but vision_msgs is not installed"):
        start()


def test_rep155_humans_without_hri_msgs_end_start_up_naming_the_package(rclpy_module_context):
    from deephar_ros.ros.perception_node import PerceptionNode

    overrides = {"random_weights": True, "backend": "cpu-eager", "publish_humans": True}
    # Nothing is published under a REP-155 name in a type HRI consumers would not match.
    with pytest.raises(RuntimeError, match="publish_humans is true but hri_msgs is not installed"):
        PerceptionNode(
            context=rclpy_module_context,
            namespace="/outputs_humans",
            parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
        )


def test_live_parameters_are_set_over_the_parameter_service_and_take_effect(rig_factory):
    rig = rig_factory()
    client = AsyncParameterClient(rig.peer, rig.node.get_fully_qualified_name())
    rig.spin_until(lambda: client.services_are_ready())

    def call(future):
        rig.spin_until(future.done)
        return future.result()

    def set_one(name: str, value) -> object:
        (result,) = call(client.set_parameters([Parameter(name, value=value)])).results
        return result

    described = call(client.describe_parameters(["min_joint_confidence", "model"])).descriptors
    assert not described[0].read_only and "Live" in described[0].description
    assert described[1].read_only and "restart the node" in described[1].description
    # what needs a restart, out of range, or the wrong type: refused with the reason
    refused = set_one("model", "penn_multitask")
    assert not refused.successful and "read-only" in refused.reason
    assert not set_one("min_joint_confidence", 1.5).successful
    assert not set_one("max_people", "many").successful
    assert rig.node.parameters.min_joint_confidence == 0.2
    # random weights: start-up's 0 lets every joint show; a threshold set live is used as given
    assert set_one("min_joint_confidence", 1.0).successful
    hidden = rig.publish(6_000 * 10**9)
    rig.answer_for(hidden)
    assert set_one("min_joint_confidence", 0.0).successful and set_one("marker_lifetime", 7.0).successful
    shown = rig.publish(6_000 * 10**9 + FRAME_NS)
    rig.answer_for(shown)
    rig.spin_until(lambda: any(a.markers[0].header.stamp == shown.stamp for a in rig.received["markers"]))
    # one reliable writer's messages come in order: the frame under threshold 1.0 had no markers
    assert all(a.markers[0].header.stamp != hidden.stamp for a in rig.received["markers"])
    newest = next(a for a in reversed(rig.received["markers"]) if a.markers[0].header.stamp == shown.stamp)
    assert newest.markers[0].lifetime.sec == 7
    # the detector's cadence and the people cap reach the pipeline; `enabled` is ~/enable's switch
    assert set_one("detect_every_n_frames", 3).successful and set_one("max_people", 2).successful
    rig.answer_for(rig.publish(6_001 * 10**9))
    config = rig.node.stream.pipeline.config
    assert (config.detect_every_n_frames, config.max_people) == (3, 2)
    assert set_one("enabled", False).successful and not rig.node.enable_switch.enabled
    assert set_one("enabled", True).successful and rig.node.enable_switch.enabled


def test_use_sim_time_without_a_clock_stops_no_diagnostics_and_says_why(rig_factory):
    rig = rig_factory()
    rig.spin_until(lambda: len(rig.received["diagnostics"]) > 0)
    # set at run time, with nothing publishing /clock: ROS time stands at 0 from now on
    (result,) = rig.node.set_parameters([Parameter("use_sim_time", value=True)])
    assert result.successful
    heard = len(rig.received["diagnostics"])
    rig.spin_until(lambda: len(rig.received["diagnostics"]) > heard + 3)  # the steady timer still fires
    newest = rig.received["diagnostics"][-1].status[0]
    assert "use_sim_time is true but no /clock has come" in newest.message
