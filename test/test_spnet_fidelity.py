"""SPNet against the authors' own Keras outputs (test/reference/ntu_multitask, made by
tools/make_fidelity_reference.py): every output within 1e-4 + 1e-3 max|ref| (test/fidelity.py says why
the tolerance is at the scale of each output)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fidelity import agreement, assert_agrees
from keras_reference import reference_meta, weights_digest

from deephar_ros.model.config import get_preset
from deephar_ros.model.keras_weights import keras_state_dict, model_from_state_dict
from deephar_ros.model.spnet import SPNet

FRAMES = 2  # frames of the reference clip run through the pose-only network


def test_every_output_matches_keras(ntu_reference, ntu_reference_outputs):
    names = get_preset("ntu_multitask").output_names
    assert list(ntu_reference["output_names"]) == list(names)
    assert len(ntu_reference_outputs) == len(names)
    for name, ours in zip(names, ntu_reference_outputs, strict=True):
        assert_agrees(ours, ntu_reference[name], name)


def test_weights_written_here_are_those_keras_ran(ntu_reference_dir, penn_weights_file):
    """The seeded file the tests write holds, name for name, the values the authors' model ran with."""
    for preset, path in (
        ("ntu_multitask", ntu_reference_dir / "weights.h5"),
        ("penn_multitask", penn_weights_file),
    ):
        assert weights_digest(path) == reference_meta(preset)["weights"]["sha256_without_frozen"], preset


def test_action_scores_are_distributions(ntu_reference_outputs):
    for scores in ntu_reference_outputs[6:]:
        assert scores.shape == (1, 60)
        torch.testing.assert_close(scores.sum(dim=1), torch.ones(1))


@pytest.fixture(scope="module")
def pose_only_state(ntu_reference_dir: Path) -> dict[str, torch.Tensor]:
    config = get_preset("ntu_multitask_pose")
    return keras_state_dict(ntu_reference_dir / "weights.h5", SPNet(config))


def _pose_only_outputs(model: SPNet, clip: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return model(clip[0, :FRAMES])


def test_pose_only_network_reads_the_multitask_file(pose_only_state, ntu_reference, ntu_reference_clip):
    config = get_preset("ntu_multitask_pose")
    model = model_from_state_dict(config, pose_only_state)
    outputs = _pose_only_outputs(model, ntu_reference_clip)
    assert len(outputs) == len(config.output_names) == 6
    for name, ours in zip(config.output_names, outputs, strict=True):
        assert ours.shape == (FRAMES, 17, 4)
        assert_agrees(ours, ntu_reference[name][0, :FRAMES], name)
    with torch.no_grad():
        as_clip = model(ntu_reference_clip[:, :1])  # (N, T, ...) works too, any T
    assert as_clip[-1].shape == (1, 1, 17, 4)
    assert_agrees(as_clip[-1][0], outputs[-1][:1], "clip-shaped input")


def _transpose_stem_kernel(state: dict) -> None:
    state["entry_flow.conv1.weight"] = state["entry_flow.conv1.weight"].transpose(2, 3).contiguous()


def _swap_heat_and_depth_maps(state: dict) -> None:
    heat = "pyramids.0.0.block.heatmaps.conv1.weight"
    depth = "pyramids.0.0.block.depthmaps.conv1.weight"
    state[heat], state[depth] = state[depth], state[heat]


def _pytorch_batch_norm_eps(model: SPNet) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 1e-5


@pytest.mark.parametrize(
    "break_state, break_model",
    [(_transpose_stem_kernel, None), (_swap_heat_and_depth_maps, None), (None, _pytorch_batch_norm_eps)],
    ids=["kernel-not-transposed-right", "layers-swapped", "bn-eps-1e-5"],
)
def test_broken_mapping_fails(pose_only_state, ntu_reference, ntu_reference_clip, break_state, break_model):
    state = dict(pose_only_state)
    if break_state is not None:
        break_state(state)
    model = model_from_state_dict(get_preset("ntu_multitask_pose"), state)
    if break_model is not None:
        break_model(model)
    final = _pose_only_outputs(model, ntu_reference_clip)[-1]
    result = agreement(final, ntu_reference["up2_pb0"][0, :FRAMES])
    # Not a near miss: a broken mapping is off by many times the tolerance, on many values.
    assert result.misses > 0 and result.excess > 10 * result.tolerance, result.describe("up2_pb0")


def test_presets_name_outputs_in_keras_order():
    penn = get_preset("penn_multitask")
    assert penn.output_names[:4] == ("dp1_pb1", "dp1_pb2", "dp1_pb3", "up2_pb2")
    assert len(penn.pose_output_names) == 18 and penn.action_output_names[-1] == "act6_ac_a0"
    pose_only = get_preset("penn_multitask_pose")
    assert (
        pose_only == penn.pose_only()
        and pose_only.num_frames == 1
        and pose_only.output_names == penn.pose_output_names
    )
    with pytest.raises(ValueError, match="valid names: ntu_multitask, ntu_multitask_pose, penn_multitask"):
        get_preset("ntu")


def test_tolerance_is_at_the_scale_of_the_tensor():
    reference = np.array([[1.0, 0.026, 0.5], [0.0, -0.8, 0.3]], np.float32)
    # What an Intel AMX machine gave: a small value off by 1.3e-4 (0.5 % of itself), in a tensor of scale 1.
    near_zero = reference.copy()
    near_zero[0, 1] += 1.3e-4
    assert agreement(near_zero, reference).misses == 0
    assert_agrees(near_zero, reference)
    off = reference.copy()
    off[1, 0] += 2e-3  # 2e-3 against a tolerance of 1e-4 + 1e-3 * 1.0
    result = agreement(off, reference)
    assert (result.misses, result.worst_index) == (1, (1, 0))
    message = r"x: 1 of 6 values off by more than 0.0011 \(worst 0.002 at \(1, 0\)"
    with pytest.raises(AssertionError, match=message):
        assert_agrees(off, reference, "x")
    not_a_number = reference.copy()
    not_a_number[0, 2] = np.nan
    assert agreement(not_a_number, reference).misses == 1


def test_agreement_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        agreement(np.zeros((1, 2)), np.zeros((2, 1)))
