"""The demo source: a video file out as Image (rgb8) + CameraInfo with matching stamps."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from deephar_ros.ros import demo_source
from deephar_ros.ros.demo_source import DEFAULT_VIDEO, DemoSource, main, resolve_video
from deephar_ros.ros.image_conversion import image_to_rgb

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]
WIDTH, HEIGHT = 64, 48


@pytest.fixture
def video(tmp_path) -> str:
    """A 5-frame MJPG video, one solid colour per frame, at 25 fps."""
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (WIDTH, HEIGHT))
    for colour in COLOURS:
        writer.write(np.full((HEIGHT, WIDTH, 3), colour[::-1], np.uint8))  # OpenCV writes BGR
    writer.release()
    return path


def run_source(
    context, video: str, loop: bool, wanted: int
) -> tuple[DemoSource, list[Image], list[CameraInfo]]:
    """Spin a DemoSource and a listener until wanted images arrived or the source finished."""
    source = DemoSource(
        context=context,
        parameter_overrides=[
            Parameter("video", value=video),
            Parameter("loop", value=loop),
            Parameter("hfov", value=90.0),
            Parameter("frame_id", value="test_cam"),
        ],
    )
    listener = Node("listener", context=context)
    images: list[Image] = []
    infos: list[CameraInfo] = []
    listener.create_subscription(Image, "image", images.append, 50)
    listener.create_subscription(CameraInfo, "camera_info", infos.append, 50)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(source)
    executor.add_node(listener)
    give_up = time.monotonic() + 20.0  # a guard against hanging, not a timing assertion
    while len(images) < wanted and not (source.finished and len(images) >= source.frames_published):
        assert time.monotonic() < give_up, f"only {len(images)} images arrived"
        executor.spin_once(timeout_sec=0.1)
    for _ in range(5):  # let the camera info of the last frame arrive too
        executor.spin_once(timeout_sec=0.05)
    executor.shutdown()
    listener.destroy_node()
    source.destroy_node()
    return source, images, infos


def test_publishes_every_frame_once_with_camera_info(rclpy_context, video):
    source, images, infos = run_source(rclpy_context, video, loop=False, wanted=len(COLOURS))
    assert source.fps == pytest.approx(25.0)
    assert source.finished and source.frames_published == len(COLOURS)
    assert len(images) == len(COLOURS)
    for image, colour in zip(images, COLOURS, strict=True):
        assert (image.encoding, image.width, image.height, image.header.frame_id) == (
            "rgb8",
            64,
            48,
            "test_cam",
        )
        rgb = image_to_rgb(image)
        np.testing.assert_allclose(rgb.reshape(-1, 3).mean(axis=0), colour, atol=10)
    image_stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in images]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in infos] == image_stamps
    assert image_stamps == sorted(image_stamps)
    info = infos[0]
    focal = (WIDTH / 2) / math.tan(math.radians(90.0) / 2)
    assert (info.width, info.height, info.header.frame_id) == (64, 48, "test_cam")
    assert info.k[0] == pytest.approx(focal) and info.k[4] == pytest.approx(focal)
    assert info.k[2] == pytest.approx(WIDTH / 2, abs=0.5) and info.k[8] == 1.0


def test_loop_starts_the_video_again(rclpy_context, video):
    source, images, _ = run_source(rclpy_context, video, loop=True, wanted=len(COLOURS) + 2)
    assert not source.finished
    assert len(images) >= len(COLOURS) + 2
    np.testing.assert_allclose(
        image_to_rgb(images[len(COLOURS)]).reshape(-1, 3).mean(axis=0), COLOURS[0], atol=10
    )


def test_missing_or_unreadable_video_is_a_clear_error(rclpy_context, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DemoSource(
            context=rclpy_context, parameter_overrides=[Parameter("video", value=str(tmp_path / "none.avi"))]
        )
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="cannot be decoded"):
        DemoSource(context=rclpy_context, parameter_overrides=[Parameter("video", value=str(garbage))])


def test_main_exits_non_zero_without_a_video(tmp_path):
    assert main(["--ros-args", "-p", f"video:={tmp_path / 'none.avi'}"]) == 1


def test_relative_video_is_found_from_the_working_directory(monkeypatch, tmp_path, video):
    monkeypatch.chdir(Path(video).parent)
    assert resolve_video(Path(video).name) == Path(video)
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"relative to the working directory {tmp_path.parent})")
    ):
        resolve_video(Path(video).name)


def test_empty_video_is_the_sample_wherever_the_node_starts(monkeypatch, tmp_path, video):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo_source, "SAMPLE_VIDEO", Path(video))
    assert resolve_video(DEFAULT_VIDEO) == Path(video)
    monkeypatch.setattr(demo_source, "SAMPLE_VIDEO", tmp_path / "missing.avi")
    with pytest.raises(
        FileNotFoundError, match=r"parameter video is empty and the sample video .* pass video:="
    ):
        resolve_video("")


def test_sample_video_is_where_setup_puts_it():
    fetched = Path(__file__).resolve().parents[1] / "data" / "vtest.avi"  # scripts/fetch_sample_video.sh
    assert fetched == demo_source.SAMPLE_VIDEO
