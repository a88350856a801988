"""Person boxes -> square 256x256 network crops, and network coordinates -> image pixels.

The authors crop a square window centred on the person, 1.5 times the person's larger side
(deephar/utils/bbox.py `relsize_std`, `get_valid_bbox(..., square=True)`), with a 32 px minimum
(deephar/data/*.py), pad outside the image with black, and resize it to 256x256 with PIL's
bilinear filter, which antialiases when it downscales (deephar/utils/transform.py `T.resize`).

Coordinates: image pixels (u, v) have pixel centres on integers (OpenCV, sensor_msgs/CameraInfo).
The network's x, y are crop-normalised in [0, 1]: 0 is the crop's left/top edge and 1 its
right/bottom edge (the authors' `normalize_affinemap`). One 2x3 matrix per crop maps one to the
other, so `warp_crops` and `crop_to_image` are exact inverses of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from deephar_ros.model.config import CROP_SIZE
from deephar_ros.perception.results import Box

AUTHORS_CROP_MARGIN = 1.5
MIN_WINDOW_SIZE = 32.0
# Windows over this many crop sizes are block-averaged by an integer factor k first (so that at least
# this much downscale is left to the tent): one pass over the window's pixels, in OpenCV's area resize.
# Four keeps a k-block's aliasing (content at periods near k pixels folded to low frequencies) under
# the tent's stop band; the tests hold it to the full-resolution tent within a grey level.
PRESHRINK_SCALE = 4


@dataclass(frozen=True)
class CropWindow:
    """A square window in image pixels: centre (cx, cy) and side, in pixel-edge units."""

    cx: float
    cy: float
    size: float

    @property
    def left(self) -> float:
        return self.cx - self.size / 2

    @property
    def top(self) -> float:
        return self.cy - self.size / 2

    def warp_matrix(self, crop_size: int = CROP_SIZE) -> np.ndarray:
        """2x3 matrix taking image pixel centres to crop pixel centres (for cv2.warpAffine)."""
        s = crop_size / self.size
        return np.array(
            [[s, 0.0, (0.5 - self.left) * s - 0.5], [0.0, s, (0.5 - self.top) * s - 0.5]],
            dtype=np.float64,
        )


def crop_window(box: Box, margin: float = AUTHORS_CROP_MARGIN) -> CropWindow:
    """The authors' square crop around a person box: margin times its larger side, centred."""
    if not all(np.isfinite([box.x0, box.y0, box.x1, box.y1])):
        raise ValueError(f"box has non-finite corners: {box}")
    if box.width <= 0 or box.height <= 0:
        raise ValueError(f"box has no area: {box}")
    if margin <= 0:
        raise ValueError(f"crop margin must be positive, got {margin}")
    size = max(margin * max(box.width, box.height), MIN_WINDOW_SIZE)
    return CropWindow(cx=(box.x0 + box.x1) / 2, cy=(box.y0 + box.y1) / 2, size=size)


def joint_extent_box(
    joints_2d: np.ndarray, confidences: np.ndarray, min_confidence: float, min_joints: float
) -> Box | None:
    """The extent of a person's confident joints (image pixels), or None when too few are confident.

    At least `min_joints` of the joints (a fraction), and two, must be `min_confidence` confident;
    the box's score is their mean confidence.
    """
    confident = confidences >= min_confidence
    if confident.sum() < max(2, min_joints * len(confidences)):
        return None
    points = joints_2d[confident]
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    if x1 - x0 < 1 and y1 - y0 < 1:
        return None
    return Box(float(x0), float(y0), float(x1), float(y1), float(confidences[confident].mean()))


def authors_window(joint_extent: Box) -> CropWindow:
    """The authors' window on a pose: 1.5 x the larger side of its joints' extent, centred.

    deephar/utils/bbox.py `get_valid_bbox(points, relsize=1.5, square=True)`: the window their network
    was trained to read, whatever margin our crops use, so a crop's size against it tells how the
    crop framed the person (camera.window_depth_scale, clip_window). Unlike crop_window, an extent
    flat in one direction (joints on a line) is a window too.
    """
    size = max(AUTHORS_CROP_MARGIN * max(joint_extent.width, joint_extent.height), MIN_WINDOW_SIZE)
    return CropWindow(
        cx=(joint_extent.x0 + joint_extent.x1) / 2, cy=(joint_extent.y0 + joint_extent.y1) / 2, size=size
    )


def warp_crops(image: np.ndarray, windows: list[CropWindow], crop_size: int = CROP_SIZE) -> np.ndarray:
    """Cut every window out of an (H, W, 3) uint8 image: (B, crop_size, crop_size, 3) uint8.

    Downscaled windows are low-passed first (see `_antialiased_warp`), as the authors' PIL resize
    does; plain bilinear would alias fine texture into the crops the network never saw in training.
    """
    crops = np.zeros((len(windows), crop_size, crop_size, 3), dtype=np.uint8)
    for crop, window in zip(crops, windows, strict=True):
        if window.size > crop_size:
            crop[...] = _antialiased_warp(image, window, crop_size)
            continue
        cv2.warpAffine(
            image,
            window.warp_matrix(crop_size),
            (crop_size, crop_size),
            dst=crop,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    return crops


def tent_kernel(scale: float) -> np.ndarray:
    """Taps of a tent of radius `scale` source pixels at integer offsets, summing to one.

    PIL's bilinear resize widens its triangle filter by the downscale factor, so each crop pixel
    averages the source pixels within `scale` of its centre, nearer ones weighing more.
    """
    reach = math.ceil(scale) - 1
    taps = 1.0 - np.abs(np.arange(-reach, reach + 1)) / scale
    return (taps / taps.sum()).astype(np.float32)


def _antialiased_warp(image: np.ndarray, window: CropWindow, crop_size: int) -> np.ndarray:
    """Low-pass the source around a downscaled window with the scale's tent, then warp it bilinearly.

    Only the window's overlap with the image, grown by the filter's reach, is filtered: outside the
    image stays black, as the authors pad, and a window far larger than the image costs no more
    than the image itself. A window over PRESHRINK_SCALE times the crop is first block-averaged
    (`_preshrunk`), so the tent runs on at most (2 x PRESHRINK_SCALE x crop_size)^2 pixels.
    """
    scale = window.size / crop_size
    radius = scale
    factor = int(scale // PRESHRINK_SCALE)
    if factor >= 2:
        shrunk = _preshrunk(image, window, factor, math.ceil(scale) + 1)
        if shrunk is None:
            return np.zeros((crop_size, crop_size, 3), np.uint8)
        image, window = shrunk
        # A k-pixel block average has variance (k^2 - 1) / 12 pixels^2 and a tent of radius r has r^2 / 6:
        # the tent left to apply is narrowed so that the two together spread as the full tent would.
        radius = math.sqrt(scale**2 - (factor**2 - 1) / 2) / factor
    return _tent_warp(image, window, crop_size, radius)


def _preshrunk(
    image: np.ndarray, window: CropWindow, factor: int, reach: int
) -> tuple[np.ndarray, CropWindow] | None:
    """The image under the window (grown by `reach` pixels) averaged over factor x factor blocks.

    Blocks sit on multiples of `factor` in image pixels, so the image's edge is a block edge; a block
    the image's right or bottom edge cuts averages the image with the black outside it. Returns the
    shrunk pixels and the window in their coordinates, or None when the window sees none of the image.
    """
    height, width = image.shape[:2]
    x0 = max(math.floor(window.left) - reach, 0) // factor * factor
    y0 = max(math.floor(window.top) - reach, 0) // factor * factor
    x1 = min(math.ceil(window.left + window.size) + reach, width)
    y1 = min(math.ceil(window.top + window.size) + reach, height)
    if x1 <= x0 or y1 <= y0:
        return None
    pixels = image[y0:y1, x0:x1]
    rows, cols = -(-(y1 - y0) // factor), -(-(x1 - x0) // factor)
    whole_rows, whole_cols = (y1 - y0) // factor, (x1 - x0) // factor
    shrunk = np.zeros((rows, cols, 3), np.uint8)
    if whole_rows and whole_cols:
        shrunk[:whole_rows, :whole_cols] = cv2.resize(
            pixels[: whole_rows * factor, : whole_cols * factor],
            (whole_cols, whole_rows),
            interpolation=cv2.INTER_AREA,
        )
    if cols > whole_cols:  # the last, cut column of blocks (it holds the cut corner block too)
        strip = np.zeros((rows * factor, (x1 - x0) - whole_cols * factor, 3), np.float32)
        strip[: y1 - y0] = pixels[:, whole_cols * factor :]
        shrunk[:, -1] = np.rint(strip.reshape(rows, -1, 3).sum(axis=1) / factor**2)
    if rows > whole_rows and whole_cols:  # the last, cut row of blocks
        strip = pixels[whole_rows * factor :, : whole_cols * factor].astype(np.float32)
        blocks = strip.reshape(len(strip), whole_cols, factor, 3).sum(axis=(0, 2))
        shrunk[-1, :whole_cols] = np.rint(blocks / factor**2)
    moved = CropWindow(cx=(window.cx - x0) / factor, cy=(window.cy - y0) / factor, size=window.size / factor)
    return shrunk, moved


def _tent_warp(image: np.ndarray, window: CropWindow, crop_size: int, radius: float) -> np.ndarray:
    """The window's crop: the image low-passed by a tent of `radius` pixels, sampled bilinearly."""
    height, width = image.shape[:2]
    margin = math.ceil(radius) + 1  # the tent's reach plus the bilinear neighbour
    x0 = max(math.floor(window.left) - margin, -margin)
    y0 = max(math.floor(window.top) - margin, -margin)
    x1 = min(math.ceil(window.left + window.size) + margin, width + margin)
    y1 = min(math.ceil(window.top + window.size) + margin, height + margin)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 <= sx0 or sy1 <= sy0:  # the window sees none of the image
        return np.zeros((crop_size, crop_size, 3), np.uint8)
    region = cv2.copyMakeBorder(
        image[sy0:sy1, sx0:sx1], sy0 - y0, y1 - sy1, sx0 - x0, x1 - sx1, cv2.BORDER_CONSTANT, value=(0, 0, 0)
    )
    taps = tent_kernel(radius)
    blurred = cv2.sepFilter2D(region, cv2.CV_32F, taps, taps, borderType=cv2.BORDER_CONSTANT)
    matrix = window.warp_matrix(crop_size)
    matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)  # region pixels -> crop pixels
    crop = cv2.warpAffine(
        blurred,
        matrix,
        (crop_size, crop_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.clip(np.rint(crop), 0, 255).astype(np.uint8)


def crop_to_image(points: np.ndarray, window: CropWindow) -> np.ndarray:
    """Crop-normalised (..., 2) points in [0, 1] -> image pixels (u, v)."""
    points = np.asarray(points, dtype=np.float64)
    return points * window.size + np.array([window.left, window.top]) - 0.5


def image_to_crop(pixels: np.ndarray, window: CropWindow) -> np.ndarray:
    """Image pixels (..., 2) -> crop-normalised coordinates; the inverse of `crop_to_image`."""
    pixels = np.asarray(pixels, dtype=np.float64)
    return (pixels + 0.5 - np.array([window.left, window.top])) / window.size


def flip_crops(crops: np.ndarray) -> np.ndarray:
    """Mirror (B, H, W, 3) crops left to right (the authors' horizontal-flip test-time augmentation)."""
    return np.ascontiguousarray(crops[:, :, ::-1])


def merge_flipped_poses(
    poses: np.ndarray, flipped_poses: np.ndarray, flip_map: tuple[int, ...]
) -> np.ndarray:
    """Average (B, J, D+1) poses with the poses predicted on mirrored crops.

    A mirrored crop's x becomes 1 - x and its left joints are the original's right ones, so the
    mirrored prediction is un-mirrored (x flipped back, joints swapped) before averaging.
    """
    if poses.shape != flipped_poses.shape:
        raise ValueError(f"pose shapes differ: {poses.shape} vs {flipped_poses.shape}")
    unflipped = flipped_poses[:, list(flip_map), :].copy()
    unflipped[..., 0] = 1.0 - unflipped[..., 0]
    return (poses + unflipped) / 2
