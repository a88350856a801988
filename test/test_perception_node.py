"""The perception node: its parts (frame slot, depth pairing, stats, parameters) and the node itself
over real rclpy on loopback with the project's messages."""

from __future__ import annotations

import os
import threading

import pytest
import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from deephar_ros.ros.diagnostics import PerceptionStats
from deephar_ros.ros.frame_slot import ApproximateTimePairer, LatestSlot
from deephar_ros.ros.parameters import PerceptionParameters, declare_parameters

# A DDS domain of this test process, so parallel test runs of other checkouts never cross.
DOMAIN_ID = 1 + os.getpid() % 200
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture
def context():
    ros_context = rclpy.context.Context()
    rclpy.init(context=ros_context, domain_id=DOMAIN_ID)
    yield ros_context
    ros_context.try_shutdown()


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


def test_pairer_matches_the_nearest_depth_within_slop_in_either_order():
    pairer: ApproximateTimePairer[str, str] = ApproximateTimePairer(slop=0.02)
    assert pairer.add_depth(0.99, "d0.99") is None
    assert pairer.add_depth(1.01, "d1.01") is None
    pair, given_up = pairer.add_colour(1.015, "c1.015")
    assert pair == ("c1.015", "d1.01") and given_up == 0
    pair, given_up = pairer.add_colour(2.0, "c2.0")  # depth comes later
    assert pair is None and given_up == 0
    assert pairer.add_depth(2.005, "d2.005") == ("c2.0", "d2.005")


def test_pairer_reports_colour_frames_it_gives_up_on():
    pairer: ApproximateTimePairer[str, str] = ApproximateTimePairer(slop=0.01)
    pairer.add_depth(0.0, "d0")
    assert pairer.add_colour(1.0, "c1") == (None, 0)
    assert pairer.add_colour(2.0, "c2") == (None, 1)  # c1 never found depth
    assert pairer.add_depth(1.0, "d1") is None  # c1 is gone: only the newest colour waits
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimePairer(slop=-1.0)


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
    values = stats.snapshot()
    assert values["frames_received"] == 11 and values["frames_processed"] == 6
    assert values["frames_dropped"] == 3 and values["bad_input_total"] == 3
    assert values["bad_input.image"] == 2 and values["bad_input.depth"] == 1
    assert values["input_rate_hz"] == pytest.approx(10.0)
    assert values["processed_rate_hz"] == pytest.approx(5.0)
    assert values["latency_p50_ms"] == pytest.approx(5.0)
    now[0] += 60.0  # everything fell out of the window
    assert stats.snapshot()["input_rate_hz"] == 0.0


# --- parameters ---------------------------------------------------------------------------------


def declared(context, **overrides) -> PerceptionParameters:
    node = Node(
        "parameter_test",
        context=context,
        parameter_overrides=[Parameter(name, value=value) for name, value in overrides.items()],
    )
    try:
        return declare_parameters(node)
    finally:
        node.destroy_node()


def test_parameters_take_their_defaults_and_overrides(context):
    parameters = declared(context, random_weights=True, max_people=2, output_frame="base")
    assert parameters == PerceptionParameters(random_weights=True, max_people=2, output_frame="base")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"random_weights": True, "min_joint_confidence": 1.5},
            InvalidParameterValueException,
            "min_joint_confidence",
        ),
        ({"random_weights": True, "qos_depth": 0}, InvalidParameterValueException, "qos_depth"),
        ({"random_weights": True, "model": "resnet"}, ValueError, "model='resnet'"),
        ({"random_weights": True, "backend": "fastest"}, ValueError, "backend='fastest'"),
        ({"random_weights": True, "detector": "yolo"}, ValueError, "detector='yolo'"),
        ({"random_weights": True, "qos_reliability": "sometimes"}, ValueError, "qos_reliability"),
        ({"random_weights": True, "image_transport": "theora"}, ValueError, "image_transport"),
        ({}, ValueError, "weights is empty"),
        ({"weights": "w.h5", "random_weights": True}, ValueError, "choose one"),
    ],
)
def test_invalid_parameters_are_refused_with_a_message(context, overrides, error, message):
    with pytest.raises(error, match=message):
        declared(context, **overrides)
