"""Fuzzing the perception node with randomly mutated Image and CameraInfo messages (fixed seed).

Thousands of messages go straight into the node's subscription callbacks (fast: no DDS), a few
hundred more over real DDS; the inference worker runs on every frame that passes validation
meanwhile. Afterwards the node must be alive, must have accounted for every image, must not have
failed on a frame it accepted, must have warned only a throttled handful of times, and must
answer a clean frame correctly.
"""

from __future__ import annotations

import collections
import math
import re
import time

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from node_rig import Loopback
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from deephar_ros.ros.image_conversion import COLOUR_ENCODINGS, DEPTH_ENCODINGS
from deephar_ros.ros.perception_node import WARNING_PERIOD_S

pytestmark = pytest.mark.slow  # soak and fuzz: CI runs them; `-m "not slow"` skips them

SEED = 20240607
IN_PROCESS_MESSAGES = 3000
OVER_DDS_MESSAGES = 300
PROCESS_EVERY = 15
DDS_BURST = 50  # below the publisher's history of 100, so no message is overwritten unsent
FRAME = np.random.default_rng(4).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)

# Bytes per pixel of the encodings the node reads; the others are refused whatever their layout.
PIXEL_BYTES = {"rgb8": 3, "bgr8": 3, "8UC3": 3, "rgba8": 4, "bgra8": 4, "8UC4": 4, "mono8": 1, "8UC1": 1}
PIXEL_BYTES |= dict.fromkeys(("uyvy", "yuv422", "yuyv", "yuv422_yuy2", "16UC1", "mono16"), 2) | {"32FC1": 4}
ENCODINGS = [
    *COLOUR_ENCODINGS,
    *COLOUR_ENCODINGS,
    *DEPTH_ENCODINGS,
    "",
    "bayer_rggb8",
    "32FC3",
    "jpeg",
    "RGB8",
]
SIZES = [0, 1, 2, 3, 5, 16, 31, 48, 64, 97, 20000, 2**32 - 1]
ODD_NUMBERS = [0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e300]
DISTORTION_MODELS = ["", "plumb_bob", "rational_polynomial", "equidistant", "fisheye", "PLUMB_BOB", "unknown"]
MAX_DATA = 64 * 1024  # a fuzzed message carries at most this much data


def pick(rng: np.random.Generator, choices: list):
    return choices[int(rng.integers(len(choices)))]


def random_header(rng: np.random.Generator) -> Header:
    return Header(
        stamp=Time(sec=int(rng.integers(-(2**31), 2**31)), nanosec=int(rng.integers(0, 2**32))),
        frame_id=pick(rng, ["", "camera", "a/b", "x" * 300]),
    )


def random_image(rng: np.random.Generator) -> Image:
    """An Image with a random encoding and sizes, a step and data length usually near right."""
    width = pick(rng, SIZES) if rng.random() < 0.15 else int(rng.integers(1, 80))
    height = pick(rng, SIZES) if rng.random() < 0.15 else int(rng.integers(1, 80))
    encoding = pick(rng, ENCODINGS)
    bytes_per_pixel = PIXEL_BYTES.get(encoding, 3) if rng.random() < 0.8 else pick(rng, [1, 2, 3, 4, 6, 8])
    step = width * bytes_per_pixel + pick(rng, [0, 0, 0, 0, -1, 1, 3, 8, -width, 2**20])
    step = int(np.clip(step, 0, 2**32 - 1))
    length = step * height + pick(rng, [0, 0, 0, 0, -1, 1, -step, 4096])
    length = min(max(length, 0), MAX_DATA)
    if rng.random() < 0.2:  # float pixels with NaN and infinities
        data = np.resize(
            np.array([math.nan, math.inf, -math.inf, 1.0], np.float32), -(-length // 4)
        ).tobytes()
    else:
        data = rng.bytes(length)
    return Image(
        header=random_header(rng),
        width=width,
        height=height,
        step=step,
        encoding=encoding,
        is_bigendian=int(rng.integers(2)),
        data=data[:length],
    )


def random_camera_info(rng: np.random.Generator) -> CameraInfo:
    """A CameraInfo with NaN, infinite, zero or sensible K and D, random models and sizes."""
    k = rng.uniform(1.0, 1000.0, 9)
    if rng.random() < 0.4:
        for index in rng.choice(9, size=int(rng.integers(1, 4)), replace=False):
            k[index] = pick(rng, ODD_NUMBERS)
    if rng.random() < 0.2:
        k[0] = k[4] = 0.0  # zero focal length
    d = rng.normal(0.0, pick(rng, [0.0, 0.1, 10.0, 1e6]), pick(rng, [0, 1, 3, 4, 5, 8, 12, 14, 20]))
    if d.size and rng.random() < 0.2:
        d[0] = pick(rng, ODD_NUMBERS)
    return CameraInfo(
        header=random_header(rng),
        width=pick(rng, SIZES),
        height=pick(rng, SIZES),
        distortion_model=pick(rng, DISTORTION_MODELS),
        d=d.tolist(),
        k=k.tolist(),
    )


@pytest.fixture(scope="module")
def rig():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    built = Loopback(
        context,
        FRAME,
        namespace="/fuzz",
        qos_reliability="reliable",
        qos_depth=100,
        diagnostics_period=0.2,
        track_timeout=60.0,
    )
    yield built
    built.close()
    context.try_shutdown()


def test_mutated_messages_never_stop_the_node_and_a_clean_frame_is_answered(rig):
    rng = np.random.default_rng(SEED)
    node, stats = rig.node, rig.node.stats
    started = time.monotonic()
    for i in range(IN_PROCESS_MESSAGES):
        if rng.random() < 0.7:
            node._on_colour(random_image(rng))
        else:
            node._on_camera_info(random_camera_info(rng))
        if i % PROCESS_EVERY == 0:  # let the worker run the pipeline on a fair share of what passed
            rig.spin_until(lambda: node.slot.pending() == 0)
    images_in_process = stats.received
    sent_over_dds = 0
    for burst_start in range(0, OVER_DDS_MESSAGES, DDS_BURST):
        for _ in range(burst_start, min(burst_start + DDS_BURST, OVER_DDS_MESSAGES)):
            if rng.random() < 0.7:
                rig.peer.image_out.publish(random_image(rng))
                sent_over_dds += 1
            else:
                rig.peer.info_out.publish(random_camera_info(rng))
        rig.spin_until(lambda sent=sent_over_dds: stats.received == images_in_process + sent)

    # Every image is accounted for once the worker is idle, and none that passed validation failed.
    rig.spin_until(lambda: node.slot.pending() == 0)
    clean = rig.publish(2**31 * 10**9 - 1)  # the latest stamp a Time holds: never "backwards"
    answer = rig.answer_for(clean)
    assert answer.header.stamp == clean.stamp and answer.header.frame_id == "test_camera"
    assert len(answer.skeletons) == 1
    assert all(math.isfinite(p.x) and math.isfinite(p.y) for p in answer.skeletons[0].pixels)
    assert node._worker.is_alive()
    rig.spin_until_settled()
    assert stats.failed == 0
    assert stats.bad_input["image"] > 0 and stats.bad_input["camera_info"] > 0 and stats.processed > 1
    assert stats.processed + stats.dropped + stats.bad_input["image"] == stats.received

    # Warnings: at most one per reason per WARNING_PERIOD_S, and counts on /diagnostics.
    rig.spin_until(
        lambda: rig.peer.last_diagnostics().get("bad_input.image") == str(stats.bad_input["image"])
    )
    per_reason = collections.Counter(
        match.group(1)
        for text in rig.received["warnings"]
        if (match := re.search(r"\((\S+): \d+ so far\)$", text))
    )
    assert per_reason["bad_input.image"] >= 1 and per_reason["bad_input.camera_info"] >= 1
    elapsed = time.monotonic() - started
    assert max(per_reason.values()) <= 1 + math.ceil(elapsed / WARNING_PERIOD_S), (per_reason, elapsed)
