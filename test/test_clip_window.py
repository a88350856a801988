"""One window per clip (issue 12, item 1): per-frame features re-expressed into the authors' clip window."""

import cv2
import numpy as np
import pytest
import torch

from deephar_ros.model.config import get_preset
from deephar_ros.model.joints import get_layout
from deephar_ros.model.spnet import SPNet
from deephar_ros.perception.clip_window import (
    ClipWindow,
    FrameFraming,
    authors_window_frames,
    clip_window,
    feature_layout,
    features_in_clip_window,
    reexpress_features,
)
from deephar_ros.perception.crops import CropWindow, crop_window, image_to_crop, warp_crops
from deephar_ros.perception.results import Box

NTU = get_preset("ntu_multitask")
PENN = get_preset("penn_multitask")
FRAMES = 8


# ---- synthetic clips ------------------------------------------------------------------------------
def sit_down_boxes() -> list[Box]:
    """A person's box moving 120 px down and shrinking to 70 % of its height over the clip."""
    boxes = []
    for t in range(FRAMES):
        height = 300.0 * (1.0 - 0.3 * t / (FRAMES - 1))
        top = 100.0 + 120.0 * t / (FRAMES - 1)
        boxes.append(Box(320.0 - 0.2 * height, top, 320.0 + 0.2 * height, top + height, 1.0))
    return boxes


def walk_towards_boxes() -> list[Box]:
    """A person's box growing from 150 to 330 px high, its feet coming down the image."""
    boxes = []
    for t in range(FRAMES):
        height = 150.0 + 180.0 * t / (FRAMES - 1)
        bottom = 300.0 + 120.0 * t / (FRAMES - 1)
        boxes.append(Box(300.0 - 0.2 * height, bottom - height, 300.0 + 0.2 * height, bottom, 1.0))
    return boxes


def skeleton_pixels(boxes: list[Box], config) -> np.ndarray:
    """(T, J, 2) image pixels of joints fixed relative to the box; the head at its top centre."""
    relative = np.random.default_rng(3).uniform(0.1, 0.9, (config.num_joints, 2))
    relative[get_layout(config.joint_layout).index("head_top")] = (0.5, 0.05)
    return np.stack([np.array([b.x0, b.y0]) + relative * np.array([b.width, b.height]) - 0.5 for b in boxes])


def pack(poses: np.ndarray, visibility: np.ndarray, config, seed: int = 0) -> np.ndarray:
    """(T, J, D) poses and (T, blocks, J) visibility -> (T, K) features as the network packs them."""
    layout = feature_layout(config)
    features = np.random.default_rng(seed).normal(size=(len(poses), layout[-1].appearance.stop))
    for b, block in enumerate(layout):
        values = np.concatenate([poses, visibility[:, b, :, None]], axis=-1)
        features[:, block.pose] = values.reshape(len(poses), -1)
    return features.astype(np.float32)


def block_poses(features: np.ndarray, config, block: int) -> np.ndarray:
    """(T, J, D): the coordinates block `block` packs (its visibility column left out)."""
    values = features[:, feature_layout(config)[block].pose].reshape(len(features), config.num_joints, -1)
    return values[..., :-1]


def block_visibility(features: np.ndarray, config, block: int) -> np.ndarray:
    values = features[:, feature_layout(config)[block].pose].reshape(len(features), config.num_joints, -1)
    return values[..., -1]


def visibilities(config, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(
        0.2, 1.0, (FRAMES, config.num_action_blocks, config.num_joints)
    )


# ---- layout ---------------------------------------------------------------------------------------
def _frames_with_block_poses(model: SPNet, frames: torch.Tensor):
    """forward_frames, and each action block's pose stream input caught from its prediction block."""
    caught: list[torch.Tensor] = []
    hooks = [
        stage.block.register_forward_hook(lambda _m, _i, out: caught.append(out.action_pose))
        for stages in model.pyramids
        for stage in stages
        if stage.action is not None
    ]
    try:
        with torch.no_grad():
            pose, features = model.forward_frames(frames)
    finally:
        for hook in hooks:
            hook.remove()
    return pose.numpy(), features.numpy(), [p.flatten(1).numpy() for p in caught]


def _check_layout(model: SPNet, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    pose, features, block_inputs = _frames_with_block_poses(model, frames)
    layout = feature_layout(model.config)
    assert layout[-1].appearance.stop == model.frame_feature_size == features.shape[1]
    assert len(layout) == len(block_inputs) == model.config.num_action_blocks
    sizes = [b.appearance.stop - b.pose.start for b in layout]
    assert sizes == model.action_feature_sizes
    for block, expected in zip(layout, block_inputs, strict=True):
        np.testing.assert_array_equal(features[:, block.pose], expected)
    return pose, features


def test_layout_locates_each_blocks_pose_in_ntu_features(ntu_reference_model):
    frames = torch.rand((2, 3, 256, 256), generator=torch.Generator().manual_seed(5)) * 2 - 1
    pose, features = _check_layout(ntu_reference_model, frames)
    # No replica maps in NTU: the last block reads the final pose, coordinates and visibility.
    last = features[:, feature_layout(NTU)[-1].pose].reshape(len(features), NTU.num_joints, 4)
    np.testing.assert_array_equal(last, pose)


def test_layout_locates_each_blocks_pose_in_penn_features(penn_model, penn_clip):
    _check_layout(penn_model, penn_clip[0, :1])


def test_layout_refuses_pose_only_config():
    with pytest.raises(ValueError, match="pose only"):
        feature_layout(NTU.pose_only())


# ---- clip window ----------------------------------------------------------------------------------
def test_clip_window_is_the_union_rectangle_of_the_frames_windows():
    windows = [crop_window(box) for box in sit_down_boxes()]
    clip = clip_window(windows)
    left = min(w.left for w in windows)
    top = min(w.top for w in windows)
    right = max(w.left + w.size for w in windows)
    bottom = max(w.top + w.size for w in windows)
    # the rectangle itself, not a square: deephar/utils/bbox.py:182-185, data/ntu.py:204
    assert clip == ClipWindow(left, top, right - left, bottom - top)
    assert clip.height > clip.width + 5.0


@pytest.mark.parametrize("boxes", [sit_down_boxes(), walk_towards_boxes()], ids=["sit_down", "walk_towards"])
def test_clip_window_equals_the_authors_ntu_frames_on_a_monotone_clip(boxes):
    windows = [crop_window(box) for box in boxes]
    assert authors_window_frames("ntu60", FRAMES) == [0, 4, 7]  # deephar/utils/bbox.py:170
    assert authors_window_frames("penn_action", FRAMES) == list(range(FRAMES))  # data/pennaction.py:37-42
    assert clip_window(windows) == clip_window([windows[t] for t in authors_window_frames("ntu60", FRAMES)])


def test_clip_window_of_one_window_is_that_window_under_32_px_32_and_of_none_an_error():
    window = CropWindow(100.0, 80.0, 64.0)
    assert clip_window([window]) == ClipWindow(68.0, 48.0, 64.0, 64.0)
    # deephar/data/ntu.py:205-206: a window whose smaller side is under 32 px becomes 32x32, both sides
    assert clip_window([CropWindow(100.0, 80.0, 20.0), CropWindow(100.0, 120.0, 20.0)]) == ClipWindow(
        84.0, 84.0, 32.0, 32.0
    )
    with pytest.raises(ValueError, match="at least one"):
        clip_window([])


# ---- re-expression --------------------------------------------------------------------------------
def authors_depth(depths: np.ndarray, roots: np.ndarray, scales: np.ndarray | float = 1.0) -> np.ndarray:
    """z as the network reads it: depths over +-scale metres around the root, 0.5 at the root."""
    return (depths - roots) / (2.0 * np.asarray(scales)) + 0.5


@pytest.mark.parametrize("clip_name", ["sit_down", "walk_towards"])
def test_reexpressed_pose_moves_as_a_clip_window_crop_would(clip_name):
    boxes = sit_down_boxes() if clip_name == "sit_down" else walk_towards_boxes()
    windows = [crop_window(box) for box in boxes]
    clip = clip_window(windows)
    pixels = skeleton_pixels(boxes, NTU)
    # depth: the root recedes with the box's height; joints at fixed offsets from the root (metres);
    # each frame read over its own depth scale (the crop's scale against the authors' window)
    roots = 750.0 / np.array([b.height for b in boxes])
    depths = roots[:, None] + np.random.default_rng(4).uniform(-0.3, 0.3, NTU.num_joints)
    scales = np.linspace(0.9, 1.2, FRAMES)
    per_frame_xy = np.stack([image_to_crop(p, w) for p, w in zip(pixels, windows, strict=True)])
    per_frame_z = authors_depth(depths, roots[:, None], scales[:, None])
    per_frame = np.concatenate([per_frame_xy, per_frame_z[..., None]], axis=-1)
    # what the authors' action branch reads: every frame in the clip window, z around the clip's mean
    # root over the authors' 1 m test scale
    authors = np.concatenate([clip.image_to_clip(pixels), authors_depth(depths, roots.mean())[..., None]], -1)
    authors = np.clip(authors, 0.0, 1.0)  # the only range soft-argmax gives (z too, walking towards)
    vis = visibilities(NTU)
    features = pack(per_frame, vis, NTU)

    out = reexpress_features(features, windows, clip, NTU, root_depths_m=roots, depth_scales_m=scales)

    head = get_layout(NTU.joint_layout).index("head_top")
    assert np.ptp(block_poses(features, NTU, 0)[:, head, 1]) < 1e-6  # per-frame windows hide the motion
    assert np.ptp(authors[:, head, 1]) > 0.1  # the authors' crop shows it
    assert not np.allclose(features, pack(authors, vis, NTU), atol=0.05)  # so per-frame features differ
    for b in range(NTU.num_action_blocks):
        np.testing.assert_allclose(block_poses(out, NTU, b), authors, atol=2e-6)
        np.testing.assert_array_equal(block_visibility(out, NTU, b), block_visibility(features, NTU, b))
    for block in feature_layout(NTU):
        np.testing.assert_array_equal(out[:, block.appearance], features[:, block.appearance])
    assert out.dtype == features.dtype and out.shape == features.shape


def test_walk_towards_grows_the_person_in_the_clip_window():
    boxes = walk_towards_boxes()
    windows = [crop_window(box) for box in boxes]
    pixels = skeleton_pixels(boxes, PENN)
    per_frame = np.stack([image_to_crop(p, w) for p, w in zip(pixels, windows, strict=True)])
    vis = visibilities(PENN)
    out = reexpress_features(pack(per_frame, vis, PENN), windows, clip_window(windows), PENN)
    spread = np.ptp(block_poses(out, PENN, 3)[..., 1], axis=1)  # the skeleton's height in the crop
    np.testing.assert_allclose(spread / spread[0], [b.height / boxes[0].height for b in boxes], rtol=1e-5)
    np.testing.assert_allclose(np.ptp(per_frame[..., 1], axis=1), np.ptp(per_frame[0, :, 1]), rtol=1e-9)


def test_mirrored_features_go_to_the_mirrored_clip_window_crop():
    boxes = sit_down_boxes()
    windows = [crop_window(box) for box in boxes]
    clip = clip_window(windows)
    pixels = skeleton_pixels(boxes, PENN)
    mirror = np.array([-1.0, 1.0])
    flip = np.array([1.0, 0.0])
    per_frame = np.stack([flip + mirror * image_to_crop(p, w) for p, w in zip(pixels, windows, strict=True)])
    vis = visibilities(PENN)
    out = reexpress_features(pack(per_frame, vis, PENN), windows, clip, PENN, mirrored=True)
    expected = flip + mirror * clip.image_to_clip(pixels)
    for b in range(PENN.num_action_blocks):
        np.testing.assert_allclose(block_poses(out, PENN, b), expected, atol=2e-6)


def test_z_is_kept_without_root_depths_and_same_windows_change_nothing():
    window = CropWindow(200.0, 150.0, 180.0)
    features = pack(
        np.random.default_rng(6).uniform(size=(FRAMES, NTU.num_joints, 3)), visibilities(NTU), NTU
    )
    same = ClipWindow(window.left, window.top, window.size, window.size)
    np.testing.assert_allclose(
        reexpress_features(features, [window] * FRAMES, same, NTU), features, atol=1e-7
    )


def test_framings_pick_the_union_of_the_pose_windows_and_the_mean_root():
    boxes = sit_down_boxes()
    crops = [crop_window(box, 1.8) for box in boxes]  # loose crops, as a detector box gives
    # the authors' 1.5 x the joints' extent, joints at pixel centres (u + 0.5 in the window's units)
    pose_windows = [CropWindow(w.cx + 0.5, w.cy + 0.5, w.size) for w in map(crop_window, boxes)]
    roots = np.linspace(3.0, 3.4, FRAMES)
    framings = [
        FrameFraming(c, box if t != 3 else None, 1.2, r)
        for t, (c, box, r) in enumerate(zip(crops, boxes, roots, strict=True))
    ]
    features = pack(
        np.random.default_rng(7).uniform(size=(FRAMES, NTU.num_joints, 3)), visibilities(NTU), NTU
    )
    expected_clip = clip_window([pose_windows[t] for t in (0, 4, 7)])  # NTU's frames
    np.testing.assert_array_equal(
        features_in_clip_window(features, framings, NTU),
        reexpress_features(
            features, crops, expected_clip, NTU, root_depths_m=roots, depth_scales_m=np.full(FRAMES, 1.2)
        ),
    )
    unknown_root = [FrameFraming(f.crop, f.joint_extent, 1.0, np.nan) for f in framings]
    np.testing.assert_array_equal(  # a frame without a root depth: z keeps each frame's own root
        features_in_clip_window(features, unknown_root, NTU),
        reexpress_features(features, crops, expected_clip, NTU),
    )


def test_bad_inputs_get_clear_errors():
    windows = [crop_window(box) for box in sit_down_boxes()]
    clip = clip_window(windows)
    features = pack(np.zeros((FRAMES, PENN.num_joints, 2)), visibilities(PENN), PENN)
    with pytest.raises(ValueError, match="features must be"):
        reexpress_features(features[:-1], windows, clip, PENN)
    with pytest.raises(ValueError, match="2D"):
        reexpress_features(features, windows, clip, PENN, root_depths_m=np.ones(FRAMES))
    ntu_features = pack(np.zeros((FRAMES, NTU.num_joints, 3)), visibilities(NTU), NTU)
    with pytest.raises(ValueError, match="root_depths_m"):
        reexpress_features(ntu_features, windows, clip, NTU, root_depths_m=np.full(FRAMES, np.nan))
    with pytest.raises(ValueError, match="depth_scales_m"):
        reexpress_features(ntu_features, windows, clip, NTU, depth_scales_m=np.ones(FRAMES - 1))


# ---- appearance -----------------------------------------------------------------------------------
def render_scene(box: Box) -> np.ndarray:
    """A 640x600 frame holding every window of the clips: smooth random background, stick person in `box`."""
    rng = np.random.default_rng(8)
    image = cv2.resize(rng.uniform(40, 200, (15, 16, 3)).astype(np.uint8), (640, 600), cv2.INTER_CUBIC)
    x0, y0, w, h = box.x0, box.y0, box.width, box.height

    def point(u: float, v: float) -> tuple[int, int]:
        return round(x0 + u * w), round(y0 + v * h)

    thick = max(round(0.07 * h), 1)
    cv2.rectangle(image, point(0.3, 0.2), point(0.7, 0.55), (200, 40, 40), -1)
    cv2.circle(image, point(0.5, 0.1), max(round(0.08 * h), 1), (230, 190, 150), -1)
    for (u0, v0), (u1, v1), colour in [
        ((0.3, 0.22), (0.05, 0.5), (40, 160, 40)),
        ((0.7, 0.22), (0.95, 0.5), (40, 160, 40)),
        ((0.4, 0.55), (0.3, 0.98), (30, 30, 150)),
        ((0.6, 0.55), (0.7, 0.98), (30, 30, 150)),
    ]:
        cv2.line(image, point(u0, v0), point(u1, v1), colour, thick)
    return image


def walk_across_boxes() -> list[Box]:
    """A person's 200 x 80 px box moving 30 px right a frame: the clip window's aspect is 1.7."""
    return [Box(150.0 + 30.0 * t, 150.0, 230.0 + 30.0 * t, 350.0, 1.0) for t in range(FRAMES)]


def stretched_crop(image: np.ndarray, clip: ClipWindow) -> np.ndarray:
    """The authors' crop of a clip: its rectangle resized to 256 x 256 (transform.py:56-61, 110-112).

    The image is first stretched along x by height / width, so the rectangle becomes a square that
    warp_crops cuts with its PIL-like antialiasing.
    """
    width = round(image.shape[1] * clip.height / clip.width)
    sx = width / image.shape[1]
    stretched = cv2.resize(image, (width, image.shape[0]), interpolation=cv2.INTER_AREA)
    square = CropWindow((clip.left + clip.width / 2) * sx, clip.top + clip.height / 2, clip.height)
    return warp_crops(stretched, [square])[0]


CLIPS = {"sit_down": sit_down_boxes, "walk_towards": walk_towards_boxes, "walk_across": walk_across_boxes}


@pytest.mark.parametrize("clip_name", list(CLIPS))
def test_appearance_of_a_clip_window_crop_is_close_to_the_per_frame_one(ntu_reference_model, clip_name):
    """Why appearance is kept per frame: measured here, quoted in clip_window's module docstring."""
    boxes = CLIPS[clip_name]()
    frames = authors_window_frames("ntu60", FRAMES)
    windows = [crop_window(box) for box in boxes]
    clip = clip_window([windows[t] for t in frames])
    scenes = [render_scene(boxes[t]) for t in frames]
    crops = np.stack(
        [
            crop
            for scene, t in zip(scenes, frames, strict=True)
            for crop in (warp_crops(scene, [windows[t]])[0], stretched_crop(scene, clip))
        ]
        + [warp_crops(255 - scene, [windows[t]])[0] for scene, t in zip(scenes, frames, strict=True)]
    )  # per frame: own window, clip window; then a different-looking person (inverted colours), own window
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255 * 2 - 1
    with torch.no_grad():
        features = ntu_reference_model.forward_frames(x)[1].numpy()
    pairs = features[: 2 * len(frames)].reshape(len(frames), 2, -1)
    own, in_clip, other = pairs[:, 0], pairs[:, 1], features[2 * len(frames) :]

    def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)

    layout = feature_layout(NTU)
    change = np.array([relative(in_clip[:, b.appearance], own[:, b.appearance]) for b in layout])
    drift = np.array([relative(own[1:, b.appearance], own[:1, b.appearance]) for b in layout])
    person = np.array([relative(other[:, b.appearance], own[:, b.appearance]) for b in layout])
    print(
        f"{clip_name} appearance (relative L2), clip vs own window: median {np.median(change):.3f} "
        f"max {change.max():.3f}; own windows across the clip: median {np.median(drift):.3f} "
        f"max {drift.max():.3f}; another-looking person: median {np.median(person):.3f} "
        f"min {person.min():.3f}"
    )
    assert np.median(change) > 0.005  # not the same: a pooled vector has no exact map to another crop's
    assert np.median(change) < np.median(person)  # framing matters less than looks
    if clip.width / clip.height < 1.2:  # a near-square window: of the order of the clip's own variation
        assert np.median(change) < np.median(drift) and np.median(change) < 0.5 * np.median(person)
    else:  # walking across (aspect 1.7): the authors' stretched crop changes appearance more than that
        assert np.median(change) > np.median(drift)


# ---- the authors' window on a clip (issue 17, item 2) ----------------------------------------------
# A person whose joints span 100 x 200 px, at pixel centres 249.5..349.5 x 99.5..299.5 (250..350 x
# 100..300 in the windows' edge units) in frame 0, moved by (dx, dy) per frame. Each frame cropped
# on its own authors' window (the 300 px square around it).
WALK_ACROSS = [(20.0 * t, 0.0) for t in range(FRAMES)]
JUMP = [(0.0, dy) for dy in (0.0, -30.0, -60.0, -30.0, 0.0, 0.0, 0.0, 0.0)]


def moving_person(moves: list[tuple[float, float]], config) -> tuple[np.ndarray, list[FrameFraming]]:
    """(T, J, 2) joint pixels and each frame's framing (own authors' window, extent, no root)."""
    base = np.random.default_rng(9).uniform(0.0, 1.0, (config.num_joints, 2))
    base[:4] = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]  # the extent's corners
    pixels = np.stack([base * (100.0, 200.0) + (249.5 + dx, 99.5 + dy) for dx, dy in moves])
    framings = []
    for p in pixels:
        extent = Box(*p.min(axis=0), *p.max(axis=0), 1.0)
        framings.append(
            FrameFraming(FrameFraming(None, extent, 1.0, np.nan).pose_window, extent, 1.0, np.nan)
        )
    return pixels, framings


def clip_input(pixels: np.ndarray, framings: list[FrameFraming], config) -> np.ndarray:
    """Block 0's (T, J, D + 1) action input of a clip whose frames the network saw exactly."""
    poses = np.stack([image_to_crop(p, f.crop) for p, f in zip(pixels, framings, strict=True)])
    if config.pose_dim == 3:
        poses = np.concatenate([poses, np.full((FRAMES, config.num_joints, 1), 0.5)], axis=-1)
    features = pack(poses, np.ones((FRAMES, config.num_action_blocks, config.num_joints)), config)
    out = features_in_clip_window(features, framings, config)
    return out[:, feature_layout(config)[0].pose].reshape(FRAMES, config.num_joints, -1)


def test_walking_across_the_ntu_window_is_the_stretched_rectangle_of_frames_0_4_7():
    pixels, framings = moving_person(WALK_ACROSS, NTU)
    poses = clip_input(pixels, framings, NTU)
    # bbox.py:170 frames 0, 4, 7 (dx 0, 80, 140); bbox.py:68-76 each 1.5 x 200 = 300 px square around
    # (300, 200) + dx; bbox.py:182-185 their union x 150..590, y 50..350; ntu.py:204 and
    # transform.py:110-112, 56-61 that 440 x 300 crop resized to 256 x 256, normalised (transform.py:63-64)
    edges = pixels + 0.5
    np.testing.assert_allclose(poses[..., 0], (edges[..., 0] - 150.0) / 440.0, atol=1e-6)
    np.testing.assert_allclose(poses[..., 1], (edges[..., 1] - 50.0) / 300.0, atol=1e-6)
    assert np.all(poses[..., -1] == 1.0)  # every joint inside: seen
    # a square window (before issue 17: 440 x 440 around the same centre) puts y off by up to 0.11
    assert np.abs(poses[..., 1] - (edges[..., 1] + 20.0) / 440.0).max() > 0.1


def test_jumping_the_ntu_window_ignores_the_flight_and_cuts_off_the_joints_above_it():
    pixels, framings = moving_person(JUMP, NTU)
    poses = clip_input(pixels, framings, NTU)
    # frames 0, 4, 7 (bbox.py:170) stand on the ground: the 300 px square at x 150..450, y 50..350
    edges = pixels + 0.5
    authors_xy = (edges - (150.0, 50.0)) / 300.0
    # ntu.py:244 with pose.py:155-160: a joint outside (0, 1) of the crop is invisible; soft-argmax
    # gives x, y in [0, 1] only
    seen = np.all((authors_xy > 0.0) & (authors_xy < 1.0), axis=-1)
    assert seen[[0, 4, 7]].all() and (~seen[2]).sum() >= 2  # the head at the top of the flight
    np.testing.assert_allclose(poses[..., :2], np.clip(authors_xy, 0.0, 1.0), atol=1e-6)
    np.testing.assert_array_equal(poses[..., -1], seen.astype(np.float32))
    np.testing.assert_allclose(poses[..., 2], 0.5)  # z (no root motion) as it was


def test_jumping_the_penn_window_unites_every_frame():
    pixels, framings = moving_person(JUMP, PENN)
    poses = clip_input(pixels, framings, PENN)
    # pennaction.py:37-42 every frame's box (generic.py:17, the same 1.5 x square): y -10..350
    edges = pixels + 0.5
    np.testing.assert_allclose(poses[..., :2], (edges - (150.0, -10.0)) / (300.0, 360.0), atol=1e-6)
    assert np.all(poses[..., -1] == 1.0)


def test_depth_beyond_the_networks_range_is_clamped():
    window = CropWindow(200.0, 150.0, 180.0)
    poses = np.full((FRAMES, NTU.num_joints, 3), 0.5)
    features = pack(poses, visibilities(NTU), NTU)
    roots = np.linspace(3.0, 6.0, FRAMES)  # 3 m of walking in one clip: +-1.5 m around the mean root
    same = ClipWindow(window.left, window.top, window.size, window.size)
    out = reexpress_features(features, [window] * FRAMES, same, NTU, root_depths_m=roots)
    z = block_poses(out, NTU, 0)[..., 2]
    np.testing.assert_allclose(z[:, 0], np.clip(0.5 + (roots - roots.mean()) / 2.0, 0.0, 1.0))  # ntu.py:236
    assert z.min() == 0.0 and z.max() == 1.0
