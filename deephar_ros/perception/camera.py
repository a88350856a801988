"""Camera geometry: intrinsics, undistortion, back-projection and the person's root depth.

Output frame: camera optical frame (x right, y down, z forward, metres; REP-103/105).

Depth of the joints (the authors' Human3.6M and NTU data code, deephar/data/human36m.py and ntu.py):
the network's z is each joint's camera depth, normalised over a window of +-1000 mm * scale around
the root joint's depth, so  z_m = (z - 0.5) * 2.0 * scale + root_depth_m.  At test time the authors
use `fixed_scale = 1` (deephar/config.py), so `AUTHORS_DEPTH_SCALE = 1.0`. Each joint is then
back-projected at its own depth from its (undistorted) pixel, as in the authors'
`Camera.inverse_project` (exp/common/h36m_tools.py).

Root depth comes from an aligned depth image when one is given (median over the torso joints'
pixels, each read back to the root with the network's relative depth), otherwise from the person's
size: a mean adult torso (shoulder midpoint to hip midpoint) of 0.288 body heights (Winter,
"Biomechanics and Motor Control of Human Movement", segment proportions) for a 1.70 m adult, i.e.
0.49 m, seen at fy pixels per metre at 1 m. Children, seated or bent people bias that estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from deephar_ros.model.joints import JointLayout

AUTHORS_DEPTH_SCALE = 1.0
# The crop scales the authors trained NTU and Penn Action on (deephar/config.py ntu_dataconf,
# pennaction_dataconf `scales`); z was normalised over +-1000 mm times the same scale.
AUTHORS_TRAINING_SCALES = (0.7, 1.3)
MEAN_ADULT_HEIGHT_M = 1.70
MEAN_TORSO_LENGTH_M = 0.288 * MEAN_ADULT_HEIGHT_M
# Pinhole models read by cv2.undistortPoints (5 and 8 coefficients), and the fisheye model.
PINHOLE_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial")
FISHEYE_DISTORTION_MODELS = ("equidistant",)
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
# Pinhole fields of view (2 atan(size / 2f)) a real camera can have: outside them K is corrupt.
MIN_FIELD_OF_VIEW_DEG = 1.0
MAX_FIELD_OF_VIEW_DEG = 179.0
# Farther than any depth camera measures (ToF and structured light ~10 m, stereo tens of metres;
# 16UC1 millimetres top out at 65.5 m): a larger value is corrupt, not far.
MAX_DEPTH_M = 100.0
# Nearer than any depth camera measures (RealSense D405 from 7 cm, D435 ~0.3 m, Kinects 0.25-0.5 m): a
# 1 mm reading is a sensor's invalid value, and no person fits the view that near anyway.
MIN_DEPTH_M = 0.05
# K's skew (K[0][1]) is not modelled: up to this fraction of fx it moves a pixel by under half a pixel
# within the image (calibrators write 0 or a rounding residue); more is refused, not silently ignored.
MAX_SKEW_FRACTION = 1e-3
# A principal point this many image sizes outside the calibrated image is no lens's: K is corrupt.
MAX_PRINCIPAL_POINT_OUTSIDE = 0.5


@dataclass
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (sensor_msgs/CameraInfo K), with an optional distortion model.

    Distortion models: "plumb_bob" (k1 k2 p1 p2 k3) and "rational_polynomial" (8 coefficients) via
    cv2.undistortPoints, "equidistant" (k1..k4) via cv2.fisheye; "" or all-zero coefficients mean
    none. Other models are refused, since silently ignoring them would bend every skeleton.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion_model: str = ""
    distortion: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.fx) and math.isfinite(self.fy)):
            raise ValueError(f"focal lengths must be positive and finite, got fx={self.fx} fy={self.fy}")
        if not (math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise ValueError(f"principal point must be finite, got cx={self.cx} cy={self.cy}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        for axis, focal, size in (("horizontal", self.fx, self.width), ("vertical", self.fy, self.height)):
            fov = math.degrees(2 * math.atan(size / (2 * focal)))
            if not MIN_FIELD_OF_VIEW_DEG <= fov <= MAX_FIELD_OF_VIEW_DEG:
                raise ValueError(
                    f"{axis} field of view {fov:.4g} degrees (focal length {focal:g} px over {size} px) is "
                    f"outside {MIN_FIELD_OF_VIEW_DEG:g} to {MAX_FIELD_OF_VIEW_DEG:g} degrees"
                )
        if self.distortion is not None:
            self.distortion = np.asarray(self.distortion, dtype=np.float64).ravel()
        if not self.has_distortion:
            return
        if self.distortion_model in PINHOLE_DISTORTION_MODELS:
            if self.distortion.size not in (4, 5, 8, 12, 14):
                raise ValueError(f"{self.distortion_model} needs 4, 5, 8, 12 or 14 coefficients")
        elif self.distortion_model in FISHEYE_DISTORTION_MODELS:
            if self.distortion.size != 4:
                raise ValueError("equidistant distortion needs 4 coefficients")
        else:
            known = ", ".join(PINHOLE_DISTORTION_MODELS + FISHEYE_DISTORTION_MODELS)
            raise ValueError(f"unsupported distortion model {self.distortion_model!r}; supported: {known}")

    def reduced(self, factor: int, width: int, height: int) -> CameraIntrinsics:
        """These intrinsics for the image decoded at 1/factor (a JPEG's DCT-domain reduced decode).

        Reduced pixel j covers full pixels [j k, (j + 1) k), so pixel centres map as
        u_reduced = (u + 0.5) / k - 0.5; the distortion coefficients act on normalised rays and stay.
        """
        k = float(factor)
        return CameraIntrinsics(
            self.fx / k,
            self.fy / k,
            (self.cx + 0.5) / k - 0.5,
            (self.cy + 0.5) / k - 0.5,
            width,
            height,
            self.distortion_model,
            self.distortion,
        )

    @classmethod
    def from_camera_info(
        cls,
        k: list[float],
        d: list[float],
        width: int,
        height: int,
        distortion_model: str,
        binning: tuple[int, int] = (0, 0),
        roi: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> CameraIntrinsics:
        """The intrinsics of the images a sensor_msgs/CameraInfo describes, from its fields.

        K (row-major 3x3), width and height are the full-resolution calibration's; the images are its
        region of interest roi (x_offset, y_offset, width, height; all 0: the whole image) binned by
        binning (x, y; 0 or 1: none). As in image_geometry's PinholeCameraModel, the ROI's offset moves
        the principal point, binning divides fx, fy, cx and cy, and the size is the ROI's over the
        binning. D is kept: it acts on normalised coordinates, which neither changes.
        """
        k = np.asarray(k, dtype=np.float64).ravel()
        if k.size != 9:
            raise ValueError(f"K must hold 9 numbers, got {k.size}")
        if not np.any(k):
            raise ValueError("K is all zero: the camera is not calibrated")
        if tuple(k[6:]) != (0.0, 0.0, 1.0):
            raise ValueError(f"K's last row must be 0 0 1, got {k[6]:g} {k[7]:g} {k[8]:g}")
        if k[3] != 0.0:
            raise ValueError(f"K[1][0] must be 0 in a camera matrix, got {k[3]:g}")
        if abs(k[1]) > MAX_SKEW_FRACTION * abs(k[0]):
            raise ValueError(
                f"K's skew {k[1]:g} is over {MAX_SKEW_FRACTION:g} x fx: skewed pixels are not supported"
            )
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        margin = MAX_PRINCIPAL_POINT_OUTSIDE
        inside_x = -margin * width <= k[2] <= (1 + margin) * width
        inside_y = -margin * height <= k[5] <= (1 + margin) * height
        if np.isfinite(k[[2, 5]]).all() and not (inside_x and inside_y):  # non-finite: refused below
            raise ValueError(
                f"principal point ({k[2]:g}, {k[5]:g}) lies far outside the calibrated {width}x{height} "
                f"image (over {margin:g} of its size beyond an edge): K is corrupt"
            )
        binning_x, binning_y = (max(int(b), 1) for b in binning)
        x_offset, y_offset, roi_width, roi_height = (int(v) for v in roi)
        if (x_offset, y_offset, roi_width, roi_height) == (0, 0, 0, 0):
            roi_width, roi_height = width, height
        if not (0 < roi_width <= width - x_offset and 0 < roi_height <= height - y_offset):
            raise ValueError(
                f"ROI {roi_width}x{roi_height} at ({x_offset}, {y_offset}) does not lie in the calibrated "
                f"{width}x{height} image"
            )
        return cls(
            fx=float(k[0]) / binning_x,
            fy=float(k[4]) / binning_y,
            cx=(float(k[2]) - x_offset) / binning_x,
            cy=(float(k[5]) - y_offset) / binning_y,
            width=roi_width // binning_x,
            height=roi_height // binning_y,
            distortion_model=distortion_model,
            distortion=np.asarray(d, dtype=np.float64) if len(d) else None,
        )

    @classmethod
    def default_for(cls, width: int, height: int, hfov_deg: float = 60.0) -> CameraIntrinsics:
        """A guess for an uncalibrated camera: square pixels, centred, given horizontal field of view."""
        if not 0 < hfov_deg < 180:
            raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(fx=f, fy=f, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height)

    @property
    def has_distortion(self) -> bool:
        return self.distortion is not None and bool(np.any(self.distortion != 0))

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def normalised_rays(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) -> undistorted normalised image coordinates (x/z, y/z), (N, 2)."""
        pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if not self.has_distortion:
            return ((pixels[:, 0] - [self.cx, self.cy]) / [self.fx, self.fy]).reshape(-1, 2)
        if self.distortion_model in FISHEYE_DISTORTION_MODELS:
            rays = cv2.fisheye.undistortPoints(
                pixels, self.matrix, self.distortion, criteria=_UNDISTORT_CRITERIA
            )
        else:
            rays = cv2.undistortPointsIter(
                pixels, self.matrix, self.distortion, None, None, _UNDISTORT_CRITERIA
            )
        return rays.reshape(-1, 2)

    def back_project(self, pixels: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) at camera depths (N,) in metres -> points (N, 3) in the optical frame."""
        depth_m = np.asarray(depth_m, dtype=np.float64).reshape(-1, 1)
        rays = self.normalised_rays(pixels)
        return np.concatenate([rays * depth_m, depth_m], axis=1)


def depth_image_to_metres(array: np.ndarray, encoding: str) -> np.ndarray:
    """A depth image as float32 metres, NaN where invalid (not finite, under MIN_DEPTH_M or over MAX_DEPTH_M).

    16UC1/mono16 hold millimetres, 32FC1 metres.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise ValueError(f"depth image must be (H, W), got shape {array.shape}")
    if encoding in ("16UC1", "mono16"):
        if array.dtype != np.uint16:
            raise ValueError(f"{encoding} depth must be uint16, got {array.dtype}")
        metres = array.astype(np.float32) / 1000.0
    elif encoding == "32FC1":
        if array.dtype != np.float32:
            raise ValueError(f"32FC1 depth must be float32, got {array.dtype}")
        metres = array.astype(np.float32, copy=True)
    else:
        raise ValueError(f"unsupported depth encoding {encoding!r}; expected 16UC1, mono16 or 32FC1")
    metres[~np.isfinite(metres) | (metres < MIN_DEPTH_M) | (metres > MAX_DEPTH_M)] = np.nan
    return metres


def relative_depth_metres(z: np.ndarray, scale: float = AUTHORS_DEPTH_SCALE) -> np.ndarray:
    """The network's crop-normalised z -> depth relative to the root joint, in metres."""
    return (np.asarray(z, dtype=np.float64) - 0.5) * 2.0 * scale


def window_depth_scale(
    crop_size: float, pose_window_size: float, scale: float = AUTHORS_DEPTH_SCALE
) -> float:
    """The depth scale of a crop that framed the person larger or smaller than the authors' window.

    The authors trained with crops of 1.5 x the joints' square extent times a random scale, and z
    over +-1000 mm times that same scale (deephar/utils/bbox.py `get_gt_bbox`, data/ntu.py 190-202):
    a crop `crop_size / pose_window_size` times the authors' window reads z over that much more
    depth. Clamped to the scales trained on; outside them the network's z has no calibrated meaning.
    """
    if not (crop_size > 0 and pose_window_size > 0):
        raise ValueError(f"window sizes must be positive, got {crop_size} and {pose_window_size}")
    low, high = AUTHORS_TRAINING_SCALES
    return scale * min(max(crop_size / pose_window_size, low), high)


def root_depth_from_depth_image(
    depth_m: np.ndarray,
    joints_px: np.ndarray,
    relative_z_m: np.ndarray,
    joint_indices: tuple[int, ...],
    window: int = 5,
) -> float | None:
    """Root depth from an aligned depth image (metres, NaN/0/inf invalid), None when nothing valid.

    Each listed joint's window of pixels gives depths; subtracting that joint's depth relative to
    the root (from the network) turns each into a vote for the root depth; the median wins, which
    ignores background pixels as long as most of the torso windows fall on the body.
    """
    height, width = depth_m.shape
    half = max(window // 2, 0)
    votes = []
    for j in joint_indices:
        u, v = joints_px[j]
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        col, row = round(float(u)), round(float(v))
        c0, c1 = max(col - half, 0), min(col + half + 1, width)
        r0, r1 = max(row - half, 0), min(row + half + 1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        patch = depth_m[r0:r1, c0:c1]
        valid = patch[np.isfinite(patch) & (patch > 0)]
        votes.append(valid - relative_z_m[j])
    if not votes:
        return None
    votes = np.concatenate(votes)
    return float(np.median(votes)) if votes.size else None


def root_depth_from_size(
    joints_px: np.ndarray,
    relative_z_m: np.ndarray,
    confidences: np.ndarray,
    layout: JointLayout,
    intrinsics: CameraIntrinsics,
    box_height_px: float,
    min_confidence: float = 0.3,
) -> float:
    """Root depth from the person's size in the image, under the mean-adult assumption above.

    Uses the torso (`root_depth_from_torso`) when it can; otherwise the box height is read as a
    full standing adult.
    """
    depth = root_depth_from_torso(joints_px, relative_z_m, confidences, layout, intrinsics, min_confidence)
    return root_depth_from_box_height(intrinsics, box_height_px) if depth is None else depth


def root_depth_from_box_height(intrinsics: CameraIntrinsics, box_height_px: float) -> float:
    """Root depth reading the box's height as a full standing adult's (the last resort: a sitting or
    crouching person reads farther)."""
    if box_height_px <= 0:
        raise ValueError(f"box height must be positive, got {box_height_px}")
    return intrinsics.fy * MEAN_ADULT_HEIGHT_M / box_height_px


def root_depth_from_torso(
    joints_px: np.ndarray,
    relative_z_m: np.ndarray,
    confidences: np.ndarray,
    layout: JointLayout,
    intrinsics: CameraIntrinsics,
    min_confidence: float = 0.3,
) -> float | None:
    """Root depth from the torso's length (shoulder midpoint to hip midpoint); None unless its four
    joints are confident.

    With every joint at root depth Z plus its relative depth, the torso's 3D length is |a Z + b|, and
    solving |a Z + b| = MEAN_TORSO_LENGTH_M accounts for leaning towards the camera.
    """
    indices = [layout.index(name) for name in ("right_shoulder", "left_shoulder", "right_hip", "left_hip")]
    if np.all(confidences[indices] >= min_confidence):
        rays = np.concatenate([intrinsics.normalised_rays(joints_px[indices]), np.ones((4, 1))], axis=1)
        rel = np.nan_to_num(relative_z_m[indices]).reshape(4, 1)
        a = (rays[0] + rays[1] - rays[2] - rays[3]) / 2
        b = (rays[0] * rel[0] + rays[1] * rel[1] - rays[2] * rel[2] - rays[3] * rel[3]) / 2
        qa, qb, qc = a @ a, 2 * (a @ b), b @ b - MEAN_TORSO_LENGTH_M**2
        disc = qb * qb - 4 * qa * qc
        if qa > 1e-12 and disc >= 0:
            depth = (-qb + math.sqrt(disc)) / (2 * qa)
            if depth > 0:
                return float(depth)
    return None
