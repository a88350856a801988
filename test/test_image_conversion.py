"""Image / CompressedImage / CameraInfo conversion: every encoding, and a clear error for bad messages."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from deephar_ros.ros.image_conversion import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_IMAGE_PIXELS,
    MAX_JPEG_SCANS,
    MIN_IMAGE_SIDE,
    ImageConversionError,
    camera_info_to_intrinsics,
    check_compressed,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(32, 40, 3), dtype=np.uint8)  # the smallest sides allowed are 32


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
    assert converted.shape == (32, 40, 3)
    for channel in range(3):
        np.testing.assert_array_equal(converted[:, :, channel], grey)


def test_yuv422_is_decoded_to_rgb():
    uyvy = np.full((32, 40, 2), 128, np.uint8)  # neutral chroma, luma 128: mid grey
    converted = image_to_rgb(image_msg(uyvy, "uyvy"))
    assert converted.shape == (32, 40, 3)
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
        ({"height": 33}, "expected step"),
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
    with pytest.raises(ImageConversionError, match=f"holds {RGB.size - 1} bytes, expected"):
        image_to_rgb(msg)
    with pytest.raises(ImageConversionError, match="zero size"):
        image_to_rgb(Image(encoding="rgb8"))


def test_absurd_declared_size_is_refused_before_allocating():
    msg = Image(width=20000, height=20000, step=60000, encoding="rgb8", data=b"\0" * 10)
    assert MAX_IMAGE_PIXELS < 20000 * 20000
    with pytest.raises(ImageConversionError, match="20000x20000"):
        image_to_rgb(msg)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (10000, 10, "aspect ratio over the 8:1"),
        (10, 10000, "aspect ratio over the 8:1"),
        (400, 40, "aspect ratio over the 8:1"),
        (20, 20, "too small to hold a person"),
        (31, 200, "too small to hold a person"),
    ],
)
@pytest.mark.parametrize("encoding", ["rgb8", "16UC1"])
def test_shapes_no_camera_sends_are_refused_with_a_clear_message(width, height, message, encoding):
    pixels = np.zeros((height, width, 3) if encoding == "rgb8" else (height, width), np.uint8)
    msg = image_msg(pixels if encoding == "rgb8" else pixels.astype(np.uint16), encoding)
    with pytest.raises(ImageConversionError, match=f"{width}x{height}.*{message}"):
        (image_to_rgb if encoding == "rgb8" else depth_to_metres)(msg)


@pytest.mark.parametrize(("width", "height"), [(256, 32), (32, 256), (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)])
def test_the_limit_shapes_themselves_are_accepted(width, height):
    assert image_to_rgb(image_msg(np.zeros((height, width, 3), np.uint8), "rgb8")).shape == (height, width, 3)


def depth_frame(values: list[list[float]], dtype: type, fill: float) -> np.ndarray:
    """A 32x40 depth image of fill with values in its top-left corner."""
    frame = np.full((32, 40), fill, dtype)
    corner = np.array(values, dtype)
    frame[: corner.shape[0], : corner.shape[1]] = corner
    return frame


@pytest.mark.parametrize("big_endian", [False, True])
def test_16uc1_depth_is_millimetres_with_zero_invalid(big_endian):
    millimetres = depth_frame([[0, 1000], [2500, 65535]], np.uint16, 700)
    metres = depth_to_metres(image_msg(millimetres, "16UC1", padding=2, big_endian=big_endian))
    assert metres.dtype == np.float32 and metres.shape == (32, 40)
    assert np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[[0, 1, 1, 5], [1, 0, 1, 5]], [1.0, 2.5, 65.535, 0.7], rtol=1e-6)


def test_32fc1_depth_is_metres_with_nan_invalid_and_implausible_distances_too():
    values = depth_frame([[1.5, np.nan, 99.0], [-1.0, 3.0, 1e30], [np.inf, 0.0, 100.5]], np.float32, 2.0)
    metres = depth_to_metres(image_msg(values, "32FC1"))
    np.testing.assert_allclose(
        metres[:3, :3], [[1.5, np.nan, 99.0], [np.nan, 3.0, np.nan], [np.nan, np.nan, np.nan]]
    )
    assert np.all(metres[3:] == 2.0)


def test_colour_encoding_on_the_depth_topic_is_refused():
    with pytest.raises(ImageConversionError, match="unsupported depth encoding 'rgb8'"):
        depth_to_metres(image_msg(RGB, "rgb8"))


def test_depth_step_must_hold_whole_pixels():
    msg = image_msg(np.zeros((32, 40), np.uint16), "16UC1", padding=1)
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


def encoded(extension: str, rgb: np.ndarray = RGB) -> bytes:
    ok, data = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def jpeg_declaring(width: int, height: int, jpeg: bytes | None = None) -> bytes:
    """A JPEG (by default of RGB) whose baseline frame header (SOF0) declares width x height."""
    jpeg = jpeg or encoded(".jpg")
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 9 :]


def after_exif(jpeg: bytes, *sizes: int) -> bytes:
    """jpeg with APP1.. segments of the given body sizes (an EXIF block, say) before its other segments."""
    segments = b"".join(jpeg_segment(0xE1 + i, bytes(size)) for i, size in enumerate(sizes))
    return jpeg[:2] + segments + jpeg[2:]


def png_declaring(width: int, height: int) -> bytes:
    """A grey PNG whose IHDR (CRC fixed, so decoders read it) declares width x height."""
    png = bytearray(encoded(".png", RGB[:, :, :1].copy()))
    png[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    return bytes(png)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if OpenCV is asked to decode anything."""

    def imdecode(*_args):
        raise AssertionError("cv2.imdecode called for an image that should be refused before")

    monkeypatch.setattr(cv2, "imdecode", imdecode)


def test_a_jpeg_whose_frame_header_follows_64_kb_of_exif_is_sized_before_decoding(no_decoding):
    bomb = jpeg_declaring(8200, 8200, after_exif(encoded(".jpg"), 65533, 4000))
    assert 66_000 < len(bomb) < 75_000 and bomb.index(b"\xff\xc0") > 65536
    with pytest.raises(ImageConversionError, match="declares 8200x8200 pixels, more than"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=bomb))


def test_a_jpeg_with_a_large_exif_block_still_decodes():
    jpeg = after_exif(encoded(".jpg"), 65533, 65533, 300)
    assert check_compressed(CompressedImage(format="jpeg", data=jpeg)) == (40, 32)
    assert compressed_to_rgb(CompressedImage(format="jpeg", data=jpeg)).shape == (32, 40, 3)


def test_a_second_jpeg_frame_header_after_the_first_scan_is_found(no_decoding):
    second = jpeg_segment(0xC2, bytes([8]) + (9000).to_bytes(2, "big") * 2 + bytes([1, 1, 0x11, 0]))
    jpeg = encoded(".jpg")
    with pytest.raises(ImageConversionError, match="declares 9000x9000"):
        check_compressed(CompressedImage(format="jpeg", data=jpeg[:-2] + second + jpeg[-2:]))


def test_the_frame_header_of_an_exif_thumbnail_is_not_taken_for_the_images():
    thumbnail = jpeg_declaring(9000, 9000)
    jpeg = encoded(".jpg")
    jpeg = jpeg[:2] + jpeg_segment(0xE1, b"Exif\0\0" + thumbnail) + jpeg[2:]
    assert compressed_to_rgb(CompressedImage(format="jpeg", data=jpeg)).shape == (32, 40, 3)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("webp", lambda: encoded(".webp")),
        ("tiff", lambda: encoded(".tiff")),
        ("bmp", lambda: encoded(".bmp")),
        ("gif", lambda: b"GIF89a" + bytes(64)),
        ("compressedDepth", lambda: bytes(12) + encoded(".png")),  # its header before the PNG
        ("text", lambda: b"not a jpeg at all"),
    ],
)
def test_formats_image_transport_does_not_send_are_refused_before_decoding(name, make, no_decoding):
    with pytest.raises(ImageConversionError, match=f"format '{name}'.* neither JPEG nor PNG"):
        compressed_to_rgb(CompressedImage(format=name, data=make()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no data"),
        (png_declaring(20000, 20000), "declares 20000x20000 pixels, more than"),
        (png_declaring(10000, 10), "10000x10, an aspect ratio over"),
        (jpeg_declaring(20, 20), "20x20: too small to hold a person"),
        (jpeg_declaring(0, 40), "zero size"),
        (b"\x89PNG\r\n\x1a\n" + bytes(16), "PNG without its IHDR header"),
        (b"\xff\xd8\xff\xd9", "JPEG without a frame header"),
        (encoded(".jpg")[:100], "JPEG without a frame header"),  # cut in a table segment before it
        (b"\xff\xd8" + jpeg_segment(0xFE, b"") * 1000 + encoded(".jpg")[2:], "over 1000 marker segments"),
    ],
)
def test_compressed_images_with_bad_headers_are_refused_before_decoding(data, message, no_decoding):
    with pytest.raises(ImageConversionError, match=message):
        compressed_to_rgb(CompressedImage(format="png", data=data))


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_check_compressed_reads_the_size_without_decoding(extension, no_decoding):
    assert check_compressed(CompressedImage(format=extension[1:], data=encoded(extension))) == (40, 32)


@pytest.mark.parametrize(
    ("option", "marker"),
    [(cv2.IMWRITE_JPEG_RST_INTERVAL, b"\xff\xd0"), (cv2.IMWRITE_JPEG_PROGRESSIVE, b"\xff\xda")],
    ids=["restart markers", "progressive scans"],
)
def test_jpegs_of_many_scans_or_restarts_are_sized_and_decoded(option, marker):
    noisy = np.random.default_rng(1).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 95, option, 1])
    assert ok and jpeg.tobytes().count(marker) > 5
    msg = CompressedImage(format="jpeg", data=jpeg.tobytes())
    assert check_compressed(msg) == (640, 480)
    assert compressed_to_rgb(msg).shape == (480, 640, 3)


def test_undecodable_compressed_images_are_refused():
    jpeg = encoded(".jpg")
    sos = jpeg.index(b"\xff\xda")
    with pytest.raises(ImageConversionError, match="could not be decoded"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=jpeg[:sos] + b"\xff\xd9"))


def test_opencv_itself_refuses_to_decode_more_pixels_than_the_cap():
    """OpenCV reads its cap when cv2 is imported: a fresh interpreter importing the package gets it."""
    script = (
        "import sys\n"
        "import deephar_ros.ros.image_conversion\n"
        "import cv2, numpy as np\n"
        "data = np.frombuffer(sys.stdin.buffer.read(), np.uint8)\n"
        "try:\n"
        "    print('decoded', cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) is not None)\n"
        "except cv2.error as error:\n"
        "    print('refused', error)\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    side = math.isqrt(MAX_IMAGE_PIXELS) + 8
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=png_declaring(side, side),
        capture_output=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert result.stdout.startswith(b"refused") and b"CV_IO_MAX_IMAGE_PIXELS" in result.stdout, result


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


def k_with(**entries: float) -> list[float]:
    """The test K with some entries (k0 .. k8) changed."""
    k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    for name, value in entries.items():
        k[int(name[1:])] = value
    return k


def test_camera_info_binning_and_roi_give_the_intrinsics_of_the_images_sent():
    roi = RegionOfInterest(x_offset=100, y_offset=60, width=400, height=300)
    intrinsics = camera_info_to_intrinsics(camera_info_msg(binning_x=2, binning_y=4, roi=roi))
    assert (intrinsics.fx, intrinsics.fy) == (250.0, 127.5)
    assert (intrinsics.cx, intrinsics.cy) == ((320.0 - 100) / 2, (240.0 - 60) / 4)
    assert (intrinsics.width, intrinsics.height) == (200, 75)
    binned = camera_info_to_intrinsics(camera_info_msg(binning_x=2, binning_y=2))
    assert (binned.fx, binned.fy, binned.cx, binned.cy, binned.width, binned.height) == (
        250.0,
        255.0,
        160.0,
        120.0,
        320,
        240,
    )
    cropped = camera_info_to_intrinsics(camera_info_msg(roi=roi, binning_x=1))  # binning 1 and 0: none
    assert (cropped.fx, cropped.cx, cropped.cy, cropped.width, cropped.height) == (
        500.0,
        220.0,
        180.0,
        400,
        300,
    )


def test_a_pixel_of_the_binned_roi_image_sees_the_same_ray_as_in_the_full_image():
    """Distortion acts on normalised coordinates: only K changes with binning and ROI."""
    distorted = {"d": [-0.2, 0.05, 0.001, -0.002, 0.0]}
    full = camera_info_to_intrinsics(camera_info_msg(**distorted))
    roi = RegionOfInterest(x_offset=64, y_offset=32, width=512, height=400)
    binned = camera_info_to_intrinsics(camera_info_msg(binning_x=2, binning_y=2, roi=roi, **distorted))
    full_pixels = np.array([[64.0, 32.0], [320.0, 240.0], [575.0, 431.0], [100.5, 400.25]])
    binned_pixels = (full_pixels - [64, 32]) / 2
    np.testing.assert_allclose(
        binned.normalised_rays(binned_pixels), full.normalised_rays(full_pixels), atol=1e-9
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"k": [0.0] * 9}, "not calibrated"),
        ({"width": 0}, "image size"),
        ({"k": [np.nan, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]}, "NaN"),
        ({"k": k_with(k0=math.inf)}, "infinity"),
        ({"distortion_model": "mystery", "d": [0.1, 0.0, 0.0, 0.0, 0.0]}, "distortion model"),
        ({"k": k_with(k8=0.0)}, "last row must be 0 0 1, got 0 0 0"),
        ({"k": k_with(k6=3.0)}, "last row must be 0 0 1"),
        ({"k": k_with(k0=-500.0)}, "focal lengths must be positive"),
        ({"k": k_with(k0=1.0)}, "horizontal field of view 179.6 degrees"),
        ({"k": k_with(k4=1e6)}, "vertical field of view 0.0275 degrees"),
        (
            {"roi": RegionOfInterest(x_offset=400, width=300, height=100)},
            "ROI 300x100 at .400, 0. does not lie",
        ),
        ({"roi": RegionOfInterest(x_offset=10)}, "ROI 0x0"),
        ({"binning_x": 1000}, "image size must be positive, got 0x480"),
    ],
)
def test_bad_camera_info_is_refused(fields, message):
    with pytest.raises(ImageConversionError, match=message):
        camera_info_to_intrinsics(camera_info_msg(**fields))


def test_rgb_to_image_round_trips_and_keeps_the_header():
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 5, 7
    msg = rgb_to_image(RGB, header)
    assert (msg.encoding, msg.step, msg.header.frame_id, msg.header.stamp.nanosec) == ("rgb8", 120, "cam", 7)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    with pytest.raises(ImageConversionError, match="uint8"):
        rgb_to_image(RGB.astype(np.float32), header)


# The decode budget (issue 18): what passes the size cap but would still cost seconds to decode.


def repeated_scans(jpeg: bytes, times: int) -> bytes:
    """A progressive JPEG whose scans (from the first SOS to EOI) are written `times` over."""
    first_scan = jpeg.index(b"\xff\xda")
    return jpeg[:first_scan] + jpeg[first_scan:-2] * times + jpeg[-2:]


def test_a_jpeg_far_too_small_for_the_pixels_it_declares_is_refused_before_decoding(no_decoding):
    bomb = jpeg_declaring(4000, 4000)  # under the size cap: 16 MP from a few hundred bytes
    assert len(bomb) < 3000 and MAX_IMAGE_PIXELS >= 4000 * 4000
    with pytest.raises(ImageConversionError, match="no encoder compresses so far") as refused:
        check_compressed(CompressedImage(format="jpeg", data=bomb))
    assert refused.value.reason == "too_compressed"


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_a_real_flat_image_of_the_largest_default_size_passes_the_ratio_check(extension):
    """The flattest real frame compresses the most: a black 4096x4096 still holds bytes enough."""
    black = np.zeros((DEFAULT_MAX_IMAGE_PIXELS // 4096, 4096, 3), np.uint8)
    msg = CompressedImage(format=extension[1:], data=encoded(extension, black))
    assert check_compressed(msg, DEFAULT_MAX_IMAGE_PIXELS) == (4096, 4096)


def test_a_jpeg_repeating_its_scans_is_refused_before_decoding(no_decoding):
    ok, progressive = cv2.imencode(".jpg", RGB, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    scans = progressive.tobytes().count(b"\xff\xda")
    assert scans <= MAX_JPEG_SCANS  # an encoder's own progressive JPEG passes
    check_compressed(CompressedImage(format="jpeg", data=progressive.tobytes()))
    bomb = repeated_scans(progressive.tobytes(), MAX_JPEG_SCANS // scans + 1)
    with pytest.raises(ImageConversionError, match=r"a JPEG of \d+ scans") as refused:
        compressed_to_rgb(CompressedImage(format="jpeg", data=bomb))
    assert refused.value.reason == "jpeg_scans"


@pytest.mark.parametrize(
    ("pixels", "depth"),
    [
        (np.zeros((32, 40, 4), np.uint16), 16),  # 16-bit RGBA: 8 bytes a pixel
        (np.zeros((32, 40), np.uint16), 16),  # 16-bit grey (a compressed depth image, not colour)
    ],
)
def test_pngs_of_other_than_8_bit_samples_are_refused_before_decoding(pixels, depth, no_decoding):
    ok, png = cv2.imencode(".png", pixels)
    assert ok
    with pytest.raises(ImageConversionError, match=f"PNG of {depth}-bit samples") as refused:
        check_compressed(CompressedImage(format="png", data=png.tobytes()))
    assert refused.value.reason == "png_format"


def test_max_pixels_refuses_larger_images_of_every_kind(no_decoding):
    limit = 40 * 32 - 1
    for convert, msg in [
        (check_compressed, CompressedImage(format="jpeg", data=encoded(".jpg"))),
        (image_to_rgb, image_msg(RGB, "rgb8")),
        (depth_to_metres, image_msg(np.zeros((32, 40), np.uint16), "16UC1")),
    ]:
        with pytest.raises(
            ImageConversionError, match=rf"40x32 pixels, more than the {limit} allowed"
        ) as refused:
            convert(msg, max_pixels=limit)
        assert refused.value.reason == "too_many_pixels"
        convert(msg, max_pixels=limit + 1)
