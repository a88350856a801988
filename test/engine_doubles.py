"""What the pipeline sees of a network, for tests that stand in for SPNet without running it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NetConfig:
    """The SPNetConfig fields the pipeline reads (NTU's by default)."""

    joint_layout: str = "pa17j3d"
    num_joints: int = 17
    pose_dim: int = 3
    num_frames: int = 8
    label_set: str = "ntu60"
    num_actions: tuple = (60,)
