"""What the pipeline sees of a network, for tests that stand in for SPNet without running it."""

from __future__ import annotations

import numpy as np

from deephar_ros.model.config import SPNetConfig, get_preset
from deephar_ros.perception.clip_window import feature_layout

NTU = get_preset("ntu_multitask")
PENN = get_preset("penn_multitask")


def feature_size(config: SPNetConfig) -> int:
    """K, the length of one frame's packed action features (SPNet.frame_feature_size)."""
    return feature_layout(config)[-1].appearance.stop


def packed_features(poses: np.ndarray, appearance: np.ndarray, config: SPNetConfig) -> np.ndarray:
    """(B, J, D+1) poses and (B,) appearance values -> (B, K) features laid out as SPNet packs them.

    Every action block gets the pose (x, y[, z], visibility per joint) and the appearance value
    repeated over its appearance stream.
    """
    layout = feature_layout(config)
    features = np.zeros((len(poses), feature_size(config)), np.float32)
    for block in layout:
        features[:, block.pose] = poses.reshape(len(poses), -1)
        features[:, block.appearance] = np.asarray(appearance, np.float32)[:, None]
    return features
