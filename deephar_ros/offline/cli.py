"""`deephar-ros` console script: convert, infer-clip, export-onnx, download, run, check-precision.

Arguments are parsed and `--help` answered before torch, OpenCV or ONNX Runtime load (a fraction of
a second instead of seconds): what this module imports at its top stays light, and each command's
handler imports what it needs inside. A new command follows the same pattern:

- its parser in build_parser, with choices from deephar_ros.choices (or another module that loads
  nothing heavy) and `set_defaults(handler=...)`;
- a handler `_command(args) -> int` that imports torch, numpy, OpenCV, the network... in its body.

test_cli_help checks that `--help` of every command loads none of torch, cv2 and onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from deephar_ros.choices import BACKEND_NAMES, DEFAULT_OPSET, GRAPHS
from deephar_ros.model.config import DEFAULT_PRESET, preset_names
from deephar_ros.model.downloads import DownloadError
from deephar_ros.model.releases import RELEASED_DETECTORS, RELEASED_WEIGHTS
from deephar_ros.offline.run_options import add_arguments as add_run_arguments

if TYPE_CHECKING:
    import numpy as np

INPUT_RANGE_SLACK = 1e-3


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_PRESET,
        choices=preset_names(),
        help="network preset (default %(default)s)",
    )


def _convert(args: argparse.Namespace) -> int:
    from deephar_ros.model.keras_weights import convert_keras_file, resolve_config, save_checkpoint

    save_checkpoint(convert_keras_file(args.input, resolve_config(args.model)), args.output)
    print(f"wrote {args.output}")
    return 0


def _load_clip(path: str, pose_only: bool) -> np.ndarray:
    """The authors' input layout: (N, T, 256, 256, 3) (or (N, 256, 256, 3) pose only), in [-1, 1]."""
    import numpy as np

    clip = np.load(path)
    if clip.ndim not in ((4, 5) if pose_only else (5,)) or clip.shape[-1] != 3:
        layout = "(N, T, H, W, 3) or (N, H, W, 3)" if pose_only else "(N, T, H, W, 3)"
        raise ValueError(f"{path}: expected an array {layout}, got shape {clip.shape}")
    if not np.issubdtype(clip.dtype, np.floating):
        raise ValueError(f"{path}: expected float pixels scaled to [-1, 1], got dtype {clip.dtype}")
    if clip.size and (clip.min() < -1 - INPUT_RANGE_SLACK or clip.max() > 1 + INPUT_RANGE_SLACK):
        raise ValueError(
            f"{path}: pixels must be scaled to [-1, 1] (x / 127.5 - 1), got {clip.min()}..{clip.max()}"
        )
    return clip.astype(np.float32)


def _infer_clip(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from deephar_ros.model.keras_weights import load_model, resolve_config

    clip = _load_clip(args.input, resolve_config(args.model).is_pose_only)
    model = load_model(args.weights, args.model, cache_dir=args.cache_dir)
    channels_first = torch.from_numpy(np.moveaxis(clip, -1, -3).copy())
    with torch.no_grad():
        outputs = model(channels_first)
    arrays = {name: output.numpy() for name, output in zip(model.config.output_names, outputs, strict=True)}
    np.savez(args.output, **arrays)
    print(f"wrote {len(arrays)} outputs to {args.output}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from deephar_ros.model.keras_weights import load_model
    from deephar_ros.model.onnx_export import export_onnx

    model = load_model(args.weights, args.model, cache_dir=args.cache_dir)
    export_onnx(model, args.output, graph=args.graph, opset=args.opset)
    print(f"wrote {args.output}")
    return 0


def _download(args: argparse.Namespace) -> int:
    try:
        if args.detector is not None:
            from deephar_ros.perception.yolox_detector import fetch_yolox

            path = fetch_yolox(args.detector, cache_dir=args.cache_dir, force=args.force, url=args.url)
        else:
            from deephar_ros.model.keras_weights import fetch_released_weights

            preset = args.model or DEFAULT_PRESET
            path = fetch_released_weights(preset, cache_dir=args.cache_dir, force=args.force, url=args.url)
    except KeyboardInterrupt:  # the partial file is already removed: one line, no traceback
        print("deephar-ros download: interrupted; the cache was left as it was", file=sys.stderr)
        return 130
    print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    """The job lives in deephar_ros.offline.video_job (pipeline, OpenCV, the network), imported only now."""
    try:
        from deephar_ros.offline.video_job import main as run_video_job
    except ImportError as error:
        print(
            "deephar-ros: error: `run` is unavailable: "
            f"cannot import deephar_ros.offline.video_job ({error})",
            file=sys.stderr,
        )
        return 2
    return run_video_job(args)


def _check_precision(args: argparse.Namespace) -> int:
    """Measure reduced precision on these weights and crops now; the last line is the verdict."""
    from deephar_ros.inference.engine import EngineUnavailableError, check_precision
    from deephar_ros.offline.people_clips import people_clips_from

    try:
        verdict = check_precision(
            args.model,
            args.weights,
            args.backend,
            random_weights=args.random_weights,
            clips=people_clips_from(args.images or args.video),
            conversion_cache_dir=args.cache_dir,
        )
    except EngineUnavailableError as error:  # e.g. --backend cuda without CUDA: one line, not a traceback
        print(f"deephar-ros: error: {error}", file=sys.stderr)
        return 1
    if verdict.key:
        key = verdict.key
        device = key.get("gpu", key["cpu"])
        print(f"compared: {key['fp32']} fp32 with {key['reduced']} on {device} ({key['versions']})")
    if verdict.figures is not None:
        print("\n".join(verdict.figures.lines()))
    print("\n".join(f"reason: {reason}" for reason in verdict.reasons))
    print(f"verdict: {verdict.precision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deephar-ros", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)

    convert = subparsers.add_parser("convert", help="convert an authors' Keras .h5/.hdf5 file to our .pt")
    _add_model(convert)
    convert.add_argument("input", help="Keras weights file (.h5 / .hdf5)")
    convert.add_argument("output", help="checkpoint to write (.pt)")
    convert.set_defaults(handler=_convert)

    infer = subparsers.add_parser("infer-clip", help="run the network on clips in the authors' layout")
    _add_model(infer)
    infer.add_argument("--weights", required=True, help=".h5/.hdf5 (converted and cached) or .pt")
    infer.add_argument("--input", required=True, help=".npy float array (N, T, 256, 256, 3) in [-1, 1]")
    infer.add_argument("--output", required=True, help=".npz with one array per Keras output name")
    infer.add_argument("--cache-dir", default=None, help="where converted checkpoints go (default: beside)")
    infer.set_defaults(handler=_infer_clip)

    export = subparsers.add_parser("export-onnx", help="export the network to ONNX")
    _add_model(export)
    export.add_argument("--weights", required=True, help=".h5/.hdf5 or .pt")
    export.add_argument("--output", required=True, help=".onnx file to write")
    export.add_argument("--graph", default="clip", choices=GRAPHS)
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    export.add_argument("--cache-dir", default=None)
    export.set_defaults(handler=_export_onnx)

    fetch = subparsers.add_parser(
        "download", help="download a released weights file, or a YOLOX person detector, into the cache"
    )
    which = fetch.add_mutually_exclusive_group()
    # default None, not the preset: argparse counts an argument given as its default as not given
    which.add_argument(
        "--model", choices=list(RELEASED_WEIGHTS), help=f"network weights (default {DEFAULT_PRESET})"
    )
    which.add_argument(
        "--detector",
        choices=list(RELEASED_DETECTORS),
        help="a YOLOX person detector (ONNX, Apache-2.0; needs onnxruntime) instead of network weights",
    )
    fetch.add_argument("--cache-dir", default=None, help="default $DEEPHAR_ROS_CACHE or ~/.cache/deephar_ros")
    fetch.add_argument("--force", action="store_true", help="download again even if cached")
    fetch.add_argument("--url", default=None, help="another location of the same file (mirror)")
    fetch.set_defaults(handler=_download)

    run = subparsers.add_parser(
        "run",
        help="run the whole pipeline on a video or an image folder",
        description="run the pipeline on a video",
    )
    add_run_arguments(run)
    run.set_defaults(handler=_run)

    check = subparsers.add_parser(
        "check-precision",
        help="measure whether reduced precision (bf16/fp16) moves the network's outputs; ends 'verdict: ...'",
        description="Run crops of people through fp32 and reduced precision, print the differences and "
        "the verdict (kept for later starts with precision auto/reduced).",
    )
    _add_model(check)
    weights = check.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", help=".h5/.hdf5 or .pt")
    weights.add_argument("--random-weights", action="store_true", help="untrained weights (always fp32)")
    check.add_argument(
        "--backend",
        default="auto",
        choices=BACKEND_NAMES,
        help="back end whose reduced twin is measured (bf16 on the CPU, fp16 for cuda and tensorrt)",
    )
    source = check.add_mutually_exclusive_group()
    source.add_argument("--images", help="folder of images of people (256x256 ones are taken as crops)")
    source.add_argument("--video", help="video of people (default: the sample video data/vtest.avi)")
    check.add_argument("--cache-dir", default=None, help="where converted checkpoints go (default: beside)")
    check.set_defaults(handler=_check_precision)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    # keras_weights.WeightsFileError is a ValueError (named here, it would load torch before parsing)
    except (DownloadError, FileNotFoundError, ImportError, ValueError) as error:
        print(f"deephar-ros: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
