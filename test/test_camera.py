"""Camera geometry: back-projection, distortion, depth units and root depth, against known truth."""

import math

import cv2
import numpy as np
import pytest

from deephar_ros.model.joints import PA17J3D
from deephar_ros.perception.camera import (
    MAX_DEPTH_M,
    MEAN_TORSO_LENGTH_M,
    CameraIntrinsics,
    depth_image_to_metres,
    relative_depth_metres,
    root_depth_from_depth_image,
    root_depth_from_size,
    window_depth_scale,
)

K = [600.0, 0.0, 330.5, 0.0, 605.0, 242.25, 0.0, 0.0, 1.0]


def random_points(count, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.uniform(-1.2, 1.2, count), rng.uniform(-0.9, 0.9, count), rng.uniform(1.0, 6.0, count)], axis=1
    )


def project(points, intrinsics):
    if intrinsics.distortion_model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(
            points.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), intrinsics.matrix, intrinsics.distortion
        )
    else:
        distortion = intrinsics.distortion if intrinsics.has_distortion else None
        pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), intrinsics.matrix, distortion)
    return pixels.reshape(-1, 2)


@pytest.mark.parametrize(
    ("model", "coefficients"),
    [
        ("", []),
        ("plumb_bob", [-0.12, 0.05, 0.001, -0.0015, -0.01]),
        ("rational_polynomial", [0.1, -0.05, 0.0005, 0.0008, 0.002, 0.08, -0.03, 0.001]),
        ("equidistant", [0.05, -0.01, 0.002, -0.0005]),
    ],
)
def test_back_projection_within_a_millimetre(model, coefficients):
    intrinsics = CameraIntrinsics.from_camera_info(K, coefficients, 640, 480, model)
    points = random_points(50)
    pixels = project(points, intrinsics)
    recovered = intrinsics.back_project(pixels, points[:, 2])
    assert np.max(np.linalg.norm(recovered - points, axis=1)) < 1e-3


def test_camera_info_fields_and_default_guess():
    intrinsics = CameraIntrinsics.from_camera_info(K, [0, 0, 0, 0, 0], 640, 480, "plumb_bob")
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (600.0, 605.0, 330.5, 242.25)
    assert not intrinsics.has_distortion
    guess = CameraIntrinsics.default_for(640, 480, hfov_deg=90.0)
    assert guess.fx == pytest.approx(320.0) and guess.fy == guess.fx
    assert (guess.cx, guess.cy) == (319.5, 239.5)


def test_bad_intrinsics_are_refused_clearly():
    with pytest.raises(ValueError, match="unsupported distortion model"):
        CameraIntrinsics.from_camera_info(K, [0.1, 0, 0, 0, 0], 640, 480, "kannala_brandt_9")
    with pytest.raises(ValueError, match="coefficients"):
        CameraIntrinsics.from_camera_info(K, [0.1, 0.2, 0.3], 640, 480, "plumb_bob")
    with pytest.raises(ValueError, match="9 numbers"):
        CameraIntrinsics.from_camera_info(K[:6], [], 640, 480, "")
    with pytest.raises(ValueError, match="focal"):
        CameraIntrinsics(0.0, 1.0, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="field of view"):
        CameraIntrinsics.default_for(640, 480, hfov_deg=180.0)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        ([600.0, 0, 330.5, 0, 605.0, 242.25, 0, 0, 0], "last row must be 0 0 1, got 0 0 0"),
        ([600.0, 0, 330.5, 0, 605.0, 242.25, 0, 0, 2], "last row must be 0 0 1"),
        ([0.0] * 9, "not calibrated"),
        ([-600.0, 0, 330.5, 0, 605.0, 242.25, 0, 0, 1], "focal lengths must be positive"),
        ([600.0, 0, math.inf, 0, 605.0, 242.25, 0, 0, 1], "principal point must be finite"),
        ([1.0, 0, 330.5, 0, 605.0, 242.25, 0, 0, 1], "horizontal field of view 179.6 degrees"),
        ([600.0, 0, 330.5, 0, 1e5, 242.25, 0, 0, 1], "vertical field of view 0.275 degrees"),
    ],
)
def test_corrupt_camera_matrices_are_refused(k, message):
    with pytest.raises(ValueError, match=message):
        CameraIntrinsics.from_camera_info(k, [], 640, 480, "")


@pytest.mark.parametrize("hfov_deg", [2.0, 30.0, 120.0, 179.0])
def test_every_real_field_of_view_is_accepted(hfov_deg):
    assert CameraIntrinsics.default_for(640, 480, hfov_deg=hfov_deg).fx > 0


def test_binning_and_roi_follow_the_camera_info_convention():
    """Binning divides f and c, the ROI offset moves c (full-resolution pixels), the ROI sets the size."""
    intrinsics = CameraIntrinsics.from_camera_info(
        K, [], 640, 480, "", binning=(2, 3), roi=(30, 12, 600, 450)
    )
    assert (intrinsics.fx, intrinsics.fy) == (300.0, pytest.approx(605.0 / 3))
    assert (intrinsics.cx, intrinsics.cy) == ((330.5 - 30) / 2, pytest.approx((242.25 - 12) / 3))
    assert (intrinsics.width, intrinsics.height) == (300, 150)
    unbinned = CameraIntrinsics.from_camera_info(K, [], 640, 480, "", binning=(0, 1), roi=(0, 0, 0, 0))
    assert (unbinned.fx, unbinned.cx, unbinned.width, unbinned.height) == (600.0, 330.5, 640, 480)
    with pytest.raises(ValueError, match="does not lie in the calibrated 640x480 image"):
        CameraIntrinsics.from_camera_info(K, [], 640, 480, "", roi=(0, 100, 640, 400))


def test_implausible_depths_are_invalid():
    floats = np.array([[1e30, MAX_DEPTH_M + 0.5, MAX_DEPTH_M, 0.3]], np.float32)
    metres = depth_image_to_metres(floats, "32FC1")
    assert np.isnan(metres[0, :2]).all()
    np.testing.assert_allclose(metres[0, 2:], [MAX_DEPTH_M, 0.3], rtol=1e-6)


def test_depth_images_in_millimetres_and_metres():
    mm = np.array([[0, 1500], [65535, 800]], np.uint16)
    metres = depth_image_to_metres(mm, "16UC1")
    assert metres.dtype == np.float32
    assert math.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[0, 1:], [1.5])
    np.testing.assert_allclose(metres[1], [65.535, 0.8], rtol=1e-6)
    floats = np.array([[np.nan, np.inf], [0.0, 2.25]], np.float32)
    converted = depth_image_to_metres(floats, "32FC1")
    assert np.isnan(converted[0]).all() and math.isnan(converted[1, 0]) and converted[1, 1] == 2.25
    with pytest.raises(ValueError, match="uint16"):
        depth_image_to_metres(floats, "16UC1")
    with pytest.raises(ValueError, match="encoding"):
        depth_image_to_metres(mm, "8UC1")
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        depth_image_to_metres(np.zeros((2, 2, 3), np.float32), "32FC1")


def skeleton(root_depth, lean=0.15):
    """A standing pa17j3d skeleton (camera frame, metres) whose torso is exactly the mean length."""
    joints = np.zeros((17, 3))
    x = {4: -0.19, 5: 0.19, 6: -0.3, 7: 0.3, 8: -0.33, 9: 0.33, 10: -0.12, 11: 0.12}
    x.update({12: -0.13, 13: 0.13, 14: -0.14, 15: 0.14})
    z = {1: -lean, 2: -lean, 3: -lean - 0.02, 4: -lean, 5: -lean, 16: -lean / 2, 6: -0.1, 7: -0.05}
    for j, value in x.items():
        joints[j, 0] = value
    for j, value in z.items():
        joints[j, 2] = value
    shoulder_y = -math.sqrt(MEAN_TORSO_LENGTH_M**2 - lean**2)
    y = {
        1: shoulder_y,
        2: shoulder_y - 0.1,
        3: shoulder_y - 0.3,
        4: shoulder_y,
        5: shoulder_y,
        16: shoulder_y / 2,
    }
    y.update(
        {6: shoulder_y + 0.25, 7: shoulder_y + 0.25, 8: 0.05, 9: 0.05, 12: 0.45, 13: 0.45, 14: 0.88, 15: 0.88}
    )
    for j, value in y.items():
        joints[j, 1] = value
    joints += np.array([0.4, 0.1, root_depth])
    return joints


def test_root_depth_from_size_of_a_mean_adult_torso():
    intrinsics = CameraIntrinsics.from_camera_info(K, [], 640, 480, "")
    truth = skeleton(3.2)
    pixels = project(truth, intrinsics)
    relative = truth[:, 2] - truth[0, 2]
    root = root_depth_from_size(pixels, relative, np.ones(17), PA17J3D, intrinsics, box_height_px=300)
    assert abs(root - 3.2) < 1e-3
    lifted = intrinsics.back_project(pixels, root + relative)
    assert np.max(np.linalg.norm(lifted - truth, axis=1)) < 1e-3


def test_root_depth_from_size_falls_back_to_box_height():
    intrinsics = CameraIntrinsics.from_camera_info(K, [], 640, 480, "")
    pixels = project(skeleton(3.0), intrinsics)
    confidences = np.ones(17)
    confidences[PA17J3D.index("left_hip")] = 0.0
    root = root_depth_from_size(pixels, np.zeros(17), confidences, PA17J3D, intrinsics, box_height_px=363.0)
    assert root == pytest.approx(605.0 * 1.70 / 363.0)


def test_root_depth_from_depth_image_ignores_background_and_holes():
    intrinsics = CameraIntrinsics.from_camera_info(K, [-0.1, 0.02, 0, 0, 0], 640, 480, "plumb_bob")
    truth = skeleton(2.7)
    pixels = project(truth, intrinsics)
    relative = truth[:, 2] - truth[0, 2]
    depth = np.full((480, 640), 9.0, np.float32)  # a far wall behind the person
    for j in PA17J3D.torso:
        col, row = np.round(pixels[j]).astype(int)
        depth[row - 3 : row + 4, col - 3 : col + 4] = truth[j, 2]
    depth[::2, ::3] = np.nan  # holes
    root = root_depth_from_depth_image(depth, pixels, relative, PA17J3D.torso, window=5)
    assert abs(root - 2.7) < 1e-3
    lifted = intrinsics.back_project(pixels, root + relative)
    assert np.max(np.linalg.norm(lifted - truth, axis=1)) < 1e-3
    empty = np.full((480, 640), np.nan, np.float32)
    assert root_depth_from_depth_image(empty, pixels, relative, PA17J3D.torso) is None


def test_network_depth_is_plus_minus_a_metre_around_the_root():
    np.testing.assert_allclose(relative_depth_metres(np.array([0.0, 0.5, 0.75, 1.0])), [-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(relative_depth_metres(np.array([0.75]), scale=1.3), [0.65])


def test_a_crop_framing_the_person_loosely_reads_z_over_more_depth_within_the_trained_scales():
    assert window_depth_scale(336.0, 300.0) == pytest.approx(1.12)  # a detector box 1.12x the authors' window
    assert window_depth_scale(300.0, 300.0, scale=2.0) == 2.0
    assert window_depth_scale(600.0, 300.0) == 1.3 and window_depth_scale(100.0, 300.0) == 0.7  # clamped
    with pytest.raises(ValueError, match="positive"):
        window_depth_scale(0.0, 300.0)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        ([600.0, 5.0, 330.5, 0, 605.0, 242.25, 0, 0, 1], "skew 5 is over 0.001 x fx"),
        ([600.0, 0, 330.5, 3.0, 605.0, 242.25, 0, 0, 1], r"K\[1\]\[0\] must be 0"),
        ([600.0, 0, 1e4, 0, 605.0, 242.25, 0, 0, 1], r"principal point \(10000, 242.25\) lies far outside"),
        ([600.0, 0, 330.5, 0, 605.0, -300.0, 0, 0, 1], "lies far outside the calibrated 640x480 image"),
    ],
)
def test_skewed_or_far_off_centre_camera_matrices_are_refused(k, message):
    with pytest.raises(ValueError, match=message):
        CameraIntrinsics.from_camera_info(k, [], 640, 480, "")


def test_a_rounding_residue_of_skew_and_an_off_centre_principal_point_are_accepted():
    k = [600.0, 0.3, 700.0, 0, 605.0, -100.0, 0, 0, 1]  # lens shift: the centre just off the image
    intrinsics = CameraIntrinsics.from_camera_info(k, [], 640, 480, "")
    assert (intrinsics.cx, intrinsics.cy) == (700.0, -100.0)


def test_depth_nearer_than_any_depth_camera_measures_is_invalid():
    mm = np.array([[1, 49, 50, 300]], np.uint16)
    metres = depth_image_to_metres(mm, "16UC1")
    assert np.isnan(metres[0, :2]).all()
    np.testing.assert_allclose(metres[0, 2:], [0.05, 0.3], rtol=1e-6)
    assert np.isnan(depth_image_to_metres(np.array([[0.001]], np.float32), "32FC1")).all()
