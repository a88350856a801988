"""Joint layouts of the network's outputs: names, bones, left/right flip pairs, root and torso.

The released models predict the authors' own layouts (deephar/utils/pose.py): `pa17j3d` for the
NTU 3D multitask model and `pa16j2d` for the Penn Action 2D model. Right joints come before left
ones in each pair, as in the authors' MPII and Human3.6M mappings (subject's own left/right).
"""

from __future__ import annotations

from dataclasses import dataclass

_PA16J_NAMES = (
    "pelvis",
    "thorax",
    "neck",
    "head_top",
    "right_shoulder",
    "left_shoulder",
    "right_elbow",
    "left_elbow",
    "right_wrist",
    "left_wrist",
    "right_hip",
    "left_hip",
    "right_knee",
    "left_knee",
    "right_ankle",
    "left_ankle",
)
_PA16J_FLIP = (0, 1, 2, 3, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
_LIMBS = ((4, 6), (6, 8), (5, 7), (7, 9), (10, 12), (12, 14), (11, 13), (13, 15))
# The authors' link lists leave the limbs floating; shoulders and hips are tied to the spine here
# so that a drawn skeleton is one connected figure.
_GIRDLES = ((1, 4), (1, 5), (0, 10), (0, 11))


@dataclass(frozen=True)
class JointLayout:
    """One skeleton layout: which joint is where in the network's (J, D+1) output."""

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    flip_map: tuple[int, ...]  # joint i of a mirrored image is joint flip_map[i] of the original
    root: int  # the joint the network's depth is relative to
    torso: tuple[int, ...]  # rigid-ish joints used to read depth images
    dim: int  # 2 or 3

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of a joint by name; a clear error for an unknown one."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise ValueError(f"layout {self.name} has no joint {joint_name!r}") from None


PA17J3D = JointLayout(
    name="pa17j3d",
    joint_names=(*_PA16J_NAMES, "spine"),
    bones=((0, 16), (16, 1), (1, 2), (2, 3), *_GIRDLES, *_LIMBS),
    flip_map=(*_PA16J_FLIP, 16),
    root=0,
    torso=(0, 1, 4, 5, 10, 11, 16),
    dim=3,
)

PA16J2D = JointLayout(
    name="pa16j2d",
    joint_names=_PA16J_NAMES,
    bones=((0, 1), (1, 2), (2, 3), *_GIRDLES, *_LIMBS),
    flip_map=_PA16J_FLIP,
    root=0,
    torso=(0, 1, 4, 5, 10, 11),
    dim=2,
)

LAYOUTS = {layout.name: layout for layout in (PA17J3D, PA16J2D)}


def get_layout(name: str) -> JointLayout:
    """A layout by its authors' name (SPNetConfig.joint_layout): "pa17j3d" or "pa16j2d"."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown joint layout {name!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
