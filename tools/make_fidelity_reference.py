"""Rebuild test/reference/: the authors' Keras outputs on the seeded weights and input of the tests.

Never a test dependency: the tests only read what this script wrote. It runs the authors' own code
(github.com/dluvizon/deephar, MIT licence, unmodified) in a separate virtual environment, since
TensorFlow has no place in the project's:

    python3.11 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.15.1 keras==2.15.0 \\
        numpy==1.26.4 h5py==3.16.0 scipy pillow        # scipy, pillow: imported by the deephar package
    git clone https://github.com/dluvizon/deephar /tmp/deephar     # made with fbebb14
    /tmp/tf/bin/python tools/make_fidelity_reference.py --deephar /tmp/deephar

(Made with Python 3.11.7, TensorFlow 2.15.1, Keras 2.15.0, numpy 1.26.4, h5py 3.16.0 on CPU; the
versions are recorded in each meta.json.) For each preset (ntu_multitask, penn_multitask) it

1. builds the model with `spnet.build(ModelConfig(...))` exactly as the authors' evaluation scripts
   (exp/ntu/eval_ntu_multitask.py, exp/pennaction/eval_penn_multitask.py) do;
2. sets every weight but the frozen soft-argmax constants to its seeded value (test/keras_reference.py,
   shared with the tests) and checks that the frozen layers are exactly the non-trainable ones;
3. calibrates the BatchNormalization moving statistics on a separate seeded batch (CALIBRATION_SEED):
   one inference pass in which each BN, in turn, takes the mean and variance of its input, jittered
   (mean + U(-s, s) sqrt(var + 0.01) with std 0.1, (var + 0.01) U(0.5, 1.5), seeded per weight) so
   that a port normalising with batch statistics instead would not pass by chance. Without this the
   random network saturates: poses at the crop's corners, visibilities at 1, one action at 1;
4. runs the seeded clip (keras_reference.seeded_clip, INPUT_SEEDS) through `predict_on_batch`;
5. writes test/reference/<preset>/: moving_statistics.npz (the calibrated statistics by Keras weight
   name: data-dependent, so stored), outputs.npz (every output, by Keras output name, and
   `output_names`) and meta.json (build call, seeds, versions, the digest of the weights that the
   tests check they rebuilt, output statistics).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "test"))

from keras_reference import (  # noqa: E402  (test/ is put on the path above)
    REFERENCE_DIR,
    SEED,
    fill_keras_file,
    is_frozen,
    seeded_clip,
    uniform,
    weight_values,
    weights_digest,
)

CALIBRATION_SEED = 4321
INPUT_SEEDS = {"ntu_multitask": 1234, "penn_multitask": 5678}
CALIBRATION_BATCH = 2
JITTER = 0.1 * 3**0.5  # U(-s, s) has std 0.1

# The authors' evaluation scripts' ModelConfig arguments (after the input shape and the pose layout).
PRESETS = {
    "ntu_multitask": {
        "layout": "pa17j3d",
        "dataconf": "ntu_dataconf",
        "script": "exp/ntu/eval_ntu_multitask.py",
        "config": {
            "num_actions": [60],
            "num_pyramids": 2,
            "action_pyramids": [1, 2],
            "num_levels": 4,
            "pose_replica": False,
            "num_pose_features": 192,
            "num_visual_features": 192,
        },
    },
    "penn_multitask": {
        "layout": "pa16j2d",
        "dataconf": "pennaction_dataconf",
        "script": "exp/pennaction/eval_penn_multitask.py",
        "config": {
            "num_actions": [15],
            "num_pyramids": 6,
            "action_pyramids": [5, 6],
            "num_levels": 4,
            "pose_replica": True,
            "num_pose_features": 160,
            "num_visual_features": 160,
        },
    },
}
NUM_FRAMES = 8


def _build(deephar_root: Path, preset: str):
    """The authors' model, built as their evaluation script builds it."""
    sys.path.insert(0, str(deephar_root))
    import deephar.config
    import deephar.utils
    from deephar.models import spnet

    spec = PRESETS[preset]
    dataconf = getattr(deephar.config, spec["dataconf"])
    layout = getattr(deephar.utils, spec["layout"])
    cfg = deephar.config.ModelConfig((NUM_FRAMES, *dataconf.input_shape), layout, **spec["config"])
    return spnet.build(cfg)


def _set_seeded_weights(model) -> tuple[int, int]:
    """Every weight of every layer but the frozen ones from keras_reference; (seeded, frozen) value counts."""
    seeded = frozen = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        if is_frozen(layer.name) != (not layer.trainable_weights):  # TimeDistributed: the inner layer's
            raise RuntimeError(f"{layer.name}: frozen by name and non-trainable in Keras must agree")
        if is_frozen(layer.name):
            frozen += sum(int(np.prod(w.shape)) for w in layer.weights)
            continue
        values = [weight_values(layer.name, w.name, tuple(w.shape)) for w in layer.weights]
        layer.set_weights(values)
        seeded += sum(v.size for v in values)
    return seeded, frozen


def _calibrate(model, batch_norm_type) -> dict[str, np.ndarray]:
    """Moving statistics measured in one inference pass on a seeded batch, each BN in turn: as the pass
    reaches a BN, its statistics become those of its input (jittered), then it runs with them, so the
    layers after it see what inference gives them. (A training-mode pass instead measures every BN on
    batch-normalised inputs, and the jitter then compounds through the residual blocks until the
    network saturates.) Returns them by Keras weight name."""
    statistics: dict[str, np.ndarray] = {}

    def calibrating(layer, call):
        def calibrate_then_call(inputs, training=None, **kwargs):
            values = inputs.numpy().astype(np.float64)
            axes = tuple(range(values.ndim - 1))
            mean, variance = values.mean(axis=axes), values.var(axis=axes)
            mean_name, variance_name = layer.moving_mean.name, layer.moving_variance.name
            shift = uniform(mean_name, mean.shape, -JITTER, JITTER, CALIBRATION_SEED)
            mean = mean + shift * np.sqrt(variance + 0.01)
            variance = (variance + 0.01) * uniform(variance_name, variance.shape, 0.5, 1.5, CALIBRATION_SEED)
            statistics[mean_name] = mean.astype(np.float32)
            statistics[variance_name] = variance.astype(np.float32)
            layer.moving_mean.assign(statistics[mean_name])
            layer.moving_variance.assign(statistics[variance_name])
            return call(inputs, training=False, **kwargs)

        return calibrate_then_call

    layers = [layer for layer in model.layers if isinstance(layer, batch_norm_type)]
    for layer in layers:
        layer.call = calibrating(layer, layer.call)
    try:
        model(seeded_clip((CALIBRATION_BATCH, *model.input_shape[1:]), CALIBRATION_SEED), training=False)
    finally:
        for layer in layers:
            del layer.call  # the class's call again
    if len(statistics) != 2 * len(layers):
        raise RuntimeError(f"calibrated {len(statistics) // 2} of {len(layers)} BatchNormalization layers")
    return statistics


def _check_not_degenerate(preset: str, arrays: dict[str, np.ndarray]) -> None:
    """Saturated outputs would let a wrong port pass: poses must spread, no action may take it all."""
    for name, array in arrays.items():
        if array.ndim == 4 and array[..., :2].std() < 0.05:
            raise RuntimeError(f"{preset}: pose output {name} barely moves (std {array[..., :2].std():.3f})")
        if array.ndim == 2 and array.max() > 0.9:
            raise RuntimeError(f"{preset}: action output {name} is saturated (max {array.max():.3f})")


def _zero(_name: str, item: object) -> None:
    if isinstance(item, h5py.Dataset):
        item[...] = 0


def _stats(array: np.ndarray) -> dict:
    return {
        "shape": list(array.shape),
        "min": float(array.min()),
        "max": float(array.max()),
        "mean": float(array.mean()),
        "std": float(array.std()),
    }


def make_reference(deephar_root: Path, preset: str, out_dir: Path) -> None:
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    model = _build(deephar_root, preset)
    seeded, frozen = _set_seeded_weights(model)
    statistics = _calibrate(model, keras.layers.BatchNormalization)
    x = seeded_clip((1, *model.input_shape[1:]), INPUT_SEEDS[preset])
    outputs = model.predict_on_batch(x)
    names = list(model.output_names)
    arrays = {name: np.asarray(output, np.float32) for name, output in zip(names, outputs, strict=True)}
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise RuntimeError(f"{preset}: output {name} is not finite")
    _check_not_degenerate(preset, arrays)

    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "weights.h5"
        model.save_weights(str(saved))
        digest = weights_digest(saved)
        # what the tests do: their own file, filled from keras_reference and these statistics
        refilled = Path(scratch) / "refilled.h5"
        refilled.write_bytes(saved.read_bytes())
        with h5py.File(refilled, "r+") as file:  # zeroed, so the refill must write every value
            file.visititems(_zero)
        fill_keras_file(refilled, statistics)
        if weights_digest(refilled) != digest:
            raise RuntimeError(f"{preset}: the seeded refill differs from the weights Keras ran")

    target = out_dir / preset
    target.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target / "moving_statistics.npz", **statistics)
    np.savez_compressed(target / "outputs.npz", output_names=np.array(names), **arrays)
    meta = {
        "preset": preset,
        "made_by": "tools/make_fidelity_reference.py",
        "authors_code": {
            "repository": "https://github.com/dluvizon/deephar",
            "build": f"spnet.build(ModelConfig(({NUM_FRAMES}, 256, 256, 3), {PRESETS[preset]['layout']}, "
            + ", ".join(f"{k}={v}" for k, v in PRESETS[preset]["config"].items())
            + "))",
            "as_in": PRESETS[preset]["script"],
        },
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "h5py": h5py.__version__,
        },
        "weights": {
            "seed": SEED,
            "init": "test/keras_reference.py",
            "seeded_values": seeded,
            "frozen_values": frozen,
            "count_params": int(model.count_params()),
            "bn_layers_calibrated": len(statistics) // 2,
            "bn_calibration": (
                "each BN in turn from its input in one inference pass on "
                f"seeded_clip(({CALIBRATION_BATCH}, {NUM_FRAMES}, 256, 256, 3), {CALIBRATION_SEED}); "
                "mean + U(-s, s) * sqrt(var + 0.01) with std 0.1, (var + 0.01) * U(0.5, 1.5)"
            ),
            "sha256_without_frozen": digest,
        },
        "input": {
            "function": "keras_reference.seeded_clip",
            "shape": list(x.shape),
            "seed": INPUT_SEEDS[preset],
        },
        "outputs": {name: _stats(array) for name, array in arrays.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"{preset}: wrote {target} ({meta['seconds']} s)")


def main() -> int:
    """One process per preset: the authors number their `act%d` layers with a module-level counter."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deephar", required=True, type=Path, help="a checkout of dluvizon/deephar")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR)
    parser.add_argument("--preset", choices=list(PRESETS), action="append", help="default: both")
    args = parser.parse_args()
    presets = args.preset or list(PRESETS)
    if len(presets) == 1:
        make_reference(args.deephar.resolve(), presets[0], args.out)
        return 0
    for preset in presets:
        command = [sys.executable, __file__, "--deephar", str(args.deephar), "--out", str(args.out)]
        subprocess.run([*command, "--preset", preset], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
