"""Shared fixtures: the seeded weights and the authors' Keras outputs of both presets (test/reference/),
the networks built from them once per session, and rclpy contexts for the tests that talk over DDS."""

import os
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
from keras_reference import REFERENCE_DIR, fill_keras_file, reference_meta, seeded_clip

from deephar_ros.model.config import get_preset
from deephar_ros.model.keras_weights import convert_keras_file, write_keras_weights
from deephar_ros.model.spnet import SPNet

# Every DDS test of this process stays on loopback, in a domain of its own (node subprocesses inherit
# it), so concurrent test runs of other checkouts never cross.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 200)


def write_reference_weights(preset: str, path: Path) -> Path:
    """The reference's weights file, made here: the authors' Keras layout (as write_keras_weights lays
    it out), every weight seeded (keras_reference.py), the BN moving statistics stored with the outputs."""
    write_keras_weights(SPNet(get_preset(preset)), path)
    with np.load(REFERENCE_DIR / preset / "moving_statistics.npz") as statistics:
        fill_keras_file(path, {name: statistics[name] for name in statistics.files})
    return path


def _reference(preset: str) -> dict[str, np.ndarray]:
    """`x`, the seeded input clip (N, T, 256, 256, 3), and the authors' outputs by Keras output name."""
    with np.load(REFERENCE_DIR / preset / "outputs.npz") as data:
        reference = {key: data[key] for key in data.files}
    recorded = reference_meta(preset)["input"]
    reference["x"] = seeded_clip(tuple(recorded["shape"]), recorded["seed"])
    return reference


def _channels_first(clip: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(clip).permute(0, 1, 4, 2, 3).contiguous()


@pytest.fixture(scope="session")
def ntu_reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding weights.h5: the NTU reference's weights, written by the test session."""
    folder = tmp_path_factory.mktemp("ntu_reference")
    write_reference_weights("ntu_multitask", folder / "weights.h5")
    return folder


@pytest.fixture(scope="session")
def ntu_reference() -> dict[str, np.ndarray]:
    return _reference("ntu_multitask")


@pytest.fixture(scope="session")
def ntu_reference_clip(ntu_reference: dict[str, np.ndarray]) -> torch.Tensor:
    """The reference input clip, channels first (N, T, 3, 256, 256)."""
    return _channels_first(ntu_reference["x"])


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


@pytest.fixture(scope="session")
def penn_weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Penn reference's weights in the released layout (weights_mpii+penn_ar_028.hdf5's layer names,
    replica layers distinct from the pose layers), written by the test session."""
    return write_reference_weights("penn_multitask", tmp_path_factory.mktemp("penn") / "penn_random.hdf5")


@pytest.fixture(scope="session")
def penn_model(penn_weights_file: Path) -> SPNet:
    """The Penn multitask network on the reference weights."""
    return convert_keras_file(penn_weights_file, get_preset("penn_multitask"))


@pytest.fixture(scope="session")
def penn_reference() -> dict[str, np.ndarray]:
    return _reference("penn_multitask")


@pytest.fixture(scope="session")
def penn_clip(penn_reference: dict[str, np.ndarray]) -> torch.Tensor:
    """The Penn reference input clip, channels first (1, 8, 3, 256, 256)."""
    return _channels_first(penn_reference["x"])


@pytest.fixture(scope="session")
def penn_reference_outputs(penn_model: SPNet, penn_clip: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Our full-clip Penn outputs on the reference clip (one forward shared by the tests)."""
    with torch.no_grad():
        return penn_model(penn_clip)


def _started_rclpy_context() -> rclpy.context.Context:
    context = rclpy.context.Context()
    rclpy.init(context=context)  # the domain of ROS_DOMAIN_ID above
    return context


@pytest.fixture
def rclpy_context():
    """An rclpy context for one test."""
    context = _started_rclpy_context()
    yield context
    context.try_shutdown()


@pytest.fixture(scope="module")
def rclpy_module_context():
    """An rclpy context shared by the tests of one module (nodes that are costly to build)."""
    context = _started_rclpy_context()
    yield context
    context.try_shutdown()
