"""Keras file conversion, checkpoint cache and the errors users see for files that do not fit."""

import shutil

import h5py
import numpy as np
import pytest
import torch

from deephar_ros.model.config import get_preset
from deephar_ros.model.keras_weights import (
    MAX_WEIGHT_MAGNITUDE,
    WeightsFileError,
    count_keras_parameters,
    keras_state_dict,
    load_checkpoint,
    load_model,
    random_model,
    save_checkpoint,
)
from deephar_ros.model.spnet import SPNet

NTU = get_preset("ntu_multitask")
PENN = get_preset("penn_multitask")


def test_parameter_counts_equal_the_released_models(ntu_reference_dir):
    ntu, penn = SPNet(NTU), SPNet(PENN)
    assert count_keras_parameters(ntu) == 12_834_928
    assert count_keras_parameters(penn) == 20_541_416
    # trainable weights are our nn.Parameters; BN moving stats and soft-argmax constants make the rest
    assert sum(p.numel() for p in ntu.parameters()) == 12_674_504
    with h5py.File(ntu_reference_dir / "weights.h5", "r") as file:
        stored = sum(
            dataset.size for layer in file.values() for group in layer.values() for dataset in group.values()
        )
    assert stored == 12_834_928


def test_other_presets_file_names_the_first_misfit_layer(ntu_reference_dir):
    with pytest.raises(
        WeightsFileError, match=r"dp1_pb1_heatmaps_conv1.*\(1, 1, 384, 17\).*\(1, 1, 384, 16\)"
    ):
        keras_state_dict(ntu_reference_dir / "weights.h5", SPNet(PENN))


def test_missing_layer_is_named(penn_weights_file, tmp_path):
    path = tmp_path / "cut.hdf5"
    shutil.copyfile(penn_weights_file, path)
    with h5py.File(path, "r+") as file:
        del file["up6_pb0_heatmaps_conv1_replica"]
    with pytest.raises(WeightsFileError, match="missing layer 'up6_pb0_heatmaps_conv1_replica'"):
        keras_state_dict(path, SPNet(PENN))


def test_tampered_soft_argmax_constants_are_refused(penn_weights_file, tmp_path):
    path = tmp_path / "grid.hdf5"
    shutil.copyfile(penn_weights_file, path)
    with h5py.File(path, "r+") as file:
        file["dp1_pb1_xy_x/dp1_pb1_xy_x/depthwise_kernel:0"][0, 1, 0, 0] = 0.5
    with pytest.raises(WeightsFileError, match="dp1_pb1_xy_x"):
        keras_state_dict(path, SPNet(PENN))


def test_truncated_files_are_reported(ntu_reference_dir, tmp_path):
    truncated_h5 = tmp_path / "weights.h5"
    truncated_h5.write_bytes((ntu_reference_dir / "weights.h5").read_bytes()[:1_000_000])
    with pytest.raises(WeightsFileError, match="truncated or corrupt"):
        load_model(truncated_h5, NTU, cache_dir=tmp_path / "cache")
    truncated_pt = tmp_path / "model.pt"
    truncated_pt.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    with pytest.raises(WeightsFileError, match="truncated or corrupt"):
        load_model(truncated_pt, NTU)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_model(tmp_path / "absent.hdf5")
    other = tmp_path / "weights.onnx"
    other.write_bytes(b"\0")
    with pytest.raises(WeightsFileError, match="unknown weights file type"):
        load_model(other)


def test_keras_file_is_converted_once_then_cached(penn_model, penn_weights_file, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    model = load_model(penn_weights_file, "penn_multitask", cache_dir=cache)
    (cached,) = cache.glob("*.pt")
    assert cached.name.startswith("penn_random.penn_multitask.")

    def no_conversion(*args):
        raise AssertionError("the cached checkpoint should have been used")

    monkeypatch.setattr("deephar_ros.model.keras_weights.convert_keras_file", no_conversion)
    again = load_model(penn_weights_file, "penn_multitask", cache_dir=cache)
    for key, value in penn_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
        assert torch.equal(again.state_dict()[key], value), key
    assert not again.training


def test_cache_defaults_to_beside_the_keras_file(penn_weights_file, tmp_path):
    path = tmp_path / "weights_mpii+penn_ar_028.hdf5"
    shutil.copyfile(penn_weights_file, path)
    load_model(path, PENN)
    assert len(list(tmp_path.glob("weights_mpii+penn_ar_028.penn_multitask.*.pt"))) == 1


def test_checkpoint_of_the_other_preset_is_refused(penn_model, tmp_path):
    path = tmp_path / "penn.pt"
    save_checkpoint(penn_model, path)
    with pytest.raises(WeightsFileError, match="made for config 'penn_multitask', not 'ntu_multitask'"):
        load_model(path, NTU)
    loaded = load_model(path, "penn_multitask")
    np.testing.assert_array_equal(
        loaded.entry_flow.conv1.weight.detach().numpy(), penn_model.entry_flow.conv1.weight.detach().numpy()
    )


def test_unusable_cache_is_replaced(penn_model, penn_weights_file, tmp_path):
    cache = tmp_path / "cache"
    load_model(penn_weights_file, PENN, cache_dir=cache)
    (cached,) = cache.glob("*.pt")
    cached.write_bytes(b"half a checkpoint")
    with pytest.warns(UserWarning, match="converting .* again"):
        model = load_model(penn_weights_file, PENN, cache_dir=cache)
    assert torch.equal(model.entry_flow.conv1.weight, penn_model.entry_flow.conv1.weight)
    assert load_checkpoint(cached, PENN) is not None


def test_random_model_repeats_for_a_seed_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, again, other = (
        random_model("ntu_multitask_pose"),
        random_model("ntu_multitask_pose"),
        random_model("ntu_multitask_pose", seed=1),
    )
    assert torch.equal(torch.rand(1), expected_next)
    weight = "entry_flow.conv1.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    assert not first.training


@pytest.mark.parametrize(
    "layer, weight, value",
    [("act6_action_pred_bn2", "moving_variance:0", np.nan), ("act6_action_pred_conv2h0", "kernel:0", np.inf)],
)
def test_non_finite_keras_weights_are_refused(ntu_reference_dir, tmp_path, layer, weight, value):
    path = tmp_path / "weights.h5"
    shutil.copyfile(ntu_reference_dir / "weights.h5", path)
    with h5py.File(path, "r+") as file:
        dataset = file[f"{layer}/{layer}/{weight}"]
        dataset[(0,) * dataset.ndim] = value
    with pytest.raises(WeightsFileError, match=rf"layer '{layer}' weight '{weight}' holds 1 NaN or infinite"):
        load_model(path, NTU, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_non_finite_checkpoint_is_refused(tmp_path):
    model = random_model("ntu_multitask_pose")
    with torch.no_grad():
        model.entry_flow.conv1.weight[0, 0, 0, 0] = float("nan")
    path = tmp_path / "pose.pt"
    save_checkpoint(model, path)
    with pytest.raises(WeightsFileError, match=r"tensor 'entry_flow\.conv1\.weight' holds 1 NaN or infinite"):
        load_model(path, "ntu_multitask_pose")


def test_a_directory_is_named_as_such(tmp_path):
    with pytest.raises(WeightsFileError, match="is a directory, not a file"):
        load_model(tmp_path)


@pytest.mark.parametrize("value", [3e38, -2e6])
def test_finite_but_absurd_keras_weights_are_refused(ntu_reference_dir, tmp_path, value):
    """3e38 loads as a float32 and turns every output into NaN: no trained network has such a weight."""
    path = tmp_path / "weights.h5"
    shutil.copyfile(ntu_reference_dir / "weights.h5", path)
    layer, weight = "act6_action_pred_conv2h0", "kernel:0"
    with h5py.File(path, "r+") as file:
        dataset = file[f"{layer}/{layer}/{weight}"]
        dataset[(0,) * dataset.ndim] = value
    with pytest.raises(
        WeightsFileError, match=rf"layer '{layer}' weight '{weight}' holds a weight of magnitude"
    ):
        load_model(path, NTU, cache_dir=tmp_path / "cache")


def test_finite_but_absurd_checkpoint_is_refused_and_a_trained_range_loads(tmp_path):
    model = random_model("ntu_multitask_pose")
    with torch.no_grad():
        model.entry_flow.conv1.weight[0, 0, 0, 0] = MAX_WEIGHT_MAGNITUDE / 2  # large, but possible
    path = tmp_path / "pose.pt"
    save_checkpoint(model, path)
    load_model(path, "ntu_multitask_pose")
    with torch.no_grad():
        model.entry_flow.conv1.weight[0, 0, 0, 0] = 3e38
    save_checkpoint(model, path)
    with pytest.raises(
        WeightsFileError, match=r"tensor 'entry_flow\.conv1\.weight' holds a weight of magnitude 3e\+38"
    ):
        load_model(path, "ntu_multitask_pose")
