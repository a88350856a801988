"""sensor_msgs Image / CompressedImage / CameraInfo -> numpy arrays and CameraIntrinsics.

Our own numpy code instead of cv_bridge: ROS 2's cv_bridge is not on PyPI and the PyPI port
breaks with numpy 2. Every message is validated before a byte is read, so a malformed message
raises ImageConversionError with a message saying what is wrong, never a numpy error.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from deephar_ros.camera import CameraIntrinsics, depth_image_to_metres


class ImageConversionError(ValueError):
    """A message that cannot be turned into an image; the message says why."""


# encoding -> (numpy dtype, channels, OpenCV conversion to RGB or None when already RGB)
_COLOUR_ENCODINGS: dict[str, tuple[np.dtype, int, int | None]] = {
    "rgb8": (np.dtype(np.uint8), 3, None),
    "bgr8": (np.dtype(np.uint8), 3, cv2.COLOR_BGR2RGB),
    "8UC3": (np.dtype(np.uint8), 3, cv2.COLOR_BGR2RGB),  # cv_bridge treats 8UC3 as BGR
    "rgba8": (np.dtype(np.uint8), 4, cv2.COLOR_RGBA2RGB),
    "bgra8": (np.dtype(np.uint8), 4, cv2.COLOR_BGRA2RGB),
    "8UC4": (np.dtype(np.uint8), 4, cv2.COLOR_BGRA2RGB),
    "mono8": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2RGB),
    "8UC1": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2RGB),
    "uyvy": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_UYVY),  # ROS's name for UYVY
    "yuyv": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_YUYV),
    "yuv422_yuy2": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_YUYV),
}

_DEPTH_ENCODINGS: dict[str, np.dtype] = {
    "16UC1": np.dtype(np.uint16),  # millimetres
    "mono16": np.dtype(np.uint16),  # millimetres: some drivers label depth so
    "32FC1": np.dtype(np.float32),  # metres
}

COLOUR_ENCODINGS = tuple(_COLOUR_ENCODINGS)
DEPTH_ENCODINGS = tuple(_DEPTH_ENCODINGS)

# Larger than any camera; refuses a declared 20000x20000 before anything is allocated.
MAX_IMAGE_PIXELS = 8192 * 8192


def _raw_array(msg: Image, dtype: np.dtype, channels: int, kind: str) -> np.ndarray:
    """Check the header fields against the data and view the data as (H, W[, C]) without copying."""
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"{kind} image has zero size ({width}x{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageConversionError(
            f"{kind} image declares {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} allowed"
        )
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"{kind} image step {step} is smaller than width {width} x {channels} channel(s) x "
            f"{dtype.itemsize} byte(s) = {row_bytes} for encoding '{msg.encoding}'"
        )
    if step % dtype.itemsize:
        raise ImageConversionError(f"{kind} image step {step} is not a multiple of {dtype.itemsize} bytes")
    if len(msg.data) != step * height:
        raise ImageConversionError(
            f"{kind} image data holds {len(msg.data)} bytes, expected step {step} x height {height} = "
            f"{step * height}"
        )
    stored = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(msg.data, dtype=stored).reshape(height, step // dtype.itemsize)
    pixels = rows[:, : width * channels]
    shape = (height, width, channels) if channels > 1 else (height, width)
    return pixels.reshape(shape).astype(dtype, copy=False)


def image_to_rgb(msg: Image) -> np.ndarray:
    """A colour or grey Image -> uint8 (H, W, 3) RGB, a fresh array the caller owns."""
    encoding = msg.encoding
    if encoding not in _COLOUR_ENCODINGS:
        hint = " (a depth encoding: send it to the depth topic)" if encoding in _DEPTH_ENCODINGS else ""
        raise ImageConversionError(
            f"unsupported image encoding '{encoding}'{hint}; supported: {', '.join(COLOUR_ENCODINGS)}"
        )
    dtype, channels, conversion = _COLOUR_ENCODINGS[encoding]
    if channels == 2 and msg.width % 2:
        raise ImageConversionError(
            f"'{encoding}' packs two pixels per 4 bytes: width {msg.width} must be even"
        )
    pixels = _raw_array(msg, dtype, channels, "colour")
    if conversion is None:
        return np.array(pixels, dtype=np.uint8, order="C")
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """A CompressedImage (JPEG, PNG, ...) -> uint8 (H, W, 3) RGB."""
    if len(msg.data) == 0:
        raise ImageConversionError("compressed image has no data")
    encoded = np.frombuffer(msg.data, dtype=np.uint8)
    declared = declared_size(encoded[:_HEADER_SCAN_BYTES].tobytes())
    if declared is not None and declared[0] * declared[1] > MAX_IMAGE_PIXELS:
        raise ImageConversionError(
            f"compressed image (format '{msg.format}') declares {declared[0]}x{declared[1]} pixels, "
            f"more than the {MAX_IMAGE_PIXELS} allowed"
        )
    try:
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise ImageConversionError(
            f"compressed image (format '{msg.format}') could not be decoded: {error}"
        ) from error
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(f"compressed image (format '{msg.format}') could not be decoded")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


# JPEG start-of-frame markers (baseline, progressive, lossless...; not DHT C4, JPG C8, DAC CC).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEADER_SCAN_BYTES = 1 << 16  # JPEG EXIF blocks come before the frame header; 64 kB covers them


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG or JPEG header declares, None for other or unreadable data.

    Read before decoding: a few kB of PNG can declare a 30000x30000 image, which OpenCV would
    allocate (2.7 GB) and decode before anyone could look at its size.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_FRAME_MARKERS and position + 9 <= len(data):
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            return int.from_bytes(data[position + 7 : position + 9], "big"), height
        position += 2 + length
    return None


def depth_to_metres(msg: Image) -> np.ndarray:
    """A depth Image (16UC1 / mono16 mm, 32FC1 m) -> float32 (H, W) metres, NaN where invalid."""
    encoding = msg.encoding
    if encoding not in _DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"unsupported depth encoding '{encoding}'; supported: {', '.join(DEPTH_ENCODINGS)}"
        )
    pixels = _raw_array(msg, _DEPTH_ENCODINGS[encoding], 1, "depth")
    return depth_image_to_metres(pixels, encoding)


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """A CameraInfo -> CameraIntrinsics, refusing an uncalibrated or inconsistent one."""
    k = np.asarray(msg.k, dtype=np.float64)
    d = np.asarray(msg.d, dtype=np.float64)
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(d))):
        raise ImageConversionError("camera info K or D holds NaN or infinity")
    try:
        intrinsics = CameraIntrinsics.from_camera_info(
            k, d, int(msg.width), int(msg.height), msg.distortion_model
        )
        # Distortion coefficients that OpenCV cannot invert would fail every later frame: try them now.
        rays = intrinsics.normalised_rays(_probe_pixels(intrinsics.width, intrinsics.height))
    except (ValueError, cv2.error) as error:
        raise ImageConversionError(f"camera info refused: {error}") from error
    if not np.all(np.isfinite(rays)):
        raise ImageConversionError(
            f"camera info refused: its '{msg.distortion_model}' distortion maps image pixels to no ray"
        )
    return intrinsics


def _probe_pixels(width: int, height: int) -> np.ndarray:
    """The centre and the four corners of a width x height image."""
    return np.array(
        [
            [(width - 1) / 2, (height - 1) / 2],
            [0, 0],
            [width - 1, 0],
            [0, height - 1],
            [width - 1, height - 1],
        ],
        dtype=np.float64,
    )


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    """uint8 (H, W, 3) RGB -> an rgb8 Image (tobytes: assigning the array itself is ~700x slower)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f"expected a uint8 (H, W, 3) RGB array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(rgb).tobytes(),
    )
