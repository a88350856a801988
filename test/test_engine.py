"""The inference engine: back ends agree with eager fp32, selection and fallback, padding, bad input.

Tolerances (test/fidelity.py): fp32 back ends match eager fp32 to the fidelity tolerance of the port,
|ours - ref| <= 1e-4 + 1e-3 max|ref| per output tensor, which holds across x86 CPUs whose kernels
round differently. Half-precision back ends (bf16, fp16) match to 1e-2 + 1e-2 max|ref| on poses
(x, y, z, visibility are crop-normalised, within [0, 1], so that is 2 % of the crop) and give the
same top-1 action on the reference clip. On the reference clip and weights cpu-bf16 does not: poses
are off by up to 0.14 of the crop and the top-1 action changes (BENCHMARKS.md),
so it is checked on the small network only and "cpu" never picks it.
"""

import importlib.util
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from fidelity import assert_agrees
from torch import nn

from deephar_ros.choices import BACKEND_NAMES
from deephar_ros.inference.backends import cuda, onnx_cache, openvino_cpu, tensorrt, trusted_cache
from deephar_ros.inference.engine import EngineUnavailableError, build_engine, create_engine
from deephar_ros.model.config import get_preset
from deephar_ros.model.spnet import SPNet

HALF_PRECISION = {"rtol": 1e-2, "atol": 1e-2}
FP32_BACKENDS = ("cpu-eager", "onnxruntime", "openvino")


class TinySPNet(nn.Module):
    """A few-layer stand-in with SPNet's two methods: soft-argmax poses, features, a clip head."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.frame_feature_size = config.num_joints * 7
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4, padding=2),
            nn.BatchNorm2d(8, eps=1e-3),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.heatmaps = nn.Conv2d(8, config.num_joints, 1)
        self.depth = nn.Conv2d(8, config.num_joints, 1)
        self.appearance = nn.Conv2d(8, 4, 1)
        self.temporal = nn.Conv2d(7, 16, 3, padding=1)
        self.classifier = nn.Linear(16, config.num_actions[0])

    def forward_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.stem(frames)
        probs = self.heatmaps(maps).flatten(2).softmax(-1).unflatten(2, maps.shape[2:])
        grid = torch.linspace(0, 1, maps.shape[-1])
        x = (probs.sum(2) * grid).sum(-1)
        y = (probs.sum(3) * grid).sum(-1)
        z = (torch.sigmoid(self.depth(maps)) * probs).sum((2, 3))
        visibility = probs.flatten(2).amax(-1)
        pose = torch.stack([x, y, z, visibility], -1)
        appearance = torch.einsum("bjhw,bchw->bjc", probs, self.appearance(maps))
        features = torch.cat([pose[..., :3] * visibility[..., None], appearance], -1).flatten(1)
        return pose, features

    def forward_actions(self, features: torch.Tensor) -> torch.Tensor:
        grid = features.unflatten(2, (self.config.num_joints, 7)).permute(0, 3, 1, 2)
        hidden = torch.relu(self.temporal(grid)).amax((2, 3))
        return self.classifier(hidden).softmax(-1)


def eager_reference(model: nn.Module, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model run directly in fp32 on crops normalised here, independently of the engine."""
    frames = (crops.astype(np.float32) / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        pose, features = model.eval().forward_frames(torch.from_numpy(frames.transpose(0, 3, 1, 2).copy()))
    return pose.numpy(), features.numpy()


@pytest.fixture(scope="module")
def tiny_model() -> TinySPNet:
    torch.manual_seed(0)
    model = TinySPNet(get_preset("ntu_multitask")).eval()
    batch_norm = model.stem[1]
    batch_norm.running_mean.uniform_(-0.2, 0.2)
    batch_norm.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (11, 256, 256, 3), dtype=np.uint8)


@pytest.fixture
def without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's view of CUDA and torch_tensorrt made certain: absent, as in CI."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch_tensorrt" else find_spec(name, *a),
    )


# ---- outputs against eager fp32 ------------------------------------------------------------------
@pytest.mark.parametrize("backend", [*FP32_BACKENDS, "cpu-bf16"])
def test_cpu_backends_match_eager_fp32(tiny_model: TinySPNet, crops: np.ndarray, backend: str) -> None:
    engine = create_engine(tiny_model, backend)
    pose, features = engine.run_frames(crops[:3])
    ref_pose, ref_features = eager_reference(tiny_model, crops[:3])
    assert pose.dtype == features.dtype == np.float32
    assert pose.shape == (3, 17, 4) and features.shape == ref_features.shape
    tolerance = {} if backend in FP32_BACKENDS else HALF_PRECISION
    assert_agrees(pose, ref_pose, "pose", **tolerance)
    clip = np.stack([ref_features[[0, 1, 2, 0, 1, 2, 0, 1]], ref_features[[2] * 8]])
    with torch.no_grad():
        ref_scores = tiny_model.forward_actions(torch.from_numpy(clip)).numpy()
    scores = engine.run_actions(clip)
    assert scores.shape == (2, 60) and scores.dtype == np.float32
    assert_agrees(scores, ref_scores, "action scores", **tolerance)
    if backend in FP32_BACKENDS:
        assert_agrees(features, ref_features, "features")


def test_compiled_backend_pads_and_matches_eager_fp32(tiny_model: TinySPNet, crops: np.ndarray) -> None:
    engine = create_engine(tiny_model, "cpu-compile", batch_sizes=(2,))
    assert engine.batch_sizes == (2,)
    # 3 crops: a batch of 2, then 1 crop padded to 2; padding must not leak into the results.
    pose, features = engine.run_frames(crops[:3])
    ref_pose, ref_features = eager_reference(tiny_model, crops[:3])
    assert_agrees(pose, ref_pose, "pose")
    assert_agrees(features, ref_features, "features")
    single_pose, _ = engine.run_frames(crops[2:3])
    np.testing.assert_allclose(single_pose, pose[2:], rtol=1e-5, atol=1e-6)


# ---- batching ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", FP32_BACKENDS)
def test_split_batches_equal_one_by_one(tiny_model: TinySPNet, crops: np.ndarray, backend: str) -> None:
    engine = create_engine(tiny_model, backend, batch_sizes=(1, 2, 4))
    # Any batch size runs as it is (no padding): 11 crops are split into 4 + 4 + 3.
    assert engine.batch_sizes == (1, 2, 3, 4)
    pose, features = engine.run_frames(crops)
    one_by_one = [engine.run_frames(crops[i : i + 1]) for i in range(len(crops))]
    np.testing.assert_allclose(pose, np.concatenate([p for p, _ in one_by_one]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features, np.concatenate([f for _, f in one_by_one]), rtol=1e-5, atol=1e-6)
    ref_pose, _ = eager_reference(tiny_model, crops)
    assert_agrees(pose, ref_pose, "pose")


def test_results_survive_the_next_call(tiny_model: TinySPNet, crops: np.ndarray) -> None:
    engine = create_engine(tiny_model, "cpu-eager", batch_sizes=(4,))
    pose, _ = engine.run_frames(crops[:2])
    kept = pose.copy()
    engine.run_frames(crops[5:9])
    np.testing.assert_array_equal(pose, kept)


def test_empty_batches_give_empty_outputs(tiny_model: TinySPNet) -> None:
    engine = create_engine(tiny_model, "cpu-eager")
    pose, features = engine.run_frames(np.zeros((0, 256, 256, 3), np.uint8))
    assert pose.shape == (0, 17, 4) and features.shape == (0, engine.feature_size)
    assert engine.run_actions(np.zeros((0, 8, engine.feature_size), np.float32)).shape[0] == 0


# ---- selection -----------------------------------------------------------------------------------
def test_auto_picks_a_cpu_backend_and_says_why(
    tiny_model: TinySPNet, without_gpu: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="deephar_ros.inference.engine"):
        engine = create_engine(tiny_model)
    lines = [
        record.getMessage() for record in caplog.records if record.name == "deephar_ros.inference.engine"
    ]
    assert len(lines) == 1
    assert engine.device == "cpu" and engine.backend in BACKEND_NAMES
    assert f"'{engine.backend}' on cpu" in lines[0]
    assert "torch_tensorrt" in lines[0] and "torch.cuda.is_available() is False" in lines[0]
    assert engine.selection in lines[0]
    assert engine.config == tiny_model.config


def test_cpu_falls_back_to_eager_without_onnxruntime_and_openvino(
    tiny_model: TinySPNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    missing = ("onnxruntime", "openvino")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else find_spec(name, *a)
    )
    engine = create_engine(tiny_model, "cpu")
    assert engine.backend == "cpu-eager"
    assert (
        "'onnxruntime' unavailable" in engine.selection
        and "'openvino' (fp32) unavailable" in engine.selection
    )
    with pytest.raises(EngineUnavailableError, match="onnxruntime"):
        create_engine(tiny_model, "onnxruntime")
    with pytest.raises(EngineUnavailableError, match=r"pip install \.\[openvino\]"):
        create_engine(tiny_model, "openvino")


@pytest.mark.parametrize(("vendor", "first"), [("GenuineIntel", "openvino"), ("AuthenticAMD", "onnxruntime")])
def test_cpu_takes_the_faster_fp32_flavour_of_the_cpu_vendor(
    tiny_model: TinySPNet, monkeypatch: pytest.MonkeyPatch, vendor: str, first: str
) -> None:
    field = openvino_cpu.cpuinfo_field
    monkeypatch.setattr(
        openvino_cpu, "cpuinfo_field", lambda name: vendor if name == "vendor_id" else field(name)
    )
    assert create_engine(tiny_model, "cpu").backend == first


@pytest.mark.parametrize(
    ("backend", "missing"),
    [
        ("cuda", "torch.cuda.is_available"),
        ("cuda-bf16", "torch.cuda.is_available"),
        ("tensorrt", "torch_tensorrt"),
    ],
)
def test_unavailable_gpu_backend_raises_clearly(
    tiny_model: TinySPNet, without_gpu: None, backend: str, missing: str
) -> None:
    with pytest.raises(EngineUnavailableError, match=missing):
        create_engine(tiny_model, backend)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize(
    ("backend", "missing"), [("cuda", "torch.cuda.is_available"), ("tensorrt", "torch_tensorrt")]
)
def test_gpu_backends_fail_the_same_in_any_precision_without_a_gpu(
    tiny_model: TinySPNet, without_gpu: None, backend: str, missing: str, precision: str
) -> None:
    with pytest.raises(EngineUnavailableError, match=missing):
        create_engine(tiny_model, backend, precision=precision)


def test_gpu_backends_are_built_in_the_precision_asked_for(
    tiny_model: TinySPNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp32 unless asked (cuda and tensorrt ran fp16 by their name before issue 20); cuda-bf16 by name."""
    asked = []

    def recorder(kind: str):
        def build(model, batch_sizes, device, precision="fp32", cache_dir=None):
            asked.append((kind, device, precision))
            raise EngineUnavailableError(f"{kind} recorded")

        return build

    monkeypatch.setattr(cuda, "CudaBackend", recorder("cuda"))
    monkeypatch.setattr(tensorrt, "TensorRTBackend", recorder("tensorrt"))
    for backend, precision in (
        ("cuda", "fp32"),
        ("cuda", "fp16"),
        ("cuda-bf16", "fp32"),
        ("tensorrt", "fp16"),
    ):
        with pytest.raises(EngineUnavailableError, match="recorded"):
            create_engine(tiny_model, backend, "cuda:1", precision=precision)
    with pytest.raises(EngineUnavailableError, match="recorded"):
        create_engine(tiny_model, "tensorrt")
    assert asked == [
        ("cuda", "cuda:1", "fp32"),
        ("cuda", "cuda:1", "fp16"),
        ("cuda", "cuda:1", "bf16"),
        ("tensorrt", "cuda:1", "fp16"),
        ("tensorrt", "cuda:0", "fp32"),
    ]
    for backend, precision in (
        ("cuda", "bf16"),
        ("cuda-bf16", "fp16"),
        ("tensorrt", "bf16"),
        ("openvino", "fp16"),
    ):
        with pytest.raises(ValueError, match=f"back end '{backend}' has no precision '{precision}'"):
            create_engine(tiny_model, backend, precision=precision)
    assert len(asked) == 5


def test_gpu_fp32_is_ieee_fp32_not_tf32_while_the_network_runs() -> None:
    """cuDNN's fp32 convolutions default to TF32 (fp16's mantissa): fp32 would not be fp32 to compare with."""
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (conv.fp32_precision, matmul.fp32_precision)
    with cuda.ieee_fp32():
        assert (conv.fp32_precision, matmul.fp32_precision) == ("ieee", "ieee")
    assert (conv.fp32_precision, matmul.fp32_precision) == before
    with pytest.raises(KeyError), cuda.ieee_fp32():
        raise KeyError("restored on the way out of an error too")
    assert (conv.fp32_precision, matmul.fp32_precision) == before


def test_auto_on_a_missing_gpu_device_raises(tiny_model: TinySPNet, without_gpu: None) -> None:
    with pytest.raises(EngineUnavailableError, match=r"tensorrt.*cuda"):
        create_engine(tiny_model, "auto", device="cuda")


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("opencl", "auto", "unknown back end"),
        ("cuda", "cpu", "runs on a CUDA device"),
        ("cpu-eager", "cuda:0", "runs on the CPU"),
        ("auto", "tpu", "device must be"),
        ("auto", "banana", "device must be"),
    ],
)
def test_bad_backend_or_device_names(tiny_model: TinySPNet, backend: str, device: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_engine(tiny_model, backend, device)


def test_model_must_be_an_spnet_and_is_left_untouched(tiny_model: TinySPNet) -> None:
    with pytest.raises(TypeError, match="must be an SPNet"):
        create_engine(nn.Linear(2, 2), "cpu-eager")
    tiny_model.train()
    engine = create_engine(tiny_model, "cpu-eager")
    assert tiny_model.training and next(tiny_model.parameters()).requires_grad
    assert engine.backend == "cpu-eager"
    tiny_model.eval()


def test_cache_keys_follow_the_weights(tiny_model: TinySPNet) -> None:
    digest = trusted_cache.weights_digest(tiny_model)
    assert digest == trusted_cache.weights_digest(tiny_model)
    changed = TinySPNet(tiny_model.config)
    changed.load_state_dict(tiny_model.state_dict())
    with torch.no_grad():
        changed.classifier.bias[0] += 1e-3
    assert trusted_cache.weights_digest(changed) != digest
    exports, other = onnx_cache.OnnxExports(tiny_model, None), onnx_cache.OnnxExports(changed, None)
    assert exports.cache_name("frames") != other.cache_name("frames")
    assert exports.cache_name("frames") != exports.cache_name("actions")
    assert exports.cache_name("frames") == onnx_cache.OnnxExports(tiny_model, None).cache_name("frames")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_second_engine_reads_the_onnx_export_from_the_cache(
    tiny_model: TinySPNet, crops: np.ndarray, tmp_path, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    folder = tmp_path / "onnx"
    first = create_engine(tiny_model, backend, export_cache_dir=folder)
    names = sorted(path.name for path in folder.glob("*.onnx"))
    assert len(names) == 2 and folder.stat().st_mode & 0o777 == 0o700  # frames and actions, private
    with caplog.at_level(logging.INFO, logger=onnx_cache.__name__):
        second = create_engine(tiny_model, backend, export_cache_dir=folder)
    messages = [record.getMessage() for record in caplog.records if record.name == onnx_cache.__name__]
    assert sum("from the cache" in message for message in messages) == 2, messages
    np.testing.assert_array_equal(second.run_frames(crops[:2])[0], first.run_frames(crops[:2])[0])


def test_an_altered_onnx_export_is_refused_and_made_again(
    tiny_model: TinySPNet, crops: np.ndarray, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "onnx"
    create_engine(tiny_model, "onnxruntime", export_cache_dir=folder)
    exports = onnx_cache.OnnxExports(tiny_model, folder)
    frames_file = folder / exports.cache_name("frames")
    other = TinySPNet(tiny_model.config)  # a graph of other weights planted under this name
    frames_file.write_bytes(onnx_cache.OnnxExports(other, None).graph("frames"))
    with caplog.at_level(logging.INFO):
        engine = create_engine(tiny_model, "onnxruntime", export_cache_dir=folder)
    assert any("sha256 differs" in record.getMessage() for record in caplog.records)
    assert_agrees(engine.run_frames(crops[:2])[0], eager_reference(tiny_model, crops[:2])[0], "pose")
    assert exports.cache.verified_bytes(frames_file.name) is not None  # stored again, verified


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("crops", "error"),
    [
        ([[0]], TypeError),
        (np.zeros((2, 256, 256, 3), np.float32), ValueError),
        (np.zeros((256, 256, 3), np.uint8), ValueError),
        (np.zeros((1, 128, 128, 3), np.uint8), ValueError),
        (np.zeros((1, 3, 256, 256), np.uint8), ValueError),
    ],
)
def test_bad_crops_are_refused(tiny_model: TinySPNet, crops: object, error: type) -> None:
    engine = create_engine(tiny_model, "cpu-eager")
    with pytest.raises(error, match="crops must be"):
        engine.run_frames(crops)


def test_bad_features_are_refused(tiny_model: TinySPNet) -> None:
    engine = create_engine(tiny_model, "cpu-eager")
    size = engine.feature_size
    for features in (
        np.zeros((1, 8, size + 1), np.float32),
        np.zeros((1, 7, size), np.float32),
        np.zeros((8, size)),
    ):
        with pytest.raises(ValueError, match="features must be"):
            engine.run_actions(features)
    with pytest.raises(ValueError, match="features must be"):
        engine.run_actions(np.zeros((1, 8, size), np.int32))
    with pytest.raises(TypeError, match="numpy array"):
        engine.run_actions(torch.zeros(1, 8, size))


# ---- the real network on the reference clip --------------------------------------------------------
@pytest.fixture(scope="module")
def reference_crops(ntu_reference: dict[str, np.ndarray]) -> np.ndarray:
    """The Keras reference clip `x` (8 frames in [-1, 1]) as the uint8 crops the engine takes."""
    return np.round((ntu_reference["x"][0] + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def eager_outputs(
    ntu_reference_model: SPNet, reference_crops: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eager fp32 pose, features and action scores of the reference clip, reference weights."""
    eager = create_engine(ntu_reference_model, "cpu-eager", batch_sizes=(1, 8))
    pose, features = eager.run_frames(reference_crops)
    return pose, features, eager.run_actions(features[None])


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "cpu"])
def test_spnet_backends_match_eager_on_the_reference_clip(
    ntu_reference_model: SPNet, reference_crops: np.ndarray, eager_outputs: tuple, backend: str
) -> None:
    ref_pose, ref_features, ref_scores = eager_outputs
    engine = create_engine(ntu_reference_model, backend, batch_sizes=(1, 8))
    pose, features = engine.run_frames(reference_crops)
    scores = engine.run_actions(ref_features[None])
    assert_agrees(pose, ref_pose, "pose")
    assert_agrees(features, ref_features, "features")
    assert_agrees(scores, ref_scores, "action scores")
    # What depends on the features: the action scores computed from this back end's own features.
    scores_from_own = engine.run_actions(features[None])
    assert_agrees(scores_from_own, ref_scores, "action scores from this back end's features")
    assert scores_from_own.argmax() == ref_scores.argmax()


def test_read_only_inputs_are_accepted_quietly(tiny_model: TinySPNet, crops: np.ndarray) -> None:
    engine = create_engine(tiny_model, "cpu-eager")
    _, features = engine.run_frames(crops[:1])
    clip = np.broadcast_to(features, (8, features.shape[1]))[None]
    read_only_crops = crops[:2].copy()
    read_only_crops.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = engine.run_actions(clip)
        engine.run_frames(read_only_crops)
    assert_agrees(scores, engine.run_actions(np.ascontiguousarray(clip)), "action scores")


# ---- the model factory ---------------------------------------------------------------------------
def test_build_engine_loads_the_weights_file_and_records_where_they_came_from(
    penn_weights_file, penn_model: SPNet, tmp_path
) -> None:
    engine = build_engine(
        "penn_multitask", penn_weights_file, "cpu-eager", conversion_cache_dir=tmp_path, batch_sizes=(1,)
    )
    assert engine.weights == str(penn_weights_file) and not engine.random_weights
    assert engine.config.name == "penn_multitask" and engine.device_memory_mb() is None
    crops = np.random.default_rng(3).integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    assert_agrees(engine.run_frames(crops)[0], eager_reference(penn_model, crops)[0], "pose")


def test_build_engine_makes_random_weights_only_when_asked_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="no weights given for model 'ntu_multitask'"):
        build_engine("ntu_multitask", None, "cpu-eager")
    with pytest.raises(ValueError, match="choose one"):
        build_engine("ntu_multitask", "weights.hdf5", "cpu-eager", random_weights=True)
    with pytest.raises(ValueError, match="valid names"):
        build_engine("ntu", random_weights=True)
    with caplog.at_level(logging.WARNING, logger="deephar_ros.inference.engine"):
        engine = build_engine("ntu_multitask", backend="cpu-eager", random_weights=True, batch_sizes=(1,))
    assert engine.random_weights and engine.weights.startswith("random")
    assert any("RANDOM weights" in record.getMessage() for record in caplog.records)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        build_engine("ntu_multitask", "/nonexistent/weights.hdf5", "cpu-eager")


ISA_SCRIPT = """
import sys
import numpy as np
from deephar_ros.model.config import get_preset
from deephar_ros.inference.engine import create_engine
from deephar_ros.model.keras_weights import convert_keras_file
model = convert_keras_file(sys.argv[1], get_preset("ntu_multitask"))
crops = np.load(sys.argv[2])
pose, features = create_engine(model, "cpu-eager", batch_sizes=(1, 8)).run_frames(crops)
np.savez(sys.argv[3], pose=pose, features=features)
"""


@pytest.mark.slow
def test_the_tolerance_holds_on_other_cpu_kernels(
    ntu_reference_dir, reference_crops: np.ndarray, eager_outputs: tuple, tmp_path
) -> None:
    """Eager fp32 on oneDNN's SSE4.1 kernels, as another x86 CPU would round, against this CPU's own.

    Per value (1e-4 + 1e-3 |ref|) a few features near zero miss on such runs (as on Intel AMX
    machines); at the scale of the tensor every value agrees.
    """
    crops, out = tmp_path / "crops.npy", tmp_path / "out.npz"
    np.save(crops, reference_crops)
    environment = os.environ | {"ONEDNN_MAX_CPU_ISA": "SSE41"}
    command = [sys.executable, "-c", ISA_SCRIPT, str(ntu_reference_dir / "weights.h5"), str(crops), str(out)]
    subprocess.run(command, env=environment, check=True, timeout=300)
    ref_pose, ref_features, _ = eager_outputs
    with np.load(out) as other:
        assert_agrees(other["pose"], ref_pose, "pose on SSE4.1 kernels")
        assert_agrees(other["features"], ref_features, "features on SSE4.1 kernels")


def current_signal_stack() -> tuple[int | None, int, int]:
    """The calling thread's alternate signal stack (sigaltstack(2)): pointer, flags, size."""
    import ctypes

    class StackT(ctypes.Structure):
        _fields_ = (("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t))

    stack = StackT()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    return stack.ss_sp, stack.ss_flags, stack.ss_size


def test_openvino_leaves_the_threads_signal_stack_as_it_found_it():
    # OpenVINO's compile_model gave the thread an alternate signal stack it later unmapped: a signal
    # delivered afterwards (SIGTERM to `deephar-ros run` after the precision guard) crashed the process.
    before = current_signal_stack()
    model = SPNet(get_preset("ntu_multitask")).eval()
    engine = create_engine(model, "openvino")
    assert current_signal_stack() == before
    engine.run_frames(np.zeros((1, 256, 256, 3), np.uint8))
    del engine
    assert current_signal_stack() == before
