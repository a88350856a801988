"""SPNet hyper-parameters and the named presets of the authors' released models.

The field values mirror the `ModelConfig(...)` calls of the authors' evaluation scripts
(exp/ntu/eval_ntu_multitask.py, exp/pennaction/eval_penn_multitask.py), because a weights file only
loads into the network those calls build.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The side of the network's square input, px: the authors' 256x256 crops of a person.
CROP_SIZE = 256

POSE_ONLY_SUFFIX = "_pose"


@dataclass(frozen=True)
class SPNetConfig:
    """Everything that fixes the shape of the network (and so of its weights file)."""

    name: str
    num_joints: int
    pose_dim: int
    num_actions: tuple[int, ...]
    num_pyramids: int
    action_pyramids: tuple[int, ...]
    pose_replica: bool
    num_pose_features: int
    num_visual_features: int
    label_set: str
    joint_layout: str
    input_size: int = CROP_SIZE
    num_frames: int = 8
    num_levels: int = 4
    kernel_size: int = 5
    growth: int = 96
    image_div: int = 8
    sam_alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.pose_dim not in (2, 3):
            raise ValueError(f"pose_dim must be 2 or 3, got {self.pose_dim}")
        if self.image_div != 8:
            raise ValueError(f"only image_div=8 (the released models) is supported, got {self.image_div}")
        if self.input_size % (self.image_div * 2 ** (self.num_levels - 1)) != 0:
            raise ValueError(f"input_size {self.input_size} does not divide into {self.num_levels} levels")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        bad = [p for p in self.action_pyramids if not 1 <= p <= self.num_pyramids]
        if bad:
            raise ValueError(f"action_pyramids {bad} outside 1..{self.num_pyramids}")
        if bool(self.num_actions) != bool(self.action_pyramids):
            raise ValueError("num_actions and action_pyramids must both be empty (pose only) or both set")

    @property
    def is_pose_only(self) -> bool:
        return not self.num_actions

    @property
    def num_action_blocks(self) -> int:
        return len(self.action_pyramids) * (self.num_levels - 1)

    @property
    def pose_output_names(self) -> tuple[str, ...]:
        """Keras names of the pose outputs: `dp{p}_pb{level}` going down, `up{p}_pb{level}` going up."""
        names = []
        for pyramid in range(1, self.num_pyramids + 1):
            if pyramid % 2 == 1:
                names += [f"dp{pyramid}_pb{level}" for level in range(1, self.num_levels)]
            else:
                names += [f"up{pyramid}_pb{level}" for level in range(self.num_levels - 2, -1, -1)]
        return tuple(names)

    @property
    def action_output_names(self) -> tuple[str, ...]:
        """Keras names of the action outputs: one softmax per action block and per label set."""
        return tuple(
            f"act{block}_ac_a{head}"
            for block in range(1, self.num_action_blocks + 1)
            for head in range(len(self.num_actions))
        )

    @property
    def output_names(self) -> tuple[str, ...]:
        """Every output in the Keras model's order: poses first, then actions."""
        return self.pose_output_names + self.action_output_names

    def pose_only(self) -> SPNetConfig:
        """The same pose network, one frame, no action branch (loads the multitask file's pose layers)."""
        if self.is_pose_only:
            return self
        return dataclasses.replace(
            self,
            name=self.name + POSE_ONLY_SUFFIX,
            num_frames=1,
            num_actions=(),
            action_pyramids=(),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, SPNetConfig] = {
    "ntu_multitask": SPNetConfig(
        name="ntu_multitask",
        num_joints=17,
        pose_dim=3,
        num_actions=(60,),
        num_pyramids=2,
        action_pyramids=(1, 2),
        pose_replica=False,
        num_pose_features=192,
        num_visual_features=192,
        label_set="ntu60",
        joint_layout="pa17j3d",
    ),
    "penn_multitask": SPNetConfig(
        name="penn_multitask",
        num_joints=16,
        pose_dim=2,
        num_actions=(15,),
        num_pyramids=6,
        action_pyramids=(5, 6),
        pose_replica=True,
        num_pose_features=160,
        num_visual_features=160,
        label_set="penn_action",
        joint_layout="pa16j2d",
    ),
}

DEFAULT_PRESET = "ntu_multitask"


def preset_names() -> list[str]:
    """Every name `get_preset` accepts, pose-only variants included."""
    return [name for base in PRESETS for name in (base, base + POSE_ONLY_SUFFIX)]


def get_preset(name: str) -> SPNetConfig:
    """Look up a preset by name; `<preset>_pose` gives its pose-only variant."""
    if name in PRESETS:
        return PRESETS[name]
    base = name.removesuffix(POSE_ONLY_SUFFIX)
    if name.endswith(POSE_ONLY_SUFFIX) and base in PRESETS:
        return PRESETS[base].pose_only()
    raise ValueError(f"unknown SPNet preset {name!r}; valid names: {', '.join(preset_names())}")
