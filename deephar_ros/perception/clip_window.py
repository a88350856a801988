"""One crop window per action clip, as the authors crop, and per-frame features re-expressed into it.

Why: the authors crop every frame of an action clip with one window, so body translation and scale
(sitting down, falling, walking towards the camera) show in the pose the action branch reads. We
crop each frame on its own window (tracking the person), which hides them. Running the network on
clip-window crops would cost a second forward per frame, so instead the pose values a frame packs
for the action branch are mapped from its own window into the clip window when a clip is due.

The authors' clip window (deephar/data/ntu.py:188-206, deephar/data/pennaction.py:118-135), by preset
(`authors_window_frames`):
- NTU (exp/ntu/eval_ntu_multitask.py:50 sets use_gt_bbox=True) takes `get_gt_bbox`
  (deephar/utils/bbox.py:160-197): only the frames 0, int(T/2 + 0.5) and T-1 of the clip
  (bbox.py:170; frames 0, 4 and 7 of 8), each the square box of 1.5 times the larger side of its
  joints' extent (`get_valid_bbox`, bbox.py:68-76, square by default, bbox.py:10), and their union
  rectangle (bbox.py:182-185).
- Penn Action (exp/pennaction/eval_penn_multitask.py:60-62, predicted boxes) takes the union of every
  frame's box (`compute_clip_bbox`, pennaction.py:33-44), each the same square 1.5 x box on the
  predicted joints (exp/common/generic.py:7-27, predict_bboxes.py:63).
- Both then make a window whose smaller side is under 32 px 32x32 (ntu.py:205-206,
  pennaction.py:134-135), crop the union RECTANGLE and resize it to 256x256 whatever its aspect
  (transform.py:56-61, 110-112): the narrower axis is stretched (walking across, aspect ~1.5).
`clip_window` is that rule on the frames' windows: per frame the authors' window on its confident
predicted joints (`FrameFraming.pose_window`, how Penn's predicted boxes were made), or its own crop
window where too few joints are confident. The authors' crop box is cut at whole pixels of their
960x540 (NTU) or Penn images (transform.py:110-111); ours is not, a difference under a pixel.
Joints the clip window cuts off: the authors' data code marks a joint outside its crop's (0, 1)
invisible (get_visible_joints, deephar/utils/pose.py:155-160, called at ntu.py:244 and
pennaction.py:176), which is what their network learnt to answer for one, and soft-argmax gives x, y
only in [0, 1] (z likewise, in its range): so a re-expressed joint outside (0, 1) gets visibility 0,
and x, y and z are clamped to [0, 1].

Pose values: each action block packs each joint's (x, y[, z]) and its visibility v apart
(spnet_blocks.py `ActionBlock`; the clip part multiplies them), so the map is exact whatever v.
With the frame's window (left, top, s) and the clip's rectangle (L, T, W, H),
x' = (x s + left - L) / W and y' = (y s + top - T) / H (x, y are crop-normalised, 0 at the window's
left/top edge, crops.py).
Depth: the authors normalise z over rootz +- 1000 mm * scale (ntu.py:197-202, 236), rootz the
root's TRUE mean depth over the clip (ntu.py:197) and scale the augmentation scale that also sizes
the crop (bbox.py:180, `relsize=1.5*scale`), fixed to 1 at test (deephar/config.py:11). A frame's own
network output is relative to that frame's root, over its own depth scale s_t (metres per unit of
+-0.5, see pipeline `depth_scale_from_window`); so with each frame's root depth d_t,
z' = 0.5 + (z - 0.5) s_t / S0 + (d_t - mean d) / (2 S0), S0 the authors' test scale (1 m).
The box-height fallback of the size prior (camera.root_depth_from_box_height) never enters d_t
(`FrameFraming.root_depth_m` is NaN then): it reads a sitting or bending person as a farther standing
one (z off by 0.2). A clip with such a frame takes one root depth (d_t = mean d): z keeps each
frame's own root. Depth-image and torso roots do enter: one root per clip for them too was measured
further from the authors' z (true roots) in test/world, because a clip's real root motion outweighs
the torso prior's drift with posture: max |z| error over the clips, no depth image, 6 s scenes,
per-frame torso roots vs one root per clip: sit_stand 0.027 vs 0.069, walk_towards 0.11 vs 0.72.

Appearance values (Fv x ceil(J/4)*2 per block) are the first-pyramid feature maps pooled by each
joint's probability map, then a 1x1 conv: the maps of a differently framed crop are another function
of the pixels (receptive fields, resampling, what lies at the borders), so no map of the pooled
vector gives the clip-window crop's. Measured (test/test_clip_window.py, the reference random
weights of the ntu config, frames 0, 4, 7 of a synthetic sit-down: box 120 px down and shrinking to
70 %; of a walk-towards: box growing from 150 to 330 px; and of a walk-across: a 200 px box moving
210 px sideways), relative L2 per block: the authors' clip crop's appearance (the union rectangle
stretched to 256 x 256) differs from the own-window crop's by 5.6 % median, 28 % at most
(walk-towards 4.4 %, 26 %), about what the own-window appearance drifts across the clip (6-8 %
median), while a different-looking person (inverted colours) differs by 14 % median, 6 % at least.
Walking across, the authors' crop squeezes the person 1.7 times sideways: 7.4 % median, 35 % at most,
more than the clip's drift (6.2 %) but under a different person's (13 %). So we keep each frame's
own appearance: the error is of the order of the clip's own variation (more for a person crossing
the image), and the alternative is a second network pass per frame. Random weights pool with diffuse
maps; trained weights, whose maps sit on the joints, may be more or less sensitive to the framing:
measure again with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deephar_ros.model.config import SPNetConfig
from deephar_ros.perception.camera import AUTHORS_DEPTH_SCALE
from deephar_ros.perception.crops import MIN_WINDOW_SIZE, CropWindow, authors_window
from deephar_ros.perception.results import Box


@dataclass(frozen=True)
class BlockSlices:
    """Where one action block's values lie in a frame's packed feature vector."""

    pose: slice  # J * (D + 1) values, joint-major: x, y[, z], visibility of joint 0, then joint 1, ...
    appearance: slice  # Fv * ceil(J / 4) * 2 pooled appearance values


@dataclass(frozen=True)
class FrameFraming:
    """How one frame of a track was framed: what re-expressing its features into a clip window needs."""

    crop: CropWindow  # the window the frame was cropped with
    joint_extent: Box | None  # the extent of its confident predicted joints; None: too few confident
    depth_scale_m: float  # the depth scale its z was read with (pipeline `depth_scale_from_window`)
    # its root joint's depth from a depth image or the torso; NaN from the box height (see the module
    # doc) and for 2D models
    root_depth_m: float

    @property
    def pose_window(self) -> CropWindow | None:
        """The authors' window on the frame's predicted joints, None where too few were confident.

        Joints are at pixel centres (u, v), windows in pixel-edge units: a joint sits at u + 0.5.
        """
        if self.joint_extent is None:
            return None
        window = authors_window(self.joint_extent)
        return CropWindow(window.cx + 0.5, window.cy + 0.5, window.size)


@dataclass(frozen=True)
class ClipWindow:
    """The rectangle a clip is cropped with (image pixels, pixel-edge units), stretched to the crop."""

    left: float
    top: float
    width: float
    height: float

    def image_to_clip(self, pixels: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2), centres on integers -> x, y of the clip's crop (crops.image_to_crop)."""
        corner = np.array([self.left, self.top])
        return (np.asarray(pixels, dtype=np.float64) + 0.5 - corner) / np.array([self.width, self.height])


def authors_window_frames(label_set: str, num_frames: int) -> list[int]:
    """The frames of a clip whose boxes the authors' clip window unites (see module doc)."""
    if label_set == "ntu60" and num_frames > 1:
        return [0, int(num_frames / 2 + 0.5), num_frames - 1]  # deephar/utils/bbox.py:167-170
    return list(range(num_frames))  # Penn: every frame of the clip (pennaction.py:37-42)


def feature_layout(config: SPNetConfig) -> tuple[BlockSlices, ...]:
    """The packed per-frame layout of `SPNet.forward_frames` (its `frame_feature_size` = the last stop).

    Blocks follow the network's order (action pyramids, their levels); each block packs its pose
    stream then its appearance stream after the joint half of the 2x2 pooling (joints padded to a
    multiple of 4, then halved).
    """
    if config.is_pose_only:
        raise ValueError(f"config {config.name!r} is pose only: its frames pack no action features")
    pose_size = config.num_joints * (config.pose_dim + 1)
    appearance_size = config.num_visual_features * -(-config.num_joints // 4) * 2
    block_size = pose_size + appearance_size
    return tuple(
        BlockSlices(
            pose=slice(start, start + pose_size), appearance=slice(start + pose_size, start + block_size)
        )
        for start in range(0, config.num_action_blocks * block_size, block_size)
    )


def clip_window(windows: Sequence[CropWindow]) -> ClipWindow:
    """The union rectangle of the windows, 32x32 where its smaller side is under 32 (module doc)."""
    if not windows:
        raise ValueError("a clip needs at least one window")
    left = min(w.left for w in windows)
    top = min(w.top for w in windows)
    right = max(w.left + w.size for w in windows)
    bottom = max(w.top + w.size for w in windows)
    if min(right - left, bottom - top) < MIN_WINDOW_SIZE:  # ntu.py:205-206, pennaction.py:134-135
        cx, cy, half = (left + right) / 2, (top + bottom) / 2, MIN_WINDOW_SIZE / 2
        return ClipWindow(cx - half, cy - half, MIN_WINDOW_SIZE, MIN_WINDOW_SIZE)
    return ClipWindow(left, top, right - left, bottom - top)


def reexpress_features(
    features: np.ndarray,
    windows: Sequence[CropWindow],
    clip: ClipWindow,
    config: SPNetConfig,
    *,
    root_depths_m: np.ndarray | None = None,
    depth_scales_m: np.ndarray | None = None,
    target_depth_scale_m: float = AUTHORS_DEPTH_SCALE,
    mirrored: bool = False,
) -> np.ndarray:
    """A track's (T, K) per-frame features -> as if every frame had been cropped with `clip`.

    `windows[t]` is the window frame t was cropped with. 3D models: `root_depths_m` (T,) moves z
    from each frame's root to the clip's mean root, and `depth_scales_m` (T,) is each frame's depth
    scale (default: the target's), re-expressed over `target_depth_scale_m`; without root depths z
    keeps its root. `mirrored`: the features come from left-right mirrored crops (x = 1 - x), so
    the target is the mirrored clip-window crop. A joint that lands outside the clip window gets
    visibility 0 and x, y, z are clamped to [0, 1]; appearance values are returned as they are (see
    module doc).
    """
    features = np.asarray(features)
    layout = feature_layout(config)
    frames, joints, dim = len(windows), config.num_joints, config.pose_dim
    if features.shape != (frames, layout[-1].appearance.stop):
        raise ValueError(
            f"features must be ({frames}, {layout[-1].appearance.stop}) for {frames} windows, "
            f"got {features.shape}"
        )
    sizes = np.array([w.size for w in windows])
    corners = np.array([[w.left, w.top] for w in windows])
    extent = np.array([clip.width, clip.height])
    gain = np.ones((frames, dim))
    gain[:, :2] = sizes[:, None] / extent
    shift = np.zeros((frames, dim))
    shift[:, :2] = (corners - np.array([clip.left, clip.top])) / extent
    if mirrored:  # x_m = 1 - x on both sides of x' = gain x + shift
        shift[:, 0] = 1.0 - gain[:, 0] - shift[:, 0]
    if root_depths_m is not None or depth_scales_m is not None:
        if dim != 3:
            raise ValueError(f"config {config.name!r} is 2D: it has no z to move")
        scales = _per_frame("depth_scales_m", depth_scales_m, frames, target_depth_scale_m)
        roots = _per_frame("root_depths_m", root_depths_m, frames, 0.0)
        gain[:, 2] = scales / target_depth_scale_m
        shift[:, 2] = 0.5 * (1.0 - gain[:, 2]) + (roots - roots.mean()) / (2.0 * target_depth_scale_m)

    out = features.copy()
    for block in layout:
        values = features[:, block.pose].reshape(frames, joints, dim + 1).astype(np.float64)
        values[..., :dim] = values[..., :dim] * gain[:, None, :] + shift[:, None, :]
        xy = values[..., :2]
        values[..., dim][~np.all((xy > 0.0) & (xy < 1.0), axis=-1)] = 0.0  # pose.py:155-160
        values[..., :dim] = np.clip(values[..., :dim], 0.0, 1.0)
        out[:, block.pose] = values.reshape(frames, joints * (dim + 1))
    return out


def _per_frame(name: str, values: np.ndarray | None, frames: int, default: float) -> np.ndarray:
    """A (T,) array of finite per-frame values, `default` for each frame when None."""
    if values is None:
        return np.full(frames, default)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (frames,) or not np.isfinite(values).all():
        raise ValueError(f"{name} must be ({frames},) finite values, got {values}")
    return values


def features_in_clip_window(
    features: np.ndarray, framings: Sequence[FrameFraming], config: SPNetConfig, *, mirrored: bool = False
) -> np.ndarray:
    """A due clip's (T, K) features, re-expressed into the authors' one window of the clip.

    The clip window unites the authors' windows of the frames the preset's authors use (their crop
    windows where the pose had too few confident joints). z moves to the clip's mean root only when
    every frame's root depth is known, else each frame keeps its own (one root per clip); it is
    rescaled from each frame's depth scale to the authors' test scale.
    """
    used = authors_window_frames(config.label_set, len(framings))
    clip = clip_window([framings[t].pose_window or framings[t].crop for t in used])
    roots = np.array([f.root_depth_m for f in framings])
    is_3d = config.pose_dim == 3
    return reexpress_features(
        features,
        [f.crop for f in framings],
        clip,
        config,
        root_depths_m=roots if is_3d and np.isfinite(roots).all() else None,
        depth_scales_m=np.array([f.depth_scale_m for f in framings]) if is_3d else None,
        mirrored=mirrored,
    )
