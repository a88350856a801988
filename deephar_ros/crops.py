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

from deephar_ros.results import Box

CROP_SIZE = 256
AUTHORS_CROP_MARGIN = 1.5
MIN_WINDOW_SIZE = 32.0


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
    than the image itself.
    """
    height, width = image.shape[:2]
    scale = window.size / crop_size
    margin = math.ceil(scale) + 1  # the tent's reach plus the bilinear neighbour
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
    taps = tent_kernel(scale)
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
