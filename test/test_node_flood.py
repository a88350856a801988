"""A flood of decompression bombs of legal declared size among clean frames (issue 18).

Each bomb declares a size under the hard cap (MAX_IMAGE_PIXELS) yet would cost the worker seconds to
decode: a JPEG of a few hundred bytes declaring 8192x8192 or 4000x4000, a progressive JPEG repeating
its scans, a 16-bit RGBA PNG. Sent at 5 Hz among clean frames at 10 Hz for 20 s over DDS, they are
refused in the subscription callback by the decode budget, so the worker answers the clean frames.
Only the answers are counted; the time is the flood's own pace, nothing asserts how long a frame took.
The clean frames hold nobody the HOG detector finds, so the network does not run and a loaded test
machine still answers 10 Hz: what the test measures is what the bombs take from the worker.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from node_rig import Loopback
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

pytestmark = pytest.mark.slow

FRAME = np.random.default_rng(5).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
FLOOD_S = 20.0
TICK_S = 0.05  # clean frames every other tick (10 Hz), a bomb every fourth (5 Hz)
MIN_ANSWERED = 0.9


def declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """jpeg with its baseline frame header (SOF0) declaring width x height."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 9 :]


def bombs() -> list[bytes]:
    _, small = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    _, progressive = cv2.imencode(".jpg", FRAME, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    progressive = progressive.tobytes()
    first_scan = progressive.index(b"\xff\xda")
    repeated = progressive[:first_scan] + progressive[first_scan:-2] * 20 + progressive[-2:]
    noise = np.random.default_rng(6).integers(0, 2**16, size=(128, 512, 4), dtype=np.uint16)
    _, deep_png = cv2.imencode(".png", noise)
    return [
        declaring(small.tobytes(), 8192, 8192),
        declaring(small.tobytes(), 4000, 4000),
        repeated,
        deep_png.tobytes(),
    ]


@pytest.fixture
def rig(rclpy_module_context):
    built = Loopback(
        rclpy_module_context,
        FRAME,
        namespace="/flood",
        image_transport="compressed",
        detector="hog",  # finds nobody in 64x48 noise: a clean frame costs the decode and HOG, as in issue 18
        qos_reliability="reliable",
        qos_depth=100,
        track_timeout=60.0,
    )
    yield built
    built.close()


def test_a_flood_of_legal_size_bombs_leaves_the_clean_frames_answered(rig):
    _, clean_jpeg = cv2.imencode(".jpg", cv2.cvtColor(FRAME, cv2.COLOR_RGB2BGR))
    flood = bombs()
    assert all(len(bomb) < 600_000 for bomb in flood)
    clean_stamps = []
    start = time.monotonic()
    for tick in range(round(FLOOD_S / TICK_S)):
        while time.monotonic() < start + tick * TICK_S:
            rig.executor.spin_once(timeout_sec=0.005)
        if tick % 2 == 0:
            stamp = Time(sec=100 + tick // 20, nanosec=(tick % 20) * 50_000_000)
            header = Header(stamp=stamp, frame_id="test_camera")
            rig.peer.compressed_out.publish(
                CompressedImage(header=header, format="jpeg", data=clean_jpeg.tobytes())
            )
            clean_stamps.append(stamp)
        if tick % 4 == 1:
            bomb = flood[(tick // 4) % len(flood)]
            header = Header(stamp=Time(sec=100 + tick // 20), frame_id="test_camera")
            rig.peer.compressed_out.publish(CompressedImage(header=header, format="jpeg", data=bomb))
    rig.spin_until(lambda: rig.node.stats.received == len(clean_stamps) + len(clean_stamps) // 2)
    rig.spin_until(lambda: rig.node.slot.pending() == 0)
    rig.spin_until(
        lambda: rig.received["skeletons"] and rig.received["skeletons"][-1].header.stamp == clean_stamps[-1]
    )
    answered = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in rig.received["skeletons"]}
    clean_answered = sum((stamp.sec, stamp.nanosec) in answered for stamp in clean_stamps)
    refused = sum(count for reason, count in rig.node.stats.bad_input.items() if reason.startswith("image_"))
    assert clean_answered >= MIN_ANSWERED * len(clean_stamps), (clean_answered, len(clean_stamps))
    assert refused == len(clean_stamps) // 2  # every bomb refused by the budget, none decoded
