"""Shared fixtures: the Keras reference vectors of the NTU model and that model, built once per session."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from deephar_ros.config import get_preset
from deephar_ros.keras_weights import convert_keras_file
from deephar_ros.spnet import SPNet

REFERENCE_DIR = Path(
    os.environ.get("DEEPHAR_ROS_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference")
)


@pytest.fixture(scope="session")
def ntu_reference_dir() -> Path:
    """Vectors made by the authors' Keras code (weights.h5, io.npz); DEEPHAR_ROS_REFERENCE moves them."""
    folder = REFERENCE_DIR / "ntu_multitask"
    if not (folder / "weights.h5").is_file() or not (folder / "io.npz").is_file():
        pytest.fail(f"Keras reference vectors not found in {folder} (set DEEPHAR_ROS_REFERENCE)")
    return folder


@pytest.fixture(scope="session")
def ntu_reference(ntu_reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(ntu_reference_dir / "io.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def ntu_reference_clip(ntu_reference: dict[str, np.ndarray]) -> torch.Tensor:
    """The reference input clip, channels first (N, T, 3, 256, 256)."""
    return torch.from_numpy(ntu_reference["x"]).permute(0, 1, 4, 2, 3).contiguous()


@pytest.fixture(scope="session")
def ntu_reference_model(ntu_reference_dir: Path) -> SPNet:
    return convert_keras_file(ntu_reference_dir / "weights.h5", get_preset("ntu_multitask"))


@pytest.fixture(scope="session")
def ntu_reference_outputs(
    ntu_reference_model: SPNet, ntu_reference_clip: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Our full-clip outputs on the reference clip (one ~2 s forward shared by the tests)."""
    with torch.no_grad():
        return ntu_reference_model(ntu_reference_clip)
