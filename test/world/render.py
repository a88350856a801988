"""Scenes drawn to RGB (and metric depth) with a z-buffer: limbs as shaded capsules, joints as markers.

Each joint wears a round marker whose colour says whose joint it is and which: red codes the joint,
green the person, blue is full (255). Nothing else in a frame has blue above 200 (the background is
grey texture, clothes and skin keep blue low), so the perfect network (perfect_network.py) can find
the markers in any crop, whatever the pipeline did to it, and learn the crop's transform from them.

Depth is the depth of each limb's axis under the pixel (a flat cut-out at the bones' depth), so a
depth image read at a joint gives that joint's true depth; `surface_depth=True` renders the capsule's
near surface instead (up to a limb's radius nearer), the bias a real depth camera has.
A scene cut changes the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from world.scenes import NUM_JOINTS, Camera, Frame, J, Scene

MARKER_BLUE = 255
MAX_SCENE_BLUE = 200  # nothing but a marker is bluer than this
MAX_PEOPLE_CODES = 6


def marker_rgb(person_id: int, joint: int) -> tuple[int, int, int]:
    """The marker colour of joint `joint` of person `person_id` (ids 1..6)."""
    return (8 + 14 * joint, 30 + 40 * ((person_id - 1) % MAX_PEOPLE_CODES), MARKER_BLUE)


def decode_marker(rgb: np.ndarray, tolerance: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(person id, joint, ok) per pixel of an (..., 3) image; ok where the colour is a marker's core."""
    rgb = rgb.astype(np.float32)
    joint = np.rint((rgb[..., 0] - 8) / 14)
    code = np.rint((rgb[..., 1] - 30) / 40)
    ok = (rgb[..., 2] >= MARKER_BLUE - tolerance) & (joint >= 0) & (joint < NUM_JOINTS)
    ok &= (code >= 0) & (code < MAX_PEOPLE_CODES)
    ok &= np.abs(rgb[..., 0] - (8 + 14 * joint)) <= tolerance
    ok &= np.abs(rgb[..., 1] - (30 + 40 * code)) <= tolerance
    return code.astype(int) + 1, joint.astype(int), ok


# bones drawn as capsules: (joint a, joint b, radius as a fraction of height, part)
_CAPSULES = (
    ("pelvis", "spine", 0.085, "shirt"),
    ("spine", "thorax", 0.09, "shirt"),
    ("thorax", "neck", 0.035, "skin"),
    ("right_shoulder", "left_shoulder", 0.04, "shirt"),
    ("right_hip", "left_hip", 0.05, "trousers"),
    ("right_shoulder", "right_elbow", 0.028, "shirt"),
    ("right_elbow", "right_wrist", 0.022, "skin"),
    ("left_shoulder", "left_elbow", 0.028, "shirt"),
    ("left_elbow", "left_wrist", 0.022, "skin"),
    ("right_hip", "right_knee", 0.04, "trousers"),
    ("right_knee", "right_ankle", 0.032, "trousers"),
    ("left_hip", "left_knee", 0.04, "trousers"),
    ("left_knee", "left_ankle", 0.032, "trousers"),
)
_HEAD_RADIUS = 0.062  # of height; the head is a ball between neck and head top
_SKIN = (190, 150, 120)
_MARKER_RADIUS_M = 0.035
_MIN_MARKER_RADIUS_PX = 4.0
_WALL_DEPTH_M = 9.0


@dataclass
class RenderedFrame:
    truth: Frame
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres


def background(camera: Camera, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey textured wall and floor (uint8 RGB) and their metric depth, deterministic from `seed`."""
    rng = np.random.default_rng(seed)
    h, w = camera.height, camera.width
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    ray_y = (v - camera.cy) / camera.fy
    with np.errstate(divide="ignore"):
        floor = np.where(ray_y > 1e-6, camera.height_m / ray_y, np.inf)
    depth = np.minimum(floor, _WALL_DEPTH_M).astype(np.float32)
    noise = cv2.GaussianBlur(rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), 3.0)
    tiles = ((u // rng.integers(40, 90)) + (v // rng.integers(40, 90))) % 2
    base = 95 + 45 * tiles + 80 * (noise - 0.5)
    base = np.where(floor < _WALL_DEPTH_M, 70 + 40 * np.sin(u / 23.0 + v / 7.0) * 0.5 + 60 * noise, base)
    tint = rng.uniform(0.85, 1.1, 3)
    rgb = np.clip(base[..., None] * tint, 0, MAX_SCENE_BLUE).astype(np.uint8)
    return rgb, depth


def _capsule(
    layer: _Layer,
    a: np.ndarray,
    b: np.ndarray,
    za: float,
    zb: float,
    radius_m: float,
    colour: tuple[int, int, int],
    camera: Camera,
    surface: bool,
) -> None:
    """Draw one capsule between pixel points a, b (depths za, zb) into the person's layer."""
    ra, rb = camera.fx * radius_m / za, camera.fx * radius_m / zb
    r_max = max(ra, rb)
    x0, y0 = np.floor(np.minimum(a, b) - r_max - 1).astype(int)
    x1, y1 = np.ceil(np.maximum(a, b) + r_max + 1).astype(int)
    height, width = layer.depth.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return
    yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    ab = b - a
    length2 = float(ab @ ab)
    t = np.zeros_like(xx) if length2 < 1e-9 else ((xx - a[0]) * ab[0] + (yy - a[1]) * ab[1]) / length2
    t = np.clip(t, 0.0, 1.0)
    dist = np.hypot(xx - (a[0] + t * ab[0]), yy - (a[1] + t * ab[1]))
    radius = ra + t * (rb - ra)
    inside = dist < radius
    if not inside.any():
        return
    rel = np.sqrt(np.clip(1.0 - (dist / radius) ** 2, 0.0, 1.0))
    depth = za + t * (zb - za)
    if surface:
        depth = depth - radius_m * rel
    shade = 0.55 + 0.45 * rel
    region = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    nearer = inside & (depth < layer.depth[region])
    layer.depth[region][nearer] = depth[nearer]
    layer.rgb[region][nearer] = (shade[nearer, None] * np.array(colour)).astype(np.float32)
    layer.alpha[region][nearer] = 1.0


@dataclass
class _Layer:
    """One person drawn alone, over the part of the frame from (x0, y0) their body can cover."""

    rgb: np.ndarray
    depth: np.ndarray
    alpha: np.ndarray
    x0: int
    y0: int

    @property
    def region(self) -> tuple[slice, slice]:
        height, width = self.depth.shape
        return slice(self.y0, self.y0 + height), slice(self.x0, self.x0 + width)


def _person_layer(person, camera: Camera, colours: dict[str, tuple[int, int, int]], surface: bool) -> _Layer:
    cam, height = person.joints_3d, person.height_m
    margin = camera.fx * 0.1 * height / float(cam[:, 2].min()) + _MIN_MARKER_RADIUS_PX + 2
    x0 = int(np.clip(np.floor(person.joints_2d[:, 0].min() - margin), 0, camera.width - 1))
    y0 = int(np.clip(np.floor(person.joints_2d[:, 1].min() - margin), 0, camera.height - 1))
    x1 = int(np.clip(np.ceil(person.joints_2d[:, 0].max() + margin), x0, camera.width - 1))
    y1 = int(np.clip(np.ceil(person.joints_2d[:, 1].max() + margin), y0, camera.height - 1))
    h, w = y1 - y0 + 1, x1 - x0 + 1
    layer = _Layer(
        np.zeros((h, w, 3), np.float32),
        np.full((h, w), np.inf, np.float32),
        np.zeros((h, w), np.float32),
        x0,
        y0,
    )
    px = person.joints_2d - (x0, y0)
    for ja, jb, radius, part in _CAPSULES:
        a, b = J[ja], J[jb]
        _capsule(layer, px[a], px[b], cam[a, 2], cam[b, 2], radius * height, colours[part], camera, surface)
    head = (cam[J["neck"]] + cam[J["head_top"]]) / 2
    head_px = camera.project(head) - (x0, y0)
    _capsule(layer, head_px, head_px, head[2], head[2], _HEAD_RADIUS * height, _SKIN, camera, surface)
    # markers: on top of the person's own body, at the joint's true depth
    for j in range(NUM_JOINTS):
        z = cam[j, 2]
        r = max(_MIN_MARKER_RADIUS_PX, camera.fx * _MARKER_RADIUS_M / z)
        u, v = px[j]
        left, top = max(int(np.floor(u - r - 1)), 0), max(int(np.floor(v - r - 1)), 0)
        right, bottom = min(int(np.ceil(u + r + 1)), w - 1), min(int(np.ceil(v + r + 1)), h - 1)
        if right < left or bottom < top:
            continue
        yy, xx = np.mgrid[top : bottom + 1, left : right + 1].astype(np.float64)
        # hard-edged, so that overlapping markers never blend into a third marker's colour
        cover = (np.hypot(xx - u, yy - v) < r).astype(np.float32)[..., None]
        region = (slice(top, bottom + 1), slice(left, right + 1))
        colour = np.array(marker_rgb(person.person_id, j), np.float32)
        layer.rgb[region] = layer.rgb[region] * (1 - cover) + colour * cover
        core = cover[..., 0] > 0.5
        layer.depth[region][core] = z
        layer.alpha[region] = np.maximum(layer.alpha[region], cover[..., 0])
    return layer


def render_frame(scene: Scene, frame: Frame, surface_depth: bool = False) -> RenderedFrame:
    """Draw one frame; fills in each person's `visible` (not hidden by a nearer person)."""
    camera = scene.camera
    shot = sum(1 for c in scene.cuts_s if frame.index >= round(c * camera.fps))
    rgb_bg, depth_bg = _background_cached(camera, scene.seed * 1000 + shot)
    rgb = rgb_bg.astype(np.float32)
    depth = depth_bg.copy()
    owner = np.zeros(depth.shape, np.int32)
    bodies = {p.person_id: p.body for p in scene.people}
    # far people first, so nearer ones cover them (their depth also wins in the depth image)
    for person in sorted(frame.people, key=lambda p: -float(np.median(p.joints_3d[:, 2]))):
        body = bodies[person.person_id]
        layer = _person_layer(
            person,
            camera,
            {"shirt": body.shirt_rgb, "trousers": body.trousers_rgb, "skin": _SKIN},
            surface_depth,
        )
        region = layer.region
        a = layer.alpha[..., None]
        rgb[region] = rgb[region] * (1 - a) + layer.rgb * a
        solid = layer.alpha >= 0.5
        depth[region][solid] = np.minimum(depth[region][solid], layer.depth[solid])
        owner[region][solid] = person.person_id
    for person in frame.people:
        cols = np.clip(np.rint(person.joints_2d[:, 0]).astype(int), 0, camera.width - 1)
        rows = np.clip(np.rint(person.joints_2d[:, 1]).astype(int), 0, camera.height - 1)
        person.visible = person.in_image & (owner[rows, cols] == person.person_id)
    return RenderedFrame(frame, np.clip(np.rint(rgb), 0, 255).astype(np.uint8), depth.astype(np.float32))


_BACKGROUNDS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _background_cached(camera: Camera, seed: int) -> tuple[np.ndarray, np.ndarray]:
    key = (camera, seed)
    if key not in _BACKGROUNDS:
        if len(_BACKGROUNDS) > 16:
            _BACKGROUNDS.clear()
        _BACKGROUNDS[key] = background(camera, seed)
    return _BACKGROUNDS[key]


def render_scene(scene: Scene, surface_depth: bool = False):
    """Every frame of `scene`, rendered, in order (a generator: a 10 s scene is 300 frames)."""
    for index in range(scene.num_frames):
        yield render_frame(scene, scene.frame(index), surface_depth)
