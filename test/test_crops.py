"""Crops: the warp and its inverse agree to sub-pixel accuracy; downscaled crops are antialiased like
the authors' PIL resize; flip TTA undoes the mirror."""

import functools

import cv2
import numpy as np
import pytest

from deephar_ros.model.joints import PA17J3D
from deephar_ros.perception.crops import (
    CROP_SIZE,
    PRESHRINK_SCALE,
    CropWindow,
    _tent_warp,
    authors_window,
    crop_to_image,
    crop_window,
    flip_crops,
    image_to_crop,
    joint_extent_box,
    merge_flipped_poses,
    warp_crops,
)
from deephar_ros.perception.results import Box


def gaussian_blob_image(width, height, centre, sigma):
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    blob = np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * sigma**2))
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.round(255 * blob)
    return image


def weighted_centroid(channel):
    weights = channel.astype(np.float64)
    rows, cols = np.indices(channel.shape)
    return np.array([(weights * cols).sum(), (weights * rows).sum()]) / weights.sum()


@pytest.mark.parametrize(
    ("box", "point", "sigma"),
    [
        (Box(100, 80, 180, 300), (141.3, 150.7), 4.0),  # window 330 px: downscaled
        (Box(300, 200, 360, 260), (322.8, 241.1), 2.0),  # window 90 px: upscaled
        (Box(-40, 10, 60, 200), (20.25, 90.6), 4.0),  # window past the image edge: padded
    ],
)
def test_crop_round_trip_within_half_a_pixel(box, point, sigma):
    image = gaussian_blob_image(640, 480, point, sigma)
    window = crop_window(box)
    crop = warp_crops(image, [window])[0]
    found_px = weighted_centroid(crop[..., 0])
    normalised = (found_px + 0.5) / CROP_SIZE
    back = crop_to_image(normalised, window)
    assert np.linalg.norm(back - np.array(point)) < 0.5


def test_inverse_maps_are_exact_inverses():
    window = crop_window(Box(12.5, 40.0, 93.0, 251.0), margin=1.5)
    pixels = np.random.default_rng(0).uniform(-50, 700, size=(20, 2))
    np.testing.assert_allclose(crop_to_image(image_to_crop(pixels, window), window), pixels, atol=1e-9)
    corners = crop_to_image(np.array([[0.0, 0.0], [1.0, 1.0]]), window)
    np.testing.assert_allclose(corners[1] - corners[0], [window.size, window.size])


def test_window_is_square_with_the_authors_margin_and_minimum():
    window = crop_window(Box(10, 20, 50, 120))
    assert window.size == pytest.approx(150.0)
    assert (window.cx, window.cy) == (30.0, 70.0)
    assert crop_window(Box(0, 0, 4, 4)).size == 32.0
    with pytest.raises(ValueError, match="no area"):
        crop_window(Box(10, 10, 10, 50))
    with pytest.raises(ValueError, match="non-finite"):
        crop_window(Box(0, 0, float("nan"), 5))


def test_warp_batches_one_crop_per_window():
    image = np.full((100, 120, 3), 200, np.uint8)
    crops = warp_crops(image, [crop_window(Box(10, 10, 50, 90)), crop_window(Box(0, 0, 120, 100))])
    assert crops.shape == (2, CROP_SIZE, CROP_SIZE, 3) and crops.dtype == np.uint8
    assert crops[0, 128, 128, 0] == 200
    assert crops[1, 0, 0, 0] == 0  # outside the image: black, as the authors pad


def test_flip_merge_recovers_the_pose_of_a_mirrored_prediction():
    rng = np.random.default_rng(1)
    pose = rng.uniform(0, 1, size=(3, PA17J3D.num_joints, 4))
    mirrored = pose[:, list(PA17J3D.flip_map), :].copy()
    mirrored[..., 0] = 1 - mirrored[..., 0]
    np.testing.assert_allclose(merge_flipped_poses(pose, mirrored, PA17J3D.flip_map), pose, atol=1e-12)
    crops = rng.integers(0, 255, size=(2, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(flip_crops(crops)[:, :, 0], crops[:, :, -1])
    with pytest.raises(ValueError, match="differ"):
        merge_flipped_poses(pose, pose[:2], PA17J3D.flip_map)


def test_mirrored_crop_point_lands_at_one_minus_x():
    point = (250.4, 190.2)
    image = gaussian_blob_image(400, 300, point, 3.0)
    window = crop_window(Box(200, 100, 300, 280))
    mirrored = flip_crops(warp_crops(image, [window]))[0]
    found = (weighted_centroid(mirrored[..., 0]) + 0.5) / CROP_SIZE
    expected = image_to_crop(np.array(point), window)
    assert abs(found[0] - (1 - expected[0])) * window.size < 0.5
    assert abs(found[1] - expected[1]) * window.size < 0.5


@functools.cache
def fine_texture_image(width, height):
    """A smooth grey field plus gratings near the pixel Nyquist rate: what point sampling aliases."""
    rng = np.random.default_rng(0)
    field = cv2.resize(
        rng.normal(size=(height // 16, width // 16)), (width, height), interpolation=cv2.INTER_CUBIC
    )
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    fine = sum(
        np.cos(2 * np.pi * (fx * cols + fy * rows) + rng.uniform(0, 2 * np.pi))
        for fx, fy in [(0.37, 0.41), (-0.43, 0.35), (0.45, -0.3)]
    )
    grey = 127.5 + 35 * field / field.std() + 80 * fine / np.abs(fine).max()
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def plain_bilinear(image, window):
    """The crop as cv2.warpAffine alone makes it (what warp_crops did before antialiasing)."""
    matrix = window.warp_matrix()
    return cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)


def tent_resample(image, window):
    """PIL's bilinear downscale written out: each crop pixel is a tent of radius `scale` source pixels."""
    scale = window.size / CROP_SIZE

    def weights(start, length):
        centres = start + (np.arange(CROP_SIZE) + 0.5) * scale - 0.5  # crop pixel centres, image pixels
        taps = np.maximum(0.0, 1.0 - np.abs(np.arange(length)[None, :] - centres[:, None]) / scale)
        return taps / taps.sum(axis=1, keepdims=True)

    by_rows, by_cols = weights(window.top, image.shape[0]), weights(window.left, image.shape[1])
    rows, cols = np.flatnonzero(by_rows.any(axis=0)), np.flatnonzero(by_cols.any(axis=0))
    support = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64)
    by_rows, by_cols = by_rows[:, rows[0] : rows[-1] + 1], by_cols[:, cols[0] : cols[-1] + 1]
    down = (by_rows @ support.reshape(len(support), -1)).reshape(CROP_SIZE, -1, 3)
    return by_cols @ down  # (crop row, crop column, channel)


def mean_grey_difference(a, b):
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean()


@pytest.mark.parametrize("factor", [3, 5])
def test_downscaled_crop_matches_an_area_average_where_plain_bilinear_aliases(factor):
    image = fine_texture_image(1400, 1400)
    left, top, size = 37, 51, factor * CROP_SIZE
    window = CropWindow(cx=left + size / 2, cy=top + size / 2, size=size)  # edges on pixel edges
    region = image[top : top + size, left : left + size]
    reference = cv2.resize(region, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    assert mean_grey_difference(plain_bilinear(image, window), reference) > 10
    assert mean_grey_difference(warp_crops(image, [window])[0], reference) < 3


@pytest.mark.parametrize("factor", [1.7, 2.34, 4.5])
def test_downscaled_crop_matches_the_tent_filter_at_any_scale_and_offset(factor):
    image = fine_texture_image(1400, 1400)
    window = CropWindow(
        cx=37.3 + factor * CROP_SIZE / 2, cy=51.6 + factor * CROP_SIZE / 2, size=factor * CROP_SIZE
    )
    reference = tent_resample(image, window)
    assert mean_grey_difference(plain_bilinear(image, window), reference) > 5
    assert mean_grey_difference(warp_crops(image, [window])[0], reference) < 1


@pytest.mark.parametrize("size", [CROP_SIZE, 255.5, 90.0])
def test_one_to_one_and_upscaled_crops_stay_plain_bilinear(size):
    image = fine_texture_image(400, 300)
    window = CropWindow(cx=180.3, cy=140.7, size=size)
    np.testing.assert_array_equal(warp_crops(image, [window])[0], plain_bilinear(image, window))


@pytest.mark.parametrize(
    "window",
    [
        CropWindow(cx=20.4, cy=160.2, size=700.0),  # half off the image's left edge
        CropWindow(cx=100.0, cy=75.0, size=1200.0),  # the whole image and far more around it
        CropWindow(cx=-400.0, cy=75.0, size=600.0),  # none of the image
    ],
)
def test_downscaled_crop_pads_black_outside_the_image(window):
    image = fine_texture_image(200, 150)
    pad = 700
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    moved = CropWindow(cx=window.cx + pad, cy=window.cy + pad, size=window.size)
    crop = warp_crops(image, [window])[0]
    assert np.abs(crop.astype(int) - warp_crops(padded, [moved])[0]).max() <= 1
    assert mean_grey_difference(crop, tent_resample(padded, moved)) < 1


def test_the_authors_window_is_one_and_a_half_times_the_confident_joints_extent():
    confidences = np.array([0.9, 0.9, 0.9, 0.1])
    joints = np.array(
        [[100.0, 50.0], [140.0, 250.0], [120.0, 150.0], [900.0, 900.0]]
    )  # the last not confident
    extent = joint_extent_box(joints, confidences, min_confidence=0.3, min_joints=0.5)
    assert (extent.x0, extent.y0, extent.x1, extent.y1) == (100.0, 50.0, 140.0, 250.0)
    window = authors_window(extent)
    assert (window.cx, window.cy, window.size) == (120.0, 150.0, 300.0)
    line = joint_extent_box(
        joints[:2] * [0, 1] + [100, 0], confidences[:2], 0.3, 0.5
    )  # joints on a vertical line
    assert line.width == 0 and authors_window(line).size == 300.0
    assert joint_extent_box(joints, np.full(4, 0.2), 0.3, 0.5) is None  # too few confident


@pytest.mark.parametrize(
    "window",
    [
        CropWindow(cx=1100.4, cy=1080.7, size=8.3 * CROP_SIZE),  # inside the image: blocks of 2
        CropWindow(cx=1900.2, cy=1500.9, size=12.6 * CROP_SIZE),  # over the cut bottom-right blocks
        CropWindow(cx=-300.0, cy=200.5, size=9.0 * CROP_SIZE),  # over the top-left edge
        CropWindow(cx=1000.0, cy=800.0, size=16.0 * CROP_SIZE),  # the whole image and far more
    ],
)
def test_preshrunk_crop_matches_the_full_resolution_tent(window):
    """Windows over PRESHRINK_SCALE crops are block-averaged first: the same crop within a grey level."""
    image = fine_texture_image(2003, 1601)  # sides no block size divides
    crop = warp_crops(image, [window])[0]
    reference = _tent_warp(image, window, CROP_SIZE, window.size / CROP_SIZE)
    assert window.size / CROP_SIZE >= 2 * PRESHRINK_SCALE
    assert reference.mean() > 10  # the window sees the image
    assert mean_grey_difference(crop, reference) < 1
    assert np.abs(crop.astype(int) - reference).max() <= 8


def test_preshrunk_crop_of_a_window_beside_the_image_is_black():
    image = fine_texture_image(400, 300)
    assert not warp_crops(image, [CropWindow(cx=-2000.0, cy=150.0, size=3000.0)]).any()
