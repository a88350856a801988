"""Crops: the warp and its inverse agree to sub-pixel accuracy; flip TTA undoes the mirror."""

import numpy as np
import pytest

from deephar_ros.crops import (
    CROP_SIZE,
    crop_to_image,
    crop_window,
    flip_crops,
    image_to_crop,
    merge_flipped_poses,
    warp_crops,
)
from deephar_ros.joints import PA17J3D
from deephar_ros.results import Box


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
