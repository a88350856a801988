"""The per-frame guard on the network's outputs: people whose outputs hold no number are dropped.

Weights that load but compute garbage (finite yet absurd values, a back end's fp16 overflow) give
NaN or infinite joints. One such person must not fail the whole frame (window sizes, depths and
drawing all refuse NaN) nor be published, so each is dropped on its own, counted, and the rest of
the frame goes on. A network's joints are soft-argmax expectations inside its crop, x and y in [0, 1]
(z too), so a value over MAX_CROP_UNITS crop widths away is as meaningless as NaN and dropped with it.
"""

from __future__ import annotations

import numpy as np

from deephar_ros.perception.crops import CropWindow
from deephar_ros.perception.results import Box

MAX_CROP_UNITS = 1000.0


def usable_rows(values: np.ndarray, limit: float = np.inf) -> np.ndarray:
    """(B,) True where row b of a (B, ...) array is all finite and within +-limit."""
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return np.all(np.isfinite(flat) & (np.abs(flat) <= limit), axis=1)


def keep_finite_people(
    people: list[Box],
    windows: list[CropWindow],
    poses: np.ndarray,
    features: np.ndarray,
    mirrored: np.ndarray | None,
) -> tuple[list[Box], list[CropWindow], np.ndarray, np.ndarray, np.ndarray | None, int]:
    """The people whose poses and action features are all numbers, in order; and how many were dropped."""
    if not people:
        return people, windows, poses, features, mirrored, 0
    keep = usable_rows(poses, MAX_CROP_UNITS)
    if len(features):
        keep &= usable_rows(features)
    if mirrored is not None and len(mirrored):
        keep &= usable_rows(mirrored)
    dropped = int(len(keep) - keep.sum())
    if not dropped:
        return people, windows, poses, features, mirrored, 0
    return (*select_people(list(np.flatnonzero(keep)), people, windows, poses, features, mirrored), dropped)


def select_people(
    kept: list[int],
    people: list[Box],
    windows: list[CropWindow],
    poses: np.ndarray,
    features: np.ndarray,
    mirrored: np.ndarray | None,
) -> tuple[list[Box], list[CropWindow], np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows `kept` of a frame's per-person lists and arrays (the pipeline's other drops use it too)."""
    return (
        [people[i] for i in kept],
        [windows[i] for i in kept],
        poses[kept],
        features[kept] if len(features) else features,
        None if mirrored is None else mirrored[kept],
    )
