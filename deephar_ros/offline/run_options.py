"""The options of `deephar-ros run`, importable without torch, OpenCV or ONNX Runtime.

`deephar-ros run --help` and a wrong option are answered from here before the job
(deephar_ros.offline.video_job) and the network load. The defaults are PipelineConfig's
(test_cli_model checks that they agree): the pipeline module itself loads OpenCV.
"""

from __future__ import annotations

import argparse

from deephar_ros.choices import (
    ACTION_WINDOWS,
    BACKEND_NAMES,
    CROP_SOURCES,
    DETECTORS,
    PRECISIONS,
    SCORINGS,
)
from deephar_ros.model.config import DEFAULT_PRESET, preset_names
from deephar_ros.perception.results import DEFAULT_MIN_ACTION_CONFIDENCE


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `deephar-ros run`."""
    parser.add_argument("source", help="video file, or folder of images (sorted by name)")
    parser.add_argument("--weights", help="released Keras .hdf5/.h5 file or converted .pt checkpoint")
    parser.add_argument("--model", default=DEFAULT_PRESET, choices=preset_names(), help="network preset")
    parser.add_argument("--out", default="out/run", help="output folder (default: out/run)")
    parser.add_argument(
        "--random-weights", action="store_true", help="run untrained (plumbing and speed checks only)"
    )
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    parser.add_argument("--detector", default="hog", choices=sorted(DETECTORS), help="person detector")
    parser.add_argument(
        "--detector-weights",
        help="a YOLOX detector's ONNX file (default: the one `download --detector` cached)",
    )
    parser.add_argument(
        "--min-score",
        type=float,
        help="person boxes scoring below this are ignored (default: the detector's)",
    )
    parser.add_argument(
        "--crop-source",
        default="detector",
        choices=CROP_SOURCES,
        help="crops from the detector on every frame, or from each track's last joints (pose)",
    )
    parser.add_argument(
        "--detect-every",
        type=_positive_int,
        default=10,
        help="with --crop-source pose: run the detector every N frames to find new people",
    )
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES, help="inference back end")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="arithmetic: reduced/auto take bf16 on a CPU, fp16 on a GPU, only where the precision guard "
        "measured it safe for these weights (deephar-ros check-precision)",
    )
    parser.add_argument(
        "--fps", type=float, help="frame rate of the source (default: the video's; 10 for folders)"
    )
    parser.add_argument(
        "--clip-stride",
        type=int,
        help="every N-th frame an action clip sample (default: by time, the authors' 8/30 s or 6/30 s)",
    )
    parser.add_argument("--flip-tta", action="store_true", help="average with mirrored crops (slower)")
    parser.add_argument(
        "--action-scoring",
        default="mean",
        choices=SCORINGS,
        help="mean of recent clips' scores, or the authors' product over overlapping clips",
    )
    parser.add_argument(
        "--mirrored-action-pass",
        action="store_true",
        help="the authors' second action pass on mirrored crops (doubles the network time)",
    )
    parser.add_argument(
        "--action-window",
        default="clip",
        choices=ACTION_WINDOWS,
        help="action clips in one window per clip, as the authors crop (clip), or per frame (frame)",
    )
    parser.add_argument(
        "--fixed-depth-scale",
        action="store_true",
        help="read z over a fixed 1 m, not scaled by the crop against the authors' window",
    )
    parser.add_argument("--smoothing", action="store_true", help="One Euro filter on joints")
    parser.add_argument("--top-k", type=int, default=5, help="actions listed per person in the JSON")
    parser.add_argument(
        "--min-action-confidence",
        type=_probability,
        default=DEFAULT_MIN_ACTION_CONFIDENCE,
        help="an action whose top score is below this is uncertain, with no label (as the node's"
        " min_action_confidence)",
    )
