"""The Penn Action multitask network (pose_replica) on a weight file in the released layout."""

import dataclasses
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from fidelity import assert_agrees

from deephar_ros.model.config import get_preset
from deephar_ros.model.keras_weights import convert_keras_file, write_keras_weights
from deephar_ros.model.spnet import SPNet

CONFIG = get_preset("penn_multitask")
# The same weights run 2-frame clips 4x faster; no weight depends on the clip length.
SHORT_CONFIG = dataclasses.replace(CONFIG, num_frames=2)


def test_file_has_the_released_layer_names(penn_weights_file):
    with h5py.File(penn_weights_file, "r") as file:
        names = {name.decode() for name in file.attrs["layer_names"]}
        sizes = sum(
            dataset.size for layer in file.values() for group in layer.values() for dataset in group.values()
        )
    replicas = {name for name in names if name.endswith("_replica")}
    # only the action pyramids (5, 6) carry replica heat maps; 2D, so no depth maps at all
    assert replicas == {
        f"{p}_pb{level}_heatmaps_conv1_replica"
        for p, levels in (("dp5", "123"), ("up6", "210"))
        for level in levels
    }
    assert {
        "conv1",
        "act6_action_pred_conv2h0",
        "up6_pb0_xy_x",
        "act6_xy2_y",
        "dp5_du2_action_r0_conv1",
    } <= names
    # the network's last outputs feed nothing further: Keras keeps no layer for them
    assert "up6_pb0_heatmaps_fw_maps" not in names and "act6_action_pred_conv3" not in names
    assert not any("depthmaps" in name for name in names)
    assert sizes == 20_541_416


def test_conversion_round_trips_every_parameter(penn_model, penn_weights_file, tmp_path):
    """Read, then written back: the same Keras weights, value for value, and the same network again."""
    path = tmp_path / "written.hdf5"
    write_keras_weights(penn_model, path)
    with h5py.File(penn_weights_file, "r") as original, h5py.File(path, "r") as written:
        assert list(written.attrs["layer_names"]) == list(original.attrs["layer_names"])
        for layer_name in original.attrs["layer_names"]:
            group, again = original[layer_name.decode()], written[layer_name.decode()]
            assert list(again.attrs["weight_names"]) == list(group.attrs["weight_names"])
            for weight_name in group.attrs["weight_names"]:
                name = weight_name.decode()
                np.testing.assert_array_equal(again[name][()], group[name][()], name)
    loaded = convert_keras_file(path, CONFIG)
    expected = penn_model.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_every_output_matches_keras(penn_reference, penn_reference_outputs):
    """The authors' Keras Penn network on the same weights and clip (test/reference/penn_multitask)."""
    assert list(penn_reference["output_names"]) == list(CONFIG.output_names)
    assert len(penn_reference_outputs) == len(CONFIG.output_names)
    for name, ours in zip(CONFIG.output_names, penn_reference_outputs, strict=True):
        assert_agrees(ours, penn_reference[name], name)


def _outputs(path: Path, clip: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return convert_keras_file(path, SHORT_CONFIG)(clip[:, :2])


def _perturb(source: Path, target: Path, layers: list[str]) -> Path:
    shutil.copyfile(source, target)
    rng = np.random.default_rng(3)
    with h5py.File(target, "r+") as file:
        for layer in layers:
            kernel = file[layer][f"{layer}/kernel:0"]
            kernel[...] = rng.normal(size=kernel.shape) / np.sqrt(kernel.shape[2])
    return target


@pytest.fixture(scope="module")
def reference_outputs(penn_weights_file, penn_clip) -> tuple[torch.Tensor, ...]:
    return _outputs(penn_weights_file, penn_clip)


def test_outputs_are_named_and_shaped_as_keras(reference_outputs):
    assert len(reference_outputs) == len(CONFIG.output_names) == 18 + 6
    assert CONFIG.output_names[17] == "up6_pb0" and CONFIG.output_names[-1] == "act6_ac_a0"
    for output in reference_outputs[:18]:
        assert output.shape == (1, 2, 16, 3)
    for output in reference_outputs[18:]:
        assert output.shape == (1, 15)


def test_replica_maps_drive_the_action_branch(penn_weights_file, penn_clip, reference_outputs, tmp_path):
    replicas = [
        f"{p}_pb{level}_heatmaps_conv1_replica"
        for p, levels in (("dp5", "123"), ("up6", "210"))
        for level in levels
    ]
    outputs = _outputs(_perturb(penn_weights_file, tmp_path / "replica.hdf5", replicas), penn_clip)
    for before, after in zip(reference_outputs[:18], outputs[:18], strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=1e-6)  # poses do not read the replicas
    assert (outputs[-1] - reference_outputs[-1]).abs().max() > 1e-3


def test_pose_maps_do_not_feed_the_action_branch(penn_weights_file, penn_clip, reference_outputs, tmp_path):
    # the last block's pose maps are re-injected nowhere, so they can reach the actions only directly
    outputs = _outputs(
        _perturb(penn_weights_file, tmp_path / "pose.hdf5", ["up6_pb0_heatmaps_conv1"]), penn_clip
    )
    assert (outputs[17] - reference_outputs[17]).abs().max() > 1e-3
    for before, after in zip(reference_outputs[18:], outputs[18:], strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


def test_pose_only_variant_has_no_replica_or_action_layers():
    names = SPNet(CONFIG.pose_only()).keras_layers()
    assert not any(name.endswith("_replica") or name.startswith("act") for name in names)
