"""ONNX graphs of SPNet give the Keras reference outputs under ONNX Runtime."""

import warnings

import numpy as np
import onnxruntime
import pytest
from fidelity import assert_agrees

from deephar_ros.model.config import get_preset
from deephar_ros.model.onnx_export import export_onnx
from deephar_ros.model.spnet import SPNet


def _session(model: SPNet, path, graph: str) -> onnxruntime.InferenceSession:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on the shape checks, legacy-exporter notice
        export_onnx(model, path, graph=graph)
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def frames_input(ntu_reference) -> np.ndarray:
    return np.ascontiguousarray(ntu_reference["x"][0].transpose(0, 3, 1, 2))


def test_frame_and_action_graphs_match_keras(ntu_reference_model, ntu_reference, frames_input, tmp_path):
    frames = _session(ntu_reference_model, tmp_path / "frames.onnx", "frames")
    pose, features = frames.run(None, {"frames": frames_input})  # batch 8 through a graph traced at 1
    assert features.shape == (8, ntu_reference_model.frame_feature_size)
    assert_agrees(pose, ntu_reference["up2_pb0"][0])

    actions = _session(ntu_reference_model, tmp_path / "actions.onnx", "actions")
    (scores,) = actions.run(None, {"features": features[None]})
    assert_agrees(scores, ntu_reference["act6_ac_a0"])


def test_clip_graph_has_every_keras_output(ntu_reference_model, ntu_reference, tmp_path):
    session = _session(ntu_reference_model, tmp_path / "clip.onnx", "clip")
    names = [output.name for output in session.get_outputs()]
    assert names == list(get_preset("ntu_multitask").output_names)
    clip = np.ascontiguousarray(ntu_reference["x"].transpose(0, 1, 4, 2, 3))
    for name, value in zip(names, session.run(None, {"clip": clip}), strict=True):
        assert_agrees(value, ntu_reference[name], name)


def test_pose_only_config_has_no_action_graph(tmp_path):
    with pytest.raises(ValueError, match="pose only"):
        export_onnx(SPNet(get_preset("penn_multitask_pose")), tmp_path / "a.onnx", graph="actions")
    with pytest.raises(ValueError, match="unknown graph"):
        export_onnx(SPNet(get_preset("penn_multitask_pose")), tmp_path / "a.onnx", graph="everything")
