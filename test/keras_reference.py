"""Seeded weights in the authors' Keras layout and a seeded input clip: the fidelity references' inputs.

Two sides use this module, so it needs numpy and h5py only: the tests, which write the weights file
themselves (`fill_keras_file` over the layout `write_keras_weights` gives), and
tools/make_fidelity_reference.py, which sets the same values in the authors' own Keras model under
TensorFlow and stores its outputs in test/reference/. The same names give the same values there.

Every weight is drawn from its own PCG64 stream, seeded with (SEED, crc32 of its Keras weight name),
as `Generator.random` doubles: the top 53 bits of the stream times 2**-53, then scaled with
correctly rounded operations, so the values are the same bits on every platform and numpy >= 1.17,
and a layer the port misnames cannot shift the values of the others. Uniform distributions with
the variances of the usual initialisers keep the random network well conditioned:

- kernels (conv, depthwise, pointwise): U(-a, a), a = sqrt(3 / fan_in) (variance 1 / fan_in);
  the heat and depth map kernels (`*_heatmaps_conv1*`, `*_depthmaps_conv1`) times HEATMAP_GAIN, so
  their spatial softmaxes are peaked enough that the soft-argmax poses spread over the crop;
- BatchNormalization gamma and moving_variance U(0.5, 1.5), beta and moving_mean with std 0.1;
- the frozen soft-argmax layers (`*_xy_x`, `*_xy_y`, `*_xy2_x`, `*_xy2_y`) keep their constants.

`MOVING_STATISTICS` replaces the drawn BN moving statistics by those stored with a reference (the
authors' model calibrated on a seeded batch, see the generator): without them the activations of the
random network drift in scale through its 75 (NTU) BN layers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import h5py
import numpy as np

# Where tools/make_fidelity_reference.py stores, per preset, the authors' outputs, the calibrated BN
# statistics and meta.json (the seeds, the versions, the digest of the weights Keras ran).
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SEED = 21
HEATMAP_GAIN = 4.0
FROZEN_LAYER = re.compile(r"_xy2?_[xy]$")
MAP_KERNEL = re.compile(r"_(heatmaps|depthmaps)_conv1(_replica)?$")
BN_SPREAD = 0.1 * 3**0.5  # U(-s, s) has std 0.1


def reference_meta(preset: str) -> dict:
    return json.loads((REFERENCE_DIR / preset / "meta.json").read_text(encoding="utf-8"))


def is_frozen(layer_name: str) -> bool:
    """A soft-argmax layer: its constants are part of the authors' graph, not weights to draw."""
    return FROZEN_LAYER.search(layer_name) is not None


def uniform(name: str, shape: tuple[int, ...], low: float, high: float, seed: int = SEED) -> np.ndarray:
    """U(low, high) float32 from the stream of (seed, crc32(name)): the same bits everywhere."""
    stream = np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
    return (low + (high - low) * stream.random(shape)).astype(np.float32)


def weight_values(layer_name: str, weight_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The seeded value of one Keras weight (`weight_name` as h5 stores it: `layer/kernel:0`)."""
    shape = tuple(int(n) for n in shape)
    suffix = weight_name.rsplit("/", 1)[-1]
    if suffix in ("kernel:0", "pointwise_kernel:0"):
        fan_in = int(np.prod(shape[:-1]))
    elif suffix == "depthwise_kernel:0":
        fan_in = int(np.prod(shape[:2]))
    elif suffix in ("gamma:0", "moving_variance:0"):
        return uniform(weight_name, shape, 0.5, 1.5)
    elif suffix in ("beta:0", "moving_mean:0"):
        return uniform(weight_name, shape, -BN_SPREAD, BN_SPREAD)
    else:
        raise ValueError(f"no seeded initialiser for {weight_name}")
    bound = (3.0 / fan_in) ** 0.5
    if MAP_KERNEL.search(layer_name):
        bound *= HEATMAP_GAIN
    return uniform(weight_name, shape, -bound, bound)


def seeded_clip(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A clip of uniform(-1, 1) float32 pixels in the authors' layout (N, T, 256, 256, 3)."""
    stream = np.random.Generator(np.random.PCG64(seed))
    return (stream.random(shape) * 2.0 - 1.0).astype(np.float32)


def _weights(file: h5py.File):
    """(layer name, weight name, dataset) in the file's order (Keras' `layer_names`, `weight_names`)."""
    for layer_name in file.attrs["layer_names"]:
        layer_name = layer_name.decode() if isinstance(layer_name, bytes) else str(layer_name)
        group = file[layer_name]
        for weight_name in group.attrs.get("weight_names", []):
            weight_name = weight_name.decode() if isinstance(weight_name, bytes) else str(weight_name)
            yield layer_name, weight_name, group[weight_name]


def fill_keras_file(path: str | os.PathLike, moving_statistics: dict[str, np.ndarray] | None = None) -> None:
    """Overwrite every weight of a Keras weights file but the frozen ones with its seeded value
    (BN moving statistics from `moving_statistics`, by weight name, where given)."""
    with h5py.File(path, "r+") as file:
        for layer_name, weight_name, dataset in _weights(file):
            if is_frozen(layer_name):
                continue
            if moving_statistics is not None and "/moving_" in weight_name:
                dataset[...] = moving_statistics[weight_name]
            else:
                dataset[...] = weight_values(layer_name, weight_name, dataset.shape)


def weights_digest(path: str | os.PathLike) -> str:
    """sha256 over the name, shape and float32 values of every weight but the frozen ones, in name order:
    the same weights give the same digest whichever program wrote the file."""
    digest = hashlib.sha256()
    with h5py.File(path, "r") as file:
        weights = sorted(
            (weight_name, dataset[()])
            for layer, weight_name, dataset in _weights(file)
            if not is_frozen(layer)
        )
    for weight_name, values in weights:
        digest.update(f"{weight_name}{values.shape}".encode())
        digest.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
    return digest.hexdigest()
