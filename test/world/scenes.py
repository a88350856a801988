"""Scripted people as articulated 3D skeletons in front of a pinhole camera, with exact ground truth.

World axes: X to the camera's right, Y up, Z away from the camera; the ground is Y = 0 and the camera
sits at `Camera.height_m`, looking along +Z with no tilt, so camera coordinates (x right, y down, z
forward, as ROS optical frames) are (X, height - Y, Z). Skeletons use the authors' pa17j3d joints
(deephar/utils/pose.py); the Penn preset's pa16j2d layout is its first 16 joints.

Body proportions follow the usual anthropometric fractions of standing height, with the torso
(shoulder midpoint to hip midpoint) at 0.288 x height, the fraction deephar_ros.perception.camera's size prior
assumes, so a 1.70 m person is exactly what that prior expects and others are not.

A scene is a list of people, each with a script of timed segments (walk, stand, sit_down, stand_up,
jump, wave, absent); frames are sampled at the camera's rate. Everything is deterministic from the
seed (heights and clothing colours draw from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from deephar_ros.model.joints import PA17J3D
from deephar_ros.perception.camera import CameraIntrinsics
from deephar_ros.perception.results import NS_PER_S, Box

JOINTS = PA17J3D.joint_names
J = {name: i for i, name in enumerate(JOINTS)}
NUM_JOINTS = len(JOINTS)

# Actions a script can name, and the label each preset's network would give them (None: no label of
# that set fits, a perfectly trained network is unsure). NTU's "walking towards each other" is the
# nearest of its 60 to walking alone; Penn Action has no walking, sitting or waving class.
ACTION_LABELS = {
    "ntu60": {
        "walk": "walking towards each other",
        "sit_down": "sitting down",
        "stand_up": "standing up (from sitting position)",
        "jump": "jump up",
        "wave": "hand waving",
        "stand": None,
        "sit": None,
    },
    "penn_action": {
        "walk": None,
        "sit_down": "squat",
        "stand_up": "squat",
        "jump": "jumping_jacks",
        "wave": None,
        "stand": None,
        "sit": None,
    },
}


@dataclass(frozen=True)
class Camera:
    """A pinhole camera without distortion, at `height_m` above the ground, looking level."""

    width: int = 640
    height: int = 480
    fx: float = 525.0
    fy: float = 525.0
    cx: float = 319.5
    cy: float = 239.5
    height_m: float = 1.3
    fps: float = 30.0

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics(self.fx, self.fy, self.cx, self.cy, self.width, self.height)

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera optical frame (x right, y down, z forward)."""
        world = np.asarray(world, dtype=np.float64)
        return np.stack([world[..., 0], self.height_m - world[..., 1], world[..., 2]], axis=-1)

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) -> pixel centres (u, v)."""
        z = points_cam[..., 2]
        return np.stack(
            [self.fx * points_cam[..., 0] / z + self.cx, self.fy * points_cam[..., 1] / z + self.cy], axis=-1
        )


@dataclass(frozen=True)
class Body:
    """One person's build: height, limb lengths (fractions of height) and the colours they wear."""

    height_m: float
    shirt_rgb: tuple[int, int, int]
    trousers_rgb: tuple[int, int, int]

    def length(self, fraction: float) -> float:
        return fraction * self.height_m


@dataclass(frozen=True)
class Posture:
    """Joint angles in radians (positive flexion moves a limb forward) and the pelvis height factor."""

    hip_flex: tuple[float, float] = (0.0, 0.0)  # right, left: thigh forward of vertical
    knee_flex: tuple[float, float] = (0.0, 0.0)  # shin behind the thigh's line
    shoulder_flex: tuple[float, float] = (0.0, 0.0)  # upper arm forward of vertical
    shoulder_abduct: tuple[float, float] = (0.15, 0.15)  # upper arm out to the side
    elbow_flex: tuple[float, float] = (0.15, 0.15)  # forearm forward of the upper arm's line
    trunk_lean: float = 0.0  # trunk forward of vertical
    lift_m: float = 0.0  # pelvis raised above where the legs put it (a jump's flight)


def skeleton_world(body: Body, root_xz: tuple[float, float], yaw: float, posture: Posture) -> np.ndarray:
    """The 17 joints (world metres) of `body` standing on the ground at `root_xz`, facing `yaw`.

    yaw 0 faces the camera (forward = -Z); pi/2 faces +X (walking to the camera's right).
    Legs are placed first, so the pelvis height follows from hip and knee flexion (sitting lowers it).
    """
    h = body.length
    forward = np.array([math.sin(yaw), 0.0, -math.cos(yaw)])
    up = np.array([0.0, 1.0, 0.0])
    right_dir = np.cross(forward, up)  # the person's own right
    thigh, shin = h(0.245), h(0.246)
    upper_arm, forearm = h(0.186), h(0.146)
    hip_half, shoulder_half = h(0.06), h(0.13)
    ankle_height = h(0.039)

    def limb_direction(flex: float) -> np.ndarray:
        return -math.cos(flex) * up + math.sin(flex) * forward

    # pelvis height: the lower of the two legs' reach, so one foot stays on the ground
    reach = []
    for side in (0, 1):
        hip_f, knee_f = posture.hip_flex[side], posture.knee_flex[side]
        knee = thigh * limb_direction(hip_f)
        ankle = knee + shin * limb_direction(hip_f - knee_f)
        reach.append(-ankle[1])
    pelvis_y = max(reach) + ankle_height + posture.lift_m
    pelvis = np.array([root_xz[0], pelvis_y, root_xz[1]])
    joints = np.zeros((NUM_JOINTS, 3))
    joints[J["pelvis"]] = pelvis
    trunk_dir = math.cos(posture.trunk_lean) * up + math.sin(posture.trunk_lean) * forward
    joints[J["spine"]] = pelvis + h(0.13) * trunk_dir
    thorax = pelvis + h(0.288) * trunk_dir
    joints[J["thorax"]] = thorax
    joints[J["neck"]] = thorax + h(0.052) * trunk_dir
    joints[J["head_top"]] = joints[J["neck"]] + h(0.13) * trunk_dir
    for side, sign, prefix in ((0, 1.0, "right"), (1, -1.0, "left")):
        hip = pelvis + sign * hip_half * right_dir
        knee = hip + thigh * limb_direction(posture.hip_flex[side])
        ankle = knee + shin * limb_direction(posture.hip_flex[side] - posture.knee_flex[side])
        shoulder = thorax + sign * shoulder_half * right_dir
        flex, abduct = posture.shoulder_flex[side], posture.shoulder_abduct[side]
        arm = (
            -math.cos(flex) * math.cos(abduct) * up
            + math.sin(flex) * forward
            + math.cos(flex) * math.sin(abduct) * sign * right_dir
        )
        elbow = shoulder + upper_arm * arm / np.linalg.norm(arm)
        bend = posture.elbow_flex[side]
        across = np.cross(right_dir * sign, arm)  # forward-ish, perpendicular to the upper arm
        across /= max(np.linalg.norm(across), 1e-9)
        fore = math.cos(bend) * arm / np.linalg.norm(arm) + math.sin(bend) * across * sign
        wrist = elbow + forearm * fore / np.linalg.norm(fore)
        for name, point in (
            ("hip", hip),
            ("knee", knee),
            ("ankle", ankle),
            ("shoulder", shoulder),
            ("elbow", elbow),
            ("wrist", wrist),
        ):
            joints[J[f"{prefix}_{name}"]] = point
    return joints


def _smooth(x: float) -> float:
    """0 -> 1 with zero slope at both ends (x clipped to [0, 1])."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _lerp(a: tuple[float, float], b: tuple[float, float], w: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w)


SITTING = Posture(
    hip_flex=(1.45, 1.45), knee_flex=(1.45, 1.45), shoulder_flex=(0.3, 0.3), elbow_flex=(0.9, 0.9)
)
STANDING = Posture()


def _blend(a: Posture, b: Posture, w: float) -> Posture:
    return Posture(
        hip_flex=_lerp(a.hip_flex, b.hip_flex, w),
        knee_flex=_lerp(a.knee_flex, b.knee_flex, w),
        shoulder_flex=_lerp(a.shoulder_flex, b.shoulder_flex, w),
        shoulder_abduct=_lerp(a.shoulder_abduct, b.shoulder_abduct, w),
        elbow_flex=_lerp(a.elbow_flex, b.elbow_flex, w),
        trunk_lean=a.trunk_lean + (b.trunk_lean - a.trunk_lean) * w,
        lift_m=a.lift_m + (b.lift_m - a.lift_m) * w,
    )


def walking_posture(phase: float) -> Posture:
    """The gait at `phase` (radians): legs swing +-0.4 rad, the back knee bends, arms swing opposite."""
    s = math.sin(phase)
    knee_r, knee_l = 0.1 + 0.5 * max(0.0, -math.sin(phase - 0.6)), 0.1 + 0.5 * max(0.0, math.sin(phase - 0.6))
    return Posture(
        hip_flex=(0.4 * s, -0.4 * s),
        knee_flex=(knee_r, knee_l),
        shoulder_flex=(-0.35 * s, 0.35 * s),
        elbow_flex=(0.3, 0.3),
        trunk_lean=0.05,
    )


@dataclass(frozen=True)
class Segment:
    """One timed part of a person's script: from `start_s` (scene time) for `duration_s`.

    walk: from `from_xz` to `to_xz` at constant speed (facing the way they go); others stay at
    `from_xz` facing `yaw`. `absent`: the person is out of the scene.
    """

    action: str
    start_s: float
    duration_s: float
    from_xz: tuple[float, float]
    to_xz: tuple[float, float] | None = None
    yaw: float = 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def _seat_shift(seg: Segment, w: float) -> tuple[float, float]:
    """Where the pelvis is when `w` of the way onto a seat 0.25 m behind the standing spot."""
    back = 0.25 * w
    return (seg.from_xz[0] - back * math.sin(seg.yaw), seg.from_xz[1] + back * math.cos(seg.yaw))


def segment_pose(body: Body, seg: Segment, t: float) -> np.ndarray:
    """World joints of `body` at scene time `t` within segment `seg`."""
    u = (t - seg.start_s) / seg.duration_s  # 0..1 through the segment
    local = t - seg.start_s
    if seg.action == "walk":
        to_xz = seg.to_xz or seg.from_xz
        xz = _lerp(seg.from_xz, to_xz, u)
        dx, dz = to_xz[0] - seg.from_xz[0], to_xz[1] - seg.from_xz[1]
        yaw = math.atan2(dx, -dz) if (dx or dz) else seg.yaw
        speed = math.hypot(dx, dz) / seg.duration_s
        stride_m = 0.75 * body.height_m * 0.8
        phase = 2 * math.pi * local * speed / max(stride_m, 1e-6)
        return skeleton_world(body, xz, yaw, walking_posture(phase))
    if seg.action in ("sit_down", "stand_up"):
        w = _smooth(u) if seg.action == "sit_down" else 1.0 - _smooth(u)
        posture = _blend(STANDING, SITTING, w)
        posture = Posture(**{**posture.__dict__, "trunk_lean": 0.45 * math.sin(math.pi * _smooth(u))})
        return skeleton_world(body, _seat_shift(seg, w), seg.yaw, posture)
    if seg.action == "sit":
        return skeleton_world(body, _seat_shift(seg, 1.0), seg.yaw, SITTING)
    if seg.action == "jump":
        cycle = 1.0  # one jump a second: crouch 0.3 s, flight 0.4 s, land 0.3 s
        c = (local % cycle) / cycle
        crouch = Posture(
            hip_flex=(0.7, 0.7), knee_flex=(1.3, 1.3), shoulder_flex=(-0.5, -0.5), trunk_lean=0.3
        )
        if c < 0.3:
            posture = _blend(STANDING, crouch, math.sin(math.pi * c / 0.3))
        elif c < 0.7:
            f = (c - 0.3) / 0.4
            lift = 4 * 0.35 * f * (1 - f)
            posture = Posture(shoulder_flex=(2.6, 2.6), shoulder_abduct=(0.3, 0.3), lift_m=lift)
        else:
            posture = _blend(STANDING, crouch, math.sin(math.pi * (c - 0.7) / 0.3))
        return skeleton_world(body, seg.from_xz, seg.yaw, posture)
    if seg.action == "wave":
        swing = 0.6 * math.sin(2 * math.pi * 1.5 * local)
        posture = Posture(
            shoulder_flex=(0.2, 0.0),
            shoulder_abduct=(2.4, 0.15),
            elbow_flex=(0.8 + swing, 0.15),
        )
        return skeleton_world(body, seg.from_xz, seg.yaw, posture)
    if seg.action == "stand":
        return skeleton_world(body, seg.from_xz, seg.yaw, STANDING)
    raise ValueError(f"unknown scripted action {seg.action!r}")


@dataclass
class Person:
    """A scripted person: their build and timed segments (gaps between segments: absent)."""

    person_id: int
    body: Body
    script: list[Segment]

    def at(self, t: float) -> tuple[np.ndarray, str] | None:
        """(world joints, action) at scene time t, or None when absent."""
        for seg in self.script:
            if seg.start_s <= t < seg.end_s:
                if seg.action == "absent":
                    return None
                return segment_pose(self.body, seg, t), seg.action
        return None


@dataclass
class PersonTruth:
    """What is exactly true of one person in one frame."""

    person_id: int
    joints_3d: np.ndarray  # (17, 3) camera frame, metres
    joints_2d: np.ndarray  # (17, 2) pixel centres
    in_image: np.ndarray  # (17,) bool: projected inside the image
    visible: np.ndarray  # (17,) bool: in the image and not hidden by a nearer person (set by render)
    box: Box  # the person's extent in the image (joints plus body thickness), clipped to the image
    action: str  # the scripted action
    height_m: float


@dataclass
class Frame:
    index: int
    stamp_ns: int
    people: list[PersonTruth]
    cut: bool = False  # the first frame after a scene cut


@dataclass
class Scene:
    """A scripted scene sampled at the camera's rate."""

    name: str
    camera: Camera
    people: list[Person]
    duration_s: float
    seed: int
    cuts_s: list[float] = field(default_factory=list)  # scene cuts: the view changes at these times
    start_ns: int = 1_000 * NS_PER_S

    @property
    def num_frames(self) -> int:
        return round(self.duration_s * self.camera.fps)

    def frame(self, index: int) -> Frame:
        """The truth of frame `index` (visibility by occlusion is filled in by the renderer)."""
        t = index / self.camera.fps
        stamp = self.start_ns + round(t * NS_PER_S)
        cut = any(round(c * self.camera.fps) == index for c in self.cuts_s)
        truths = []
        for person in self.people:
            state = person.at(t)
            if state is None:
                continue
            world, action = state
            cam = self.camera.to_camera(world)
            if np.any(cam[:, 2] < 0.3):
                continue
            px = self.camera.project(cam)
            inside = (px[:, 0] >= 0) & (px[:, 0] < self.camera.width)
            inside &= (px[:, 1] >= 0) & (px[:, 1] < self.camera.height)
            if not inside.any():
                continue
            pad = self.camera.fx * 0.06 * person.body.height_m / float(np.median(cam[:, 2]))
            x0, y0 = px.min(axis=0) - pad
            x1, y1 = px.max(axis=0) + pad
            box = Box(
                max(float(x0), 0.0),
                max(float(y0), 0.0),
                min(float(x1), self.camera.width - 1.0),
                min(float(y1), self.camera.height - 1.0),
                1.0,
            )
            truths.append(
                PersonTruth(
                    person.person_id, cam, px, inside, inside.copy(), box, action, person.body.height_m
                )
            )
        return Frame(index, stamp, truths, cut)


def _bodies(rng: np.random.Generator, count: int) -> list[Body]:
    shirts = [(200, 60, 50), (50, 120, 60), (170, 140, 40), (120, 60, 140), (60, 140, 150), (150, 90, 60)]
    trousers = [(50, 50, 70), (90, 70, 50), (40, 60, 40), (70, 40, 40), (60, 60, 60), (30, 40, 80)]
    order = rng.permutation(len(shirts))
    out = []
    for i in range(count):
        height = float(rng.uniform(1.55, 1.90))
        out.append(Body(height, shirts[order[i % 6]], trousers[order[(i + 2) % 6]]))
    return out


def _walk_across(
    person_id: int, body: Body, z: float, start_s: float, duration_s: float, leftwards: bool = False
) -> Person:
    xs = (2.4, -2.4) if leftwards else (-2.4, 2.4)
    return Person(person_id, body, [Segment("walk", start_s, duration_s, (xs[0], z), (xs[1], z))])


def make_scene(
    name: str,
    seed: int = 0,
    duration_s: float | None = None,
    camera: Camera | None = None,
    height_m: float | None = None,
) -> Scene:
    """A named scene of SCENES (see there), deterministic from `seed`; `height_m`: everyone that tall."""
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; known: {', '.join(SCENES)}")
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    scene = SCENES[name](rng, camera)
    scene.seed = seed
    if height_m is not None:
        for person in scene.people:
            person.body = Body(height_m, person.body.shirt_rgb, person.body.trousers_rgb)
    if duration_s is not None:
        scene.duration_s = duration_s
    return scene


def _scene_walk_across(rng: np.random.Generator, camera: Camera) -> Scene:
    (body,) = _bodies(rng, 1)
    return Scene("walk_across", camera, [_walk_across(1, body, 4.5, 0.0, 6.0)], 6.0, 0)


def _scene_walk_towards(rng: np.random.Generator, camera: Camera) -> Scene:
    (body,) = _bodies(rng, 1)
    script = [
        Segment("walk", 0.0, 3.0, (0.2, 7.0), (0.2, 2.8)),
        Segment("walk", 3.0, 3.0, (0.2, 2.8), (0.2, 7.0)),
    ]
    return Scene("walk_towards", camera, [Person(1, body, script)], 6.0, 0)


def _scene_sit_stand(rng: np.random.Generator, camera: Camera) -> Scene:
    (body,) = _bodies(rng, 1)
    x, z = float(rng.uniform(-0.5, 0.5)), 4.0
    script = [
        Segment("stand", 0.0, 1.0, (x, z)),
        Segment("sit_down", 1.0, 2.0, (x, z)),
        Segment("sit", 3.0, 1.0, (x, z)),
        Segment("stand_up", 4.0, 2.0, (x, z)),
        Segment("stand", 6.0, 1.0, (x, z)),
    ]
    return Scene("sit_stand", camera, [Person(1, body, script)], 7.0, 0)


def _scene_jump_wave(rng: np.random.Generator, camera: Camera) -> Scene:
    a, b = _bodies(rng, 2)
    jumper = [Segment("stand", 0.0, 1.0, (-0.9, 4.5)), Segment("jump", 1.0, 5.0, (-0.9, 4.5))]
    waver = [Segment("wave", 0.0, 3.0, (1.0, 5.0)), Segment("stand", 3.0, 3.0, (1.0, 5.0))]
    return Scene("jump_wave", camera, [Person(1, a, jumper), Person(2, b, waver)], 6.0, 0)


def _scene_crossing(rng: np.random.Generator, camera: Camera) -> Scene:
    a, b = _bodies(rng, 2)
    people = [_walk_across(1, a, 4.0, 0.0, 6.0), _walk_across(2, b, 5.5, 0.0, 6.0, leftwards=True)]
    return Scene("crossing", camera, people, 6.0, 0)


def _scene_leave_return(rng: np.random.Generator, camera: Camera) -> Scene:
    a, b = _bodies(rng, 2)
    leaver = [
        Segment("walk", 0.0, 2.5, (0.0, 4.5), (3.4, 4.5)),
        Segment("absent", 2.5, 2.0, (3.4, 4.5)),
        Segment("walk", 4.5, 2.5, (3.4, 4.5), (0.0, 4.5)),
    ]
    stayer = [Segment("stand", 0.0, 3.5, (-1.2, 5.0)), Segment("wave", 3.5, 3.5, (-1.2, 5.0))]
    return Scene("leave_return", camera, [Person(1, a, leaver), Person(2, b, stayer)], 7.0, 0)


def _scene_cut(rng: np.random.Generator, camera: Camera) -> Scene:
    """Two shots: one person on the left, then (a cut) another on the right."""
    a, b = _bodies(rng, 2)
    first = [Segment("wave", 0.0, 3.0, (-1.0, 4.5))]
    second = [Segment("absent", 0.0, 3.0, (1.0, 4.0)), Segment("jump", 3.0, 3.0, (1.0, 4.0))]
    return Scene("cut", camera, [Person(1, a, first), Person(2, b, second)], 6.0, 0, cuts_s=[3.0])


def _scene_street(rng: np.random.Generator, camera: Camera) -> Scene:
    """Five people: walkers across and towards, one sitting down and standing up, one waving."""
    bodies = _bodies(rng, 5)
    people = [
        _walk_across(1, bodies[0], 4.0, 0.0, 10.0),
        _walk_across(2, bodies[1], 6.5, 1.0, 8.0, leftwards=True),
        Person(
            3,
            bodies[2],
            [Segment("walk", 0.0, 5.0, (-1.6, 8.0), (-1.6, 3.5)), Segment("stand", 5.0, 5.0, (-1.6, 3.5))],
        ),
        Person(
            4,
            bodies[3],
            [
                Segment("stand", 0.0, 2.0, (1.6, 5.0)),
                Segment("sit_down", 2.0, 2.0, (1.6, 5.0)),
                Segment("sit", 4.0, 2.0, (1.6, 5.0)),
                Segment("stand_up", 6.0, 2.0, (1.6, 5.0)),
                Segment("stand", 8.0, 2.0, (1.6, 5.0)),
            ],
        ),
        Person(5, bodies[4], [Segment("wave", 0.0, 4.0, (0.4, 7.0)), Segment("jump", 4.0, 6.0, (0.4, 7.0))]),
    ]
    return Scene("street", camera, people, 10.0, 0)


SCENES: dict[str, Callable[[np.random.Generator, Camera], Scene]] = {
    "walk_across": _scene_walk_across,
    "walk_towards": _scene_walk_towards,
    "sit_stand": _scene_sit_stand,
    "jump_wave": _scene_jump_wave,
    "crossing": _scene_crossing,
    "leave_return": _scene_leave_return,
    "cut": _scene_cut,
    "street": _scene_street,
}
