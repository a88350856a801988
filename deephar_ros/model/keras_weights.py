"""The authors' Keras weight files (.h5/.hdf5, read with h5py, no TensorFlow) <-> SPNet, by layer name.

A Keras `save_weights` file holds one group per layer (`f[layer].attrs["weight_names"]`, datasets at
`f[layer][weight_name]`); kernels are HWIO, separable convolutions (kh, kw, C, 1) + (1, 1, C, O),
BatchNormalization gamma/beta/moving_mean/moving_variance. The frozen soft-argmax layers
(`*_xy_x`, `*_xy_y`, `act*_xy2_*`) are checked, not loaded: SPNet rebuilds them as buffers.

Parameter counts in Keras' sense (`count_keras_parameters`) add to our trainable parameters the BN
moving statistics and those frozen soft-argmax constants at their Keras shapes; the released models
give 12,834,928 (NTU) and 20,541,416 (Penn).

Converted models are cached as our own checkpoint (.pt: config + state dict), which loads fast.
Either kind of file holding a NaN or infinite weight is refused: it would load and output NaN. So
is one holding a weight over MAX_WEIGHT_MAGNITUDE (see there): finite, but no trained network's.
The released files are fetched on request (`fetch_released_weights`), checked layer by layer before
they replace anything.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from deephar_ros.model.config import SPNetConfig, get_preset
from deephar_ros.model.downloads import DownloadError, default_cache_dir, fetch_verified, file_sha256
from deephar_ros.model.releases import RELEASED_WEIGHTS
from deephar_ros.model.spnet import SPNet
from deephar_ros.model.spnet_blocks import SeparableConv2d, SoftArgmax2d

KERAS_SUFFIXES = (".h5", ".hdf5")
CHECKPOINT_SUFFIXES = (".pt", ".pth")
CHECKPOINT_FORMAT = "deephar_ros.spnet/1"
SOFT_ARGMAX_TOLERANCE = 1e-6
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class WeightsFileError(ValueError):
    """A weights file that cannot be read, or that does not fit the chosen config."""


# ---- layout ----------------------------------------------------------------------------------------

# Largest |weight| a loaded file may hold. Trained convolution kernels and BatchNormalization scales sit
# within ~10 (weight decay and normalisation keep them there) and moving variances of normalised inputs
# far below 1e4; 1e6 is two orders of magnitude above anything training gives, and low enough that
# one such weight cannot overflow float32 in a layer (a 3e38 weight does at once, and every skeleton
# is NaN). Between the two, the pipeline's per-frame guard drops any person whose outputs are NaN.
MAX_WEIGHT_MAGNITUDE = 1e6


def check_weight_values(values: np.ndarray, where: str) -> None:
    """Refuse NaN, infinite or absurdly large weights (MAX_WEIGHT_MAGNITUDE), saying where they are."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating) or values.size == 0:
        return  # counters such as BatchNorm's num_batches_tracked are no weights
    non_finite = values.size - np.count_nonzero(np.isfinite(values))
    if non_finite:
        raise WeightsFileError(f"{where} holds {non_finite} NaN or infinite values (a corrupt file?)")
    largest = float(np.max(np.abs(values)))
    if largest > MAX_WEIGHT_MAGNITUDE:
        raise WeightsFileError(
            f"{where} holds a weight of magnitude {largest:.3g}, over the {MAX_WEIGHT_MAGNITUDE:g} "
            "no trained network has (a corrupt or tampered file?)"
        )


def keras_weight_shapes(layer_name: str, module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Keras weight name suffix -> Keras shape, for the module holding one Keras layer."""
    if isinstance(module, nn.BatchNorm2d):
        channels = (module.num_features,)
        return {
            "gamma:0": channels,
            "beta:0": channels,
            "moving_mean:0": channels,
            "moving_variance:0": channels,
        }
    if isinstance(module, SeparableConv2d):
        depthwise = module.depthwise.weight.shape
        pointwise = module.pointwise.weight.shape
        return {
            "depthwise_kernel:0": (depthwise[2], depthwise[3], depthwise[0], 1),
            "pointwise_kernel:0": (1, 1, pointwise[1], pointwise[0]),
        }
    if isinstance(module, SoftArgmax2d):
        joints, size = module.num_joints, module.size
        return {"depthwise_kernel:0": (size, size, joints, 1), "pointwise_kernel:0": (1, 1, joints, joints)}
    if isinstance(module, nn.Conv2d):
        out_channels, in_channels, kh, kw = module.weight.shape
        return {"kernel:0": (kh, kw, in_channels, out_channels)}
    raise TypeError(f"layer {layer_name}: no Keras layout for {type(module).__name__}")


def count_keras_parameters(model: SPNet) -> int:
    """Keras' `count_params()`: trainable weights + BN moving statistics + frozen soft-argmax constants."""
    return sum(
        int(np.prod(shape))
        for name, module in model.keras_layers().items()
        for shape in keras_weight_shapes(name, module).values()
    )


def _soft_argmax_constants(layer_name: str, module: SoftArgmax2d) -> dict[str, np.ndarray]:
    """The values Keras froze into a soft-argmax layer: a per-joint linspace grid and an identity."""
    grid = (module.grid_x if layer_name.endswith("_x") else module.grid_y).cpu().numpy()
    joints = module.num_joints
    depthwise = np.repeat(grid[:, :, None, None], joints, axis=2)
    pointwise = np.eye(joints, dtype=np.float32)[None, None]
    return {"depthwise_kernel:0": depthwise, "pointwise_kernel:0": pointwise}


def _torch_tensors(module: nn.Module, prefix: str) -> dict[str, str]:
    """Keras weight suffix -> state dict key of the module holding one Keras layer."""
    if isinstance(module, nn.BatchNorm2d):
        return {
            "gamma:0": f"{prefix}weight",
            "beta:0": f"{prefix}bias",
            "moving_mean:0": f"{prefix}running_mean",
            "moving_variance:0": f"{prefix}running_var",
        }
    if isinstance(module, SeparableConv2d):
        return {
            "depthwise_kernel:0": f"{prefix}depthwise.weight",
            "pointwise_kernel:0": f"{prefix}pointwise.weight",
        }
    return {"kernel:0": f"{prefix}weight"}


def _keras_to_torch(array: np.ndarray, suffix: str) -> torch.Tensor:
    if suffix in ("kernel:0", "pointwise_kernel:0"):
        array = array.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    elif suffix == "depthwise_kernel:0":
        array = array.transpose(2, 3, 0, 1)  # (kh, kw, C, 1) -> (C, 1, kh, kw)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _torch_to_keras(tensor: torch.Tensor, suffix: str) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    if suffix in ("kernel:0", "pointwise_kernel:0"):
        return array.transpose(2, 3, 1, 0)
    if suffix == "depthwise_kernel:0":
        return array.transpose(2, 3, 0, 1)
    return array


def _module_prefixes(model: nn.Module) -> dict[int, str]:
    return {id(module): f"{name}." if name else "" for name, module in model.named_modules()}


# ---- Keras file -> state dict -----------------------------------------------------------------------
def _layer_weights(root: h5py.Group, layer_name: str) -> dict[str, h5py.Dataset]:
    group = root[layer_name]
    weights = {}
    for weight_name in group.attrs.get("weight_names", []):
        weight_name = weight_name.decode() if isinstance(weight_name, bytes) else str(weight_name)
        weights[weight_name.rsplit("/", 1)[-1]] = group[weight_name]
    return weights


def _read_keras_layers(path: Path, model: SPNet) -> Iterator[tuple[nn.Module, dict[str, np.ndarray]]]:
    """Each Keras layer `model` needs and its arrays, once checked: present, of the right shape, finite.

    Non-finite weights would load silently and turn every output (every skeleton) into NaN.
    """
    config_name = model.config.name
    try:
        with h5py.File(path, "r") as file:
            root = file.get("model_weights", file)
            for layer_name, module in model.keras_layers().items():
                if layer_name not in root:
                    raise WeightsFileError(
                        f"{path}: missing layer {layer_name!r} needed by config {config_name!r} "
                        f"(a file of another model or preset?)"
                    )
                weights = _layer_weights(root, layer_name)
                arrays = {}
                for suffix, shape in keras_weight_shapes(layer_name, module).items():
                    if suffix not in weights:
                        raise WeightsFileError(f"{path}: layer {layer_name!r} has no weight {suffix!r}")
                    if tuple(weights[suffix].shape) != shape:
                        raise WeightsFileError(
                            f"{path}: layer {layer_name!r} weight {suffix!r} has shape "
                            f"{tuple(weights[suffix].shape)}, config {config_name!r} expects {shape} "
                            f"(a file of another model or preset?)"
                        )
                    array = weights[suffix][()]
                    check_weight_values(array, f"{path}: layer {layer_name!r} weight {suffix!r}")
                    arrays[suffix] = array
                if isinstance(module, SoftArgmax2d):
                    _check_soft_argmax(path, layer_name, module, arrays)
                yield module, arrays
    except (OSError, KeyError) as error:
        raise WeightsFileError(
            f"cannot read Keras weights file {path} (truncated or corrupt?): {error}"
        ) from error


def keras_state_dict(path: str | os.PathLike, model: SPNet) -> dict[str, torch.Tensor]:
    """Read a Keras weights file into a state dict for `model`; refuse a file that does not fit it."""
    state = model.state_dict()
    prefixes = _module_prefixes(model)
    for module, arrays in _read_keras_layers(Path(path), model):
        if isinstance(module, SoftArgmax2d):
            continue  # checked constants: SPNet rebuilds them as buffers
        for suffix, key in _torch_tensors(module, prefixes[id(module)]).items():
            state[key] = _keras_to_torch(arrays[suffix], suffix)
    return state


def check_keras_file(path: str | os.PathLike, config: SPNetConfig) -> None:
    """Refuse a Keras file that `load_model` would refuse for `config`, without converting it.

    For downloads: verified before they replace anything, at the cost of one read of the file.
    """
    for _ in _read_keras_layers(Path(path), SPNet(config)):
        pass


def _check_soft_argmax(
    path: Path, layer_name: str, module: SoftArgmax2d, arrays: dict[str, np.ndarray]
) -> None:
    for suffix, expected in _soft_argmax_constants(layer_name, module).items():
        if np.abs(arrays[suffix] - expected).max() > SOFT_ARGMAX_TOLERANCE:
            raise WeightsFileError(
                f"{path}: frozen soft-argmax layer {layer_name!r} does not hold linspace 0..1"
            )


def write_keras_weights(model: SPNet, path: str | os.PathLike) -> None:
    """Write `model` in the layout of Keras `save_weights` (as the released files), for round trips."""
    layers = model.keras_layers()
    state = model.state_dict()
    prefixes = _module_prefixes(model)
    with h5py.File(path, "w") as file:
        file.attrs["backend"] = "tensorflow"
        file.attrs["keras_version"] = "2.15.0"  # the layout written here is that of Keras 2.x save_weights
        file.attrs["layer_names"] = np.array([name.encode() for name in layers])
        for layer_name, module in layers.items():
            group = file.create_group(layer_name)
            if isinstance(module, SoftArgmax2d):
                arrays = _soft_argmax_constants(layer_name, module)
            else:
                arrays = {
                    suffix: _torch_to_keras(state[key], suffix)
                    for suffix, key in _torch_tensors(module, prefixes[id(module)]).items()
                }
            group.attrs["weight_names"] = np.array([f"{layer_name}/{suffix}".encode() for suffix in arrays])
            for suffix, array in arrays.items():
                group.create_dataset(f"{layer_name}/{suffix}", data=array)


# ---- our checkpoint ---------------------------------------------------------------------------------
def _build_empty(config: SPNetConfig) -> SPNet:
    """An SPNet without initialised weights (meta tensors), to be filled by `load_state_dict(assign=True)`."""
    with torch.device("meta"):
        return SPNet(config)


def model_from_state_dict(config: SPNetConfig, state: dict[str, torch.Tensor]) -> SPNet:
    model = _build_empty(config)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def save_checkpoint(model: SPNet, path: str | os.PathLike) -> None:
    """Save config + state dict; written to a temp file then renamed, so a crash leaves no half file."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _config_from_dict(values: dict) -> SPNetConfig:
    values = dict(values)
    values["num_actions"] = tuple(values["num_actions"])
    values["action_pyramids"] = tuple(values["action_pyramids"])
    return SPNetConfig(**values)


def load_checkpoint(path: str | os.PathLike, config: SPNetConfig) -> SPNet:
    """Load our .pt checkpoint, refusing one made for another config."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise WeightsFileError(f"{path} is not a deephar_ros SPNet checkpoint")
        saved = _config_from_dict(payload["config"])
    except WeightsFileError:
        raise
    except Exception as error:  # torch.load raises many types on truncated or foreign files
        # torch's own message runs to several lines (and suggests weights_only=False): its first line only
        first_line = next(iter(str(error).splitlines()), "")[:200]
        raise WeightsFileError(
            f"cannot read checkpoint {path} (truncated or corrupt?): {type(error).__name__}: {first_line}"
        ) from error
    if saved != config:
        differences = [key for key, value in config.to_dict().items() if saved.to_dict()[key] != value]
        raise WeightsFileError(
            f"checkpoint {path} was made for config {saved.name!r}, not {config.name!r} "
            f"(differs in {differences})"
        )
    state = payload["state_dict"]
    for key, tensor in state.items():  # bad values would load silently and turn every output into NaN
        check_weight_values(
            tensor.detach().cpu().float().numpy() if tensor.is_floating_point() else tensor.numpy(),
            f"checkpoint {path}: tensor {key!r}",
        )
    return model_from_state_dict(config, state)


# ---- entry points -----------------------------------------------------------------------------------
def convert_keras_file(path: str | os.PathLike, config: SPNetConfig) -> SPNet:
    """Build SPNet for `config` with the weights of a Keras file."""
    return model_from_state_dict(config, keras_state_dict(existing_weights_file(path), SPNet(config)))


def existing_weights_file(path: str | os.PathLike) -> Path:
    """`path` when it is a file; a clear error for a directory (h5py's own is an errno deep inside HDF5)."""
    path = Path(path)
    if path.is_dir():  # not "not found": it is there, but the file inside it was meant
        raise WeightsFileError(
            f"weights path {path} is a directory, not a file: name the .h5/.hdf5 or .pt file in it"
        )
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return path


def cached_checkpoint_path(
    path: str | os.PathLike, config: SPNetConfig, cache_dir: str | os.PathLike | None
) -> Path:
    """Where the converted checkpoint of a Keras file lives: keyed by the file's hash and the config."""
    path = Path(path)
    folder = Path(cache_dir) if cache_dir is not None else path.parent
    return folder / f"{path.stem}.{config.name}.{file_sha256(path)[:16]}.pt"


def resolve_config(config: SPNetConfig | str) -> SPNetConfig:
    return get_preset(config) if isinstance(config, str) else config


def _load_keras_file_cached(path: Path, config: SPNetConfig, cache: Path) -> SPNet:
    """The cached conversion if it is usable, else convert again and (try to) cache the result."""
    if cache.is_file():
        try:
            return load_checkpoint(cache, config)
        except WeightsFileError as error:
            warnings.warn(f"converting {path} again: {error}", stacklevel=3)
    model = convert_keras_file(path, config)
    try:
        save_checkpoint(model, cache)
    except OSError as error:  # e.g. a read-only folder beside the weights file
        warnings.warn(f"could not cache the converted weights at {cache}: {error}", stacklevel=3)
    return model


def random_model(config: SPNetConfig | str = "ntu_multitask", seed: int = 0) -> SPNet:
    """An untrained SPNet, the same for the same seed: plumbing and speed checks only.

    It costs what the released model costs, so it stands in for it where no weights can be had.
    The global torch generator is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SPNet(resolve_config(config)).eval()


def load_model(
    path: str | os.PathLike,
    config: SPNetConfig | str = "ntu_multitask",
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> SPNet:
    """Load SPNet from a Keras .h5/.hdf5 file (converted once, then cached) or our .pt checkpoint."""
    config = resolve_config(config)
    path = existing_weights_file(path)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        model = load_checkpoint(path, config)
    elif suffix in KERAS_SUFFIXES:
        model = _load_keras_file_cached(path, config, cached_checkpoint_path(path, config, cache_dir))
    else:
        raise WeightsFileError(
            f"{path}: unknown weights file type {suffix!r}; "
            f"expected one of {(*KERAS_SUFFIXES, *CHECKPOINT_SUFFIXES)}"
        )
    return model.to(device).eval()


# ---- the released files ------------------------------------------------------------------------------
def verify_released_weights(path: str | os.PathLike, preset: str) -> None:
    """Refuse a file that is not HDF5 or lacks a layer, shape or finite value that `preset` needs."""
    with open(path, "rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise DownloadError("it is not an HDF5 file")
    try:
        check_keras_file(path, get_preset(preset))
    except WeightsFileError as error:
        raise DownloadError(f"it does not hold the {preset} weights: {error}") from error


def fetch_released_weights(
    preset: str, cache_dir: str | os.PathLike | None = None, force: bool = False, url: str | None = None
) -> Path:
    """Path of a released weights file in the cache, downloaded first if absent, untrusted, or `force`.

    A download replaces the cached file only once verified (HDF5 holding every layer of `preset`).
    """
    if preset not in RELEASED_WEIGHTS:
        raise ValueError(f"no released weights for {preset!r}; choose one of {', '.join(RELEASED_WEIGHTS)}")
    released = RELEASED_WEIGHTS[preset]
    destination = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return fetch_verified(
        url or released.url,
        destination / released.filename,
        lambda path: verify_released_weights(path, preset),
        force=force,
        by_hand=(
            f"Download {released.filename} by hand from {released.page} and put it at "
            f"{destination / released.filename} (checked once, then used), or pass its path as --weights"
        ),
    )
