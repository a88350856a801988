"""Per-frame + clip split (issue 8): each frame through the network once, actions from cached features."""

import pytest
import torch
from fidelity import assert_agrees

from deephar_ros.model.config import get_preset
from deephar_ros.model.spnet import SPNet


def _split(model: SPNet, clip: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Frames one at a time, as a streaming node sees them, then the clip part on the cached features."""
    with torch.no_grad():
        per_frame = [model.forward_frames(clip[:, t]) for t in range(clip.shape[1])]
        features = torch.stack([features for _, features in per_frame], dim=1)
        return [pose for pose, _ in per_frame], model.forward_actions(features)


@pytest.fixture(scope="module")
def ntu_split(ntu_reference_model, ntu_reference_clip) -> tuple[torch.Tensor, torch.Tensor]:
    poses, actions = _split(ntu_reference_model, ntu_reference_clip)
    return torch.stack(poses, dim=1), actions


def test_ntu_split_equals_keras_reference(ntu_split, ntu_reference):
    poses, actions = ntu_split
    assert_agrees(poses, ntu_reference["up2_pb0"])
    assert_agrees(actions, ntu_reference["act6_ac_a0"])


def test_ntu_split_equals_full_forward(ntu_split, ntu_reference_outputs):
    poses, actions = ntu_split
    assert_agrees(poses, ntu_reference_outputs[5].numpy())
    assert_agrees(actions, ntu_reference_outputs[-1].numpy())


def test_penn_split_equals_full_forward_and_keras(
    penn_model, penn_clip, penn_reference_outputs, penn_reference
):
    poses, actions = _split(penn_model, penn_clip)
    poses = torch.stack(poses, dim=1)
    assert_agrees(poses, penn_reference_outputs[17].numpy())
    assert_agrees(actions, penn_reference_outputs[-1].numpy())
    assert_agrees(poses, penn_reference["up6_pb0"])
    assert_agrees(actions, penn_reference["act6_ac_a0"])


def test_frame_feature_size_is_documented_value():
    # 6 action blocks x (J * (D + 1) pose and visibility values + Fv x ceil(J / 4) * 2 pooled appearance)
    assert SPNet(get_preset("ntu_multitask")).frame_feature_size == 6 * (17 * 4 + 192 * 10) == 11_928
    assert SPNet(get_preset("penn_multitask")).frame_feature_size == 6 * (16 * 3 + 160 * 8) == 7_968
    assert SPNet(get_preset("ntu_multitask_pose")).frame_feature_size == 0


def test_features_of_a_batch_do_not_mix(penn_model, penn_clip):
    with torch.no_grad():
        pose_pair, features_pair = penn_model.forward_frames(penn_clip[0, :2])
        pose_one, features_one = penn_model.forward_frames(penn_clip[0, 1:2])
    assert features_pair.shape == (2, penn_model.frame_feature_size)
    assert_agrees(features_pair[1:], features_one.numpy())
    assert_agrees(pose_pair[1:], pose_one.numpy())


def test_bad_shapes_get_clear_errors(penn_model):
    with pytest.raises(ValueError, match=r"frames must be \(B, 3, 256, 256\)"):
        penn_model.forward_frames(torch.zeros(1, 256, 256, 3))
    with pytest.raises(ValueError, match="features must be"):
        penn_model.forward_actions(torch.zeros(1, 7, penn_model.frame_feature_size))
    with pytest.raises(ValueError, match="features must be"):
        penn_model.forward_actions(torch.zeros(1, 8, 10))
    with pytest.raises(ValueError, match="clip must hold 8 frames"):
        penn_model(torch.zeros(1, 4, 3, 256, 256))
    with pytest.raises(ValueError, match="clip must be"):
        penn_model(torch.zeros(1, 3, 256, 256))
    with pytest.raises(RuntimeError, match="pose only"):
        SPNet(get_preset("penn_multitask_pose")).forward_actions(torch.zeros(1, 1, 0))
