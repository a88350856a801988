"""Shared fixtures: the Keras reference vectors of the NTU model and that model, built once per session,
and rclpy contexts for the tests that talk over DDS."""

import os
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch

from deephar_ros.config import get_preset
from deephar_ros.keras_weights import convert_keras_file, write_keras_weights
from deephar_ros.spnet import SPNet

# Every DDS test of this process stays on loopback, in a domain of its own (node subprocesses inherit
# it), so concurrent test runs of other checkouts never cross.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 200)

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


def randomize_weights(model: SPNet, seed: int) -> SPNet:
    """Random but well-conditioned weights, like the reference file: kernels N(0, 1/fan_in)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in**0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.weight.copy_(0.5 + torch.rand(channels, generator=generator))
                module.bias.copy_(0.1 * torch.randn(channels, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(channels, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
    return model.eval()


@pytest.fixture(scope="session")
def penn_model() -> SPNet:
    """The Penn multitask network with random weights (replica layers distinct from the pose layers)."""
    return randomize_weights(SPNet(get_preset("penn_multitask")), seed=7)


@pytest.fixture(scope="session")
def penn_weights_file(penn_model: SPNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`penn_model` saved in the released Keras layout (weights_mpii+penn_ar_028.hdf5's layer names)."""
    path = tmp_path_factory.mktemp("penn") / "penn_random.hdf5"
    write_keras_weights(penn_model, path)
    return path


@pytest.fixture(scope="session")
def penn_clip() -> torch.Tensor:
    generator = torch.Generator().manual_seed(11)
    return torch.rand((1, 8, 3, 256, 256), generator=generator) * 2 - 1


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
