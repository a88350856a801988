"""Image / CompressedImage / CameraInfo conversion: every encoding, and a clear error for bad messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from deephar_ros.ros.image_conversion import (
    MAX_IMAGE_PIXELS,
    ImageConversionError,
    camera_info_to_intrinsics,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def image_msg(pixels: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False) -> Image:
    """An Image holding pixels (H, W[, C]), each row followed by padding zero bytes."""
    height, width = pixels.shape[:2]
    stored = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = stored.reshape(height, -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((height, padding), np.uint8)], axis=1)
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=rows.shape[1],
        data=rows.tobytes(),
    )


@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_give_the_same_rgb(encoding, make, padding):
    converted = image_to_rgb(image_msg(np.ascontiguousarray(make(RGB)), encoding, padding))
    assert converted.dtype == np.uint8 and converted.flags.c_contiguous
    np.testing.assert_array_equal(converted, RGB)


def test_mono8_becomes_grey_rgb():
    grey = RGB[:, :, 0].copy()
    converted = image_to_rgb(image_msg(grey, "mono8", padding=1))
    assert converted.shape == (5, 7, 3)
    for channel in range(3):
        np.testing.assert_array_equal(converted[:, :, channel], grey)


def test_yuv422_is_decoded_to_rgb():
    uyvy = np.full((4, 6, 2), 128, np.uint8)  # neutral chroma, luma 128: mid grey
    converted = image_to_rgb(image_msg(uyvy, "uyvy"))
    assert converted.shape == (4, 6, 3)
    assert np.all(np.abs(converted.astype(int) - 128) <= 2)


def test_yuv422_with_an_odd_width_is_refused():
    with pytest.raises(ImageConversionError, match="width 5 must be even"):
        image_to_rgb(image_msg(np.zeros((2, 5, 2), np.uint8), "yuyv"))


def test_converted_image_owns_its_memory():
    msg = image_msg(RGB, "rgb8")
    converted = image_to_rgb(msg)
    converted[:] = 0
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_depth_encoding_on_the_colour_topic_is_refused_with_a_hint():
    with pytest.raises(ImageConversionError, match=r"unsupported image encoding '16UC1'.*depth topic"):
        image_to_rgb(image_msg(np.zeros((2, 2), np.uint16), "16UC1"))


def test_unknown_encoding_is_refused():
    msg = image_msg(RGB, "rgb8")
    msg.encoding = "bayer_weird42"
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'bayer_weird42'"):
        image_to_rgb(msg)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": 0}, "zero size"),
        ({"height": 0}, "zero size"),
        ({"step": 20}, "step 20 is smaller than"),
        ({"height": 6}, "expected step"),
        ({"width": 20000, "height": 20000, "step": 60000}, "more than"),
    ],
)
def test_inconsistent_sizes_are_refused(change, message):
    msg = image_msg(RGB, "rgb8")
    for name, value in change.items():
        setattr(msg, name, value)
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg)


def test_truncated_and_empty_data_are_refused():
    msg = image_msg(RGB, "rgb8")
    msg.data = msg.data[:-1]
    with pytest.raises(ImageConversionError, match="holds 104 bytes, expected"):
        image_to_rgb(msg)
    with pytest.raises(ImageConversionError, match="zero size"):
        image_to_rgb(Image(encoding="rgb8"))


def test_absurd_declared_size_is_refused_before_allocating():
    msg = Image(width=20000, height=20000, step=60000, encoding="rgb8", data=b"\0" * 10)
    assert MAX_IMAGE_PIXELS < 20000 * 20000
    with pytest.raises(ImageConversionError, match="20000x20000"):
        image_to_rgb(msg)


@pytest.mark.parametrize("big_endian", [False, True])
def test_16uc1_depth_is_millimetres_with_zero_invalid(big_endian):
    millimetres = np.array([[0, 1000], [2500, 65535]], np.uint16)
    metres = depth_to_metres(image_msg(millimetres, "16UC1", padding=2, big_endian=big_endian))
    assert metres.dtype == np.float32
    assert np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[[0, 1, 1], [1, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)


def test_32fc1_depth_is_metres_with_nan_invalid():
    values = np.array([[1.5, np.nan], [-1.0, 3.0]], np.float32)
    metres = depth_to_metres(image_msg(values, "32FC1"))
    np.testing.assert_allclose(metres, [[1.5, np.nan], [np.nan, 3.0]])


def test_colour_encoding_on_the_depth_topic_is_refused():
    with pytest.raises(ImageConversionError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(image_msg(RGB, "rgb8"))


def test_depth_step_must_hold_whole_pixels():
    msg = image_msg(np.zeros((2, 3), np.uint16), "16UC1", padding=1)
    with pytest.raises(ImageConversionError, match="not a multiple of 2 bytes"):
        depth_to_metres(msg)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_images_decode_to_rgb(extension):
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :24] = (250, 10, 10)  # red left half
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    decoded = compressed_to_rgb(CompressedImage(format=extension[1:], data=encoded.tobytes()))
    assert decoded.shape == (32, 48, 3)
    # away from the edge, where JPEG rings: red stays red (channel order right), black stays black
    np.testing.assert_allclose(decoded[:, :16].reshape(-1, 3).mean(axis=0), (250, 10, 10), atol=8)
    assert decoded[:, 32:].max() <= 8


def test_undecodable_compressed_images_are_refused():
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg"))
    with pytest.raises(ImageConversionError, match="could not be decoded"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg at all"))


def camera_info_msg(**fields) -> CameraInfo:
    values = {
        "width": 640,
        "height": 480,
        "k": [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0],
        "d": [0.0] * 5,
        "distortion_model": "plumb_bob",
    }
    values.update(fields)
    return CameraInfo(**values)


def test_camera_info_gives_intrinsics():
    intrinsics = camera_info_to_intrinsics(camera_info_msg())
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (500.0, 510.0, 320.0, 240.0)
    assert (intrinsics.width, intrinsics.height) == (640, 480)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"k": [0.0] * 9}, "focal lengths"),
        ({"width": 0}, "image size"),
        ({"k": [np.nan, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]}, "NaN"),
        ({"distortion_model": "mystery", "d": [0.1, 0.0, 0.0, 0.0, 0.0]}, "distortion model"),
    ],
)
def test_bad_camera_info_is_refused(fields, message):
    with pytest.raises(ImageConversionError, match=message):
        camera_info_to_intrinsics(camera_info_msg(**fields))


def test_rgb_to_image_round_trips_and_keeps_the_header():
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 5, 7
    msg = rgb_to_image(RGB, header)
    assert (msg.encoding, msg.step, msg.header.frame_id, msg.header.stamp.nanosec) == ("rgb8", 21, "cam", 7)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    with pytest.raises(ImageConversionError, match="uint8"):
        rgb_to_image(RGB.astype(np.float32), header)
