"""Fault injection against the real perception node over rclpy on loopback (issue 7).

Each scenario drives a node of its own through test/node_rig.py: a camera that stops and
comes back, camera_info missing then changing resolution, depth without a valid pixel, a flood of
malformed images (throttled warnings, counts on /diagnostics), time going backwards, and start-up
faults (weights missing, truncated or of the other preset, a CUDA device that is not there) in a
node process of its own. Waits are on conditions; nothing here asserts how long anything takes.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from node_rig import Loopback
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from deephar_ros.inference.engine import CPU_BACKENDS
from deephar_ros.msg import Skeleton, SkeletonArray
from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.ros.demo_source import camera_info
from deephar_ros.ros.markers import NAMESPACES
from deephar_ros.ros.perception_node import WARNING_PERIOD_S, PerceptionNode

FRAME = np.random.default_rng(2).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
WIDE_FRAME = np.random.default_rng(3).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
FRAME_NS = 33_333_333  # 30 Hz
SILENCE_TIMEOUT_S = 0.5  # track_timeout for the camera-stop scenario: "10 s" scaled down
PATIENT_TIMEOUT_S = 60.0  # elsewhere: a stalled test machine never reads as a camera stopping


@pytest.fixture
def rig_factory(rclpy_module_context):
    """Builds a Loopback in a namespace of its own per call and closes them all after the test."""
    rigs: list[Loopback] = []
    names = itertools.count()

    def build(**overrides) -> Loopback:
        parameters = {
            "qos_reliability": "reliable",
            "qos_depth": 100,
            "diagnostics_period": 0.2,
            "track_timeout": PATIENT_TIMEOUT_S,
        } | overrides
        rigs.append(Loopback(rclpy_module_context, FRAME, namespace=f"/faults_{next(names)}", **parameters))
        return rigs[-1]

    yield build
    for rig in rigs:
        rig.close()


def deleted_ids(rig: Loopback) -> set[int]:
    """Track ids that got a DELETE marker in every marker namespace."""
    by_namespace = {namespace: set() for namespace in NAMESPACES}
    for array in rig.received["markers"]:
        for marker in array.markers:
            if marker.action == Marker.DELETE:
                by_namespace[marker.ns].add(marker.id)
    return set.intersection(*by_namespace.values())


def only_skeleton(answer: SkeletonArray) -> Skeleton:
    assert len(answer.skeletons) == 1
    return answer.skeletons[0]


def only_track_id(answer: SkeletonArray) -> int:
    """The track id of the one skeleton, from its body id (b3 -> 3): the markers' ids are track ids."""
    return int(only_skeleton(answer).body_id.removeprefix("b"))


def test_a_camera_that_stops_retires_its_tracks_and_new_ones_start_when_it_resumes(rig_factory):
    rig = rig_factory(track_timeout=SILENCE_TIMEOUT_S)
    stats = rig.node.stats
    start = 1_000 * 10**9
    for i in range(3):
        last = rig.answer_for(rig.publish(start + i * FRAME_NS))
    old_id = only_track_id(last)
    # The camera stops: no frame comes, and after track_timeout of silence the node retires the track.
    rig.spin_until(lambda: old_id in deleted_ids(rig))
    assert stats.conditions["camera_silent"] >= 1
    rig.spin_until(lambda: any("track(s) retired" in text for text in rig.received["warnings"]))
    # It resumes "10 s" later: a new track, never the old id again.
    resumed = rig.answer_for(rig.publish(start + 10 * 10**9))
    assert only_track_id(resumed) > old_id
    assert stats.failed == 0


def projects_with(skeleton: Skeleton, intrinsics: CameraIntrinsics) -> bool:
    """Every joint's 3D position projects back onto its pixel through these intrinsics."""
    points = np.array([(p.x, p.y, p.z) for p in skeleton.positions])
    pixels = np.array([(p.x, p.y) for p in skeleton.pixels])
    projected = points[:, :2] / points[:, 2:] * [intrinsics.fx, intrinsics.fy] + [
        intrinsics.cx,
        intrinsics.cy,
    ]
    return bool(np.allclose(projected, pixels, atol=1e-3))


def test_camera_info_missing_then_arriving_then_changing_resolution(rig_factory):
    rig = rig_factory()
    stats = rig.node.stats
    stamps = itertools.count(2_000 * 10**9, FRAME_NS)
    header = Header(frame_id="test_camera")

    def answer_projecting_with(intrinsics: CameraIntrinsics, frame: np.ndarray) -> Skeleton:
        """Frames until one is answered with these intrinsics (a camera_info may still be in flight)."""
        found: list[Skeleton] = []

        def projected() -> bool:
            found.append(only_skeleton(rig.answer_for(rig.publish(next(stamps), frame))))
            return projects_with(found[-1], intrinsics)

        rig.spin_until(projected)
        return found[-1]

    # No camera_info yet: default intrinsics (60 deg), counted and warned.
    assert projects_with(
        only_skeleton(rig.answer_for(rig.publish(next(stamps)))), CameraIntrinsics.default_for(64, 48)
    )
    assert stats.conditions["camera_info_missing"] == 1
    rig.spin_until(lambda: any("no camera_info" in text for text in rig.received["warnings"]))
    # It arrives: used from then on.
    calibrated = CameraIntrinsics(fx=40.0, fy=42.0, cx=30.0, cy=25.0, width=64, height=48)
    rig.peer.info_out.publish(camera_info(calibrated, header))
    answer_projecting_with(calibrated, FRAME)
    assert stats.conditions["camera_info_missing"] == 1
    # The camera switches to 128x96 before its new camera_info: defaults for the new size, counted.
    assert projects_with(
        only_skeleton(rig.answer_for(rig.publish(next(stamps), WIDE_FRAME))),
        CameraIntrinsics.default_for(128, 96),
    )
    assert stats.conditions["camera_info_size"] == 1
    wide = CameraIntrinsics(fx=90.0, fy=90.0, cx=64.0, cy=48.0, width=128, height=96)
    rig.peer.info_out.publish(camera_info(wide, header))
    skeleton = answer_projecting_with(wide, WIDE_FRAME)
    assert (skeleton.bounding_box.width, skeleton.bounding_box.height) == (128, 96)
    rig.spin_until(lambda: rig.peer.last_diagnostics().get("condition.camera_info_size") == "1")
    assert stats.failed == 0


def depth_image(header: Header, metres: np.ndarray) -> Image:
    height, width = metres.shape
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="32FC1",
        step=width * 4,
        data=metres.astype(np.float32).tobytes(),
    )


def test_depth_without_a_valid_pixel_falls_back_to_the_size_and_says_so(rig_factory):
    rig = rig_factory(use_depth=True, depth_slop=0.01)
    rig.trust_every_joint()
    stats = rig.node.stats
    invalid = {
        "16UC1 zeros": Image(encoding="16UC1", width=64, height=48, step=128, data=bytes(64 * 48 * 2)),
        "32FC1 NaN and inf": depth_image(
            Header(), np.resize(np.array([np.nan, np.inf, -np.inf, 0.0, -1.0], np.float32), (48, 64))
        ),
    }
    for i, depth in enumerate(invalid.values()):
        header = rig.publish(3_000 * 10**9 + i * FRAME_NS)
        depth.header = header
        rig.peer.depth_out.publish(depth)
        assert only_skeleton(rig.answer_for(header)).depth_source == Skeleton.DEPTH_FROM_SIZE
    assert stats.conditions["depth_fallback"] == len(invalid)
    # Half the pixels NaN (a checkerboard), the rest at 2 m: the valid half gives the root depth.
    metres = np.full((48, 64), 2.0, np.float32)
    metres[(np.arange(48)[:, None] + np.arange(64)) % 2 == 0] = np.nan
    header = rig.publish(3_000 * 10**9 + 10 * FRAME_NS)
    rig.peer.depth_out.publish(depth_image(header, metres))
    skeleton = only_skeleton(rig.answer_for(header))
    assert skeleton.depth_source == Skeleton.DEPTH_FROM_IMAGE
    assert all(math.isfinite(p.z) for p in skeleton.positions)
    assert stats.conditions["depth_fallback"] == len(invalid)
    # Malformed depth images are refused and counted like colour ones.
    rig.peer.depth_out.publish(Image(header=header, encoding="rgb8", width=64, height=48, step=192))
    rig.peer.depth_out.publish(
        Image(header=header, encoding="16UC1", width=64, height=48, step=128, data=bytes(100))
    )  # truncated
    rig.spin_until(lambda: stats.bad_input["depth"] == 2)
    rig.spin_until(lambda: rig.peer.last_diagnostics().get("condition.depth_fallback") == str(len(invalid)))


def bad_images() -> list[dict]:
    """Image fields that make one malformed message each, over every way a message can be wrong."""
    good = {"width": 64, "height": 48, "step": 192, "encoding": "rgb8"}
    data = bytes(64 * 48 * 3)
    nan_pixels = np.full((48, 64), np.nan, np.float32).tobytes()
    return [
        good | {"step": 191},  # step smaller than a row
        good | {"step": 200},  # step larger than a row, data for the tight one
        good | {"data": data[:-5]},  # truncated
        good | {"data": data + bytes(7)},  # too long
        good | {"width": 0, "step": 0, "data": b""},
        good | {"height": 0, "data": b""},
        good | {"width": 20000, "height": 20000, "step": 60000},  # absurd size, little data
        good | {"encoding": "bayer_rggb8"},  # unknown encoding
        good | {"encoding": "h264"},
        good | {"encoding": ""},
        good | {"encoding": "32FC1", "step": 256, "data": nan_pixels},  # a float image of NaN
        good | {"encoding": "yuv422", "width": 63, "step": 126, "data": bytes(126 * 48)},  # odd width
    ]


def test_a_flood_of_malformed_images_is_counted_warned_about_a_few_times_and_served_through(rig_factory):
    rig = rig_factory()
    stats = rig.node.stats
    kinds = bad_images()
    sent = 200
    started = time.monotonic()
    for i, fields in zip(range(sent), itertools.cycle(kinds), strict=False):
        rig.publish(4_000 * 10**9 + i * FRAME_NS, **fields)
        if i % 50 == 49:  # in bursts within the publisher's history of 100, so none is overwritten unsent
            rig.spin_until(lambda count=i + 1: stats.bad_input["image"] == count)
    bad_infos = [
        CameraInfo(width=64, height=48, k=[0.0] * 9),  # uncalibrated
        CameraInfo(width=64, height=48, k=[math.nan] + [1.0] * 8),
        CameraInfo(width=64, height=48, k=[50.0, 0, 32, 0, 50, 24, 0, 0, 1], distortion_model="x", d=[1.0]),
        # finite but absurd: OpenCV's undistortion sends every pixel to NaN
        CameraInfo(
            width=64,
            height=48,
            k=[50.0, 0, 1e300, 0, 50, 24, 0, 0, 1],
            distortion_model="plumb_bob",
            d=[0.1] * 5,
        ),
    ]
    for i in range(20):
        rig.peer.info_out.publish(bad_infos[i % len(bad_infos)])
    rig.spin_until(lambda: stats.bad_input["image"] == sent and stats.bad_input["camera_info"] == 20)
    elapsed = time.monotonic() - started
    clean = rig.publish(5_000 * 10**9)
    assert only_skeleton(rig.answer_for(clean)).header.stamp == clean.stamp
    rig.spin_until_settled()
    assert stats.received == sent + 1 and stats.processed == 1 and stats.failed == 0
    # Counted on /diagnostics ...
    # (a /diagnostics message sent while the camera_info refusals were still being counted may show
    # every image but not yet every camera_info: wait for one sent after both counts were complete)
    rig.spin_until(
        lambda: (
            rig.peer.last_diagnostics().get("bad_input.image") == str(sent)
            and rig.peer.last_diagnostics().get("bad_input.camera_info") == "20"
        )
    )
    assert rig.peer.last_diagnostics()["bad_input_total"] == str(sent + 20)
    # ... and warned about at most once per WARNING_PERIOD_S per reason: a handful of lines, not 220.
    rig.spin_until(lambda: any("bad_input.camera_info" in text for text in rig.received["warnings"]))
    allowed = 1 + math.ceil(elapsed / WARNING_PERIOD_S)
    for reason in ("bad_input.image", "bad_input.camera_info"):
        lines = [text for text in rig.received["warnings"] if reason in text]
        assert 1 <= len(lines) <= allowed, (reason, lines)


def test_time_going_backwards_retires_the_tracks_and_tracking_starts_again(rig_factory):
    rig = rig_factory()
    stats = rig.node.stats
    for i in range(2):
        before = rig.answer_for(rig.publish(6_000 * 10**9 + i * FRAME_NS))
    old_id = only_track_id(before)
    after = [rig.answer_for(rig.publish(1 * 10**9 + i * FRAME_NS)) for i in range(3)]  # sim time restarted
    new_ids = [only_track_id(answer) for answer in after]
    assert new_ids[0] > old_id and len(set(new_ids)) == 1  # a new track, which then continues
    rig.spin_until(lambda: old_id in deleted_ids(rig))
    assert stats.conditions["stamp_backwards"] == 1 and stats.failed == 0
    rig.spin_until(lambda: any("stamp went back" in text for text in rig.received["warnings"]))


def test_device_auto_falls_back_to_the_cpu_and_says_why(rclpy_module_context):
    node = PerceptionNode(
        context=rclpy_module_context,
        namespace="/faults_auto",
        parameter_overrides=[
            Parameter("random_weights", value=True),
            Parameter("backend", value="auto"),
            Parameter("device", value="auto"),
        ],
    )
    try:
        engine = node.engine
        assert engine.device == "cpu" and engine.backend in CPU_BACKENDS
        assert "'cuda' unavailable" in engine.selection
        assert node.stats.snapshot()["device"] == "cpu"
    finally:
        node.destroy_node()


def start_node(*parameters: str) -> subprocess.Popen:
    """The perception node executable in a process of its own, with -p parameters."""
    command = [sys.executable, "-m", "deephar_ros.ros.perception_node", "--ros-args"]
    for parameter in parameters:
        command += ["-p", parameter]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_start_up_faults_end_the_node_process_with_a_clear_error(penn_weights_file, tmp_path):
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(penn_weights_file.read_bytes()[: penn_weights_file.stat().st_size // 2])
    cases = {
        "truncated weights": (
            start_node(f"weights:={truncated}", "model:=penn_multitask"),
            "truncated or corrupt",
        ),
        "weights of the other preset": (
            start_node(f"weights:={penn_weights_file}", "model:=ntu_multitask"),
            "a file of another model or preset",
        ),
        "a CUDA device asked for": (
            start_node("random_weights:=true", "device:=cuda"),
            "torch.cuda.is_available() is False",
        ),
    }
    for name, (process, expected) in cases.items():
        try:
            _, stderr = process.communicate(timeout=120)  # only stops a hang; no timing is asserted
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"{name}: the node process hung at start-up")
        assert process.returncode == 1, (name, stderr)
        assert "start-up failed" in stderr and expected in stderr, (name, stderr)


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height RGB pixels (its data holds a few rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    rows = zlib.compress(bytes(4 * (1 + 3 * width)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_compressed_image_declaring_an_absurd_size_is_refused_before_it_is_decoded(rig_factory):
    rig = rig_factory(image_transport="compressed")
    stats = rig.node.stats
    bomb = png_declaring(20000, 20000)
    assert len(bomb) < 10_000  # decoded, it would take 1.2 GB
    rig.peer.compressed_out.publish(
        CompressedImage(header=Header(frame_id="test_camera"), format="png", data=bomb)
    )
    rig.spin_until(lambda: stats.bad_input["image"] == 1)
    rig.spin_until(lambda: any("declares 20000x20000" in text for text in rig.received["warnings"]))
    _, png = cv2.imencode(".png", cv2.cvtColor(FRAME, cv2.COLOR_RGB2BGR))
    header = Header(stamp=Time(sec=9000), frame_id="test_camera")
    rig.peer.compressed_out.publish(CompressedImage(header=header, format="png", data=png.tobytes()))
    assert only_skeleton(rig.answer_for(header)).header.stamp == header.stamp


def decode_budget_bombs() -> dict[str, bytes]:
    """One compressed image per decode-budget refusal reason, each declaring a size under the hard cap."""
    _, jpeg = cv2.imencode(".jpg", FRAME)
    at = jpeg.tobytes().index(b"\xff\xc0")
    too_compressed = jpeg.tobytes()[: at + 5] + (4000).to_bytes(2, "big") * 2 + jpeg.tobytes()[at + 9 :]
    _, progressive = cv2.imencode(".jpg", FRAME, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    first_scan = progressive.tobytes().index(b"\xff\xda")
    scans = progressive.tobytes()[first_scan:-2]
    _, deep_png = cv2.imencode(".png", np.zeros((48, 64, 4), np.uint16))
    return {
        "too_compressed": too_compressed,  # 16 MP from a few kB
        "jpeg_scans": progressive.tobytes()[:first_scan] + scans * 10 + b"\xff\xd9",
        "png_format": deep_png.tobytes(),
        "too_many_pixels": png_declaring(5000, 4000),  # over max_image_pixels, under the hard cap
    }


def test_decode_budget_refusals_are_counted_by_reason_on_diagnostics(rig_factory):
    rig = rig_factory(image_transport="compressed")
    stats = rig.node.stats
    for data in decode_budget_bombs().values():
        rig.peer.compressed_out.publish(
            CompressedImage(header=Header(frame_id="test_camera"), format="jpeg", data=data)
        )
    keys = [f"bad_input.image_{reason}" for reason in decode_budget_bombs()]
    rig.spin_until(lambda: all(rig.peer.last_diagnostics().get(key) == "1" for key in keys))
    assert stats.bad_input["image"] == 0 and stats.processed == 0
    _, png = cv2.imencode(".png", cv2.cvtColor(FRAME, cv2.COLOR_RGB2BGR))
    header = Header(stamp=Time(sec=9000), frame_id="test_camera")
    rig.peer.compressed_out.publish(CompressedImage(header=header, format="png", data=png.tobytes()))
    assert only_skeleton(rig.answer_for(header)).header.stamp == header.stamp


def test_depth_late_by_more_than_five_frames_still_pairs_within_qos_depth(rig_factory):
    """The pairing queue follows qos_depth (at 2f5c218 it was 5 frames whatever qos_depth said)."""
    rig = rig_factory(use_depth=True, depth_slop=0.01, qos_depth=20)
    rig.trust_every_joint()
    stats = rig.node.stats
    headers = [rig.publish(6_000 * 10**9 + i * FRAME_NS) for i in range(12)]
    rig.spin_until(lambda: stats.received == len(headers))
    assert stats.bad_input["depth_unpaired"] == 0
    rig.peer.depth_out.publish(depth_image(headers[0], np.full((48, 64), 2.0, np.float32)))
    assert only_skeleton(rig.answer_for(headers[0])).depth_source == Skeleton.DEPTH_FROM_IMAGE
