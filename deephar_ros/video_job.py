"""`deephar-ros run VIDEO|FOLDER`: the whole pipeline on a video file or an image folder, offline.

Writes to --out: `frames.jsonl` (one record per frame), an annotated video (`annotated.mp4`, or
`annotated.avi` where OpenCV here cannot write mp4v), `contact_sheet.png` and `summary.json`; shows a
progress bar on stderr and prints a summary. A run without weights is refused unless
--random-weights is given; then the JSON, the images and the summary all say so.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from deephar_ros.config import DEFAULT_PRESET, preset_names
from deephar_ros.detection import DETECTORS
from deephar_ros.drawing import draw_result, weights_banner
from deephar_ros.engine import BACKEND_NAMES, build_engine
from deephar_ros.joints import get_layout
from deephar_ros.pipeline import Pipeline, PipelineConfig
from deephar_ros.video import (
    AnnotatedVideoWriter,
    ContactSheet,
    FrameSource,
    JsonLinesWriter,
    ProgressBar,
    frame_record,
)

NO_WEIGHTS_MESSAGE = (
    "deephar-ros run: no weights given. Get the released weights with `deephar-ros download` "
    "(see model/README.md), then pass --weights PATH. To check only the plumbing and the speed, "
    "add --random-weights (every output then says its skeletons and actions are meaningless)."
)


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
    parser.add_argument("--backend", default="auto", choices=BACKEND_NAMES, help="inference back end")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--fps", type=float, help="frame rate of the source (default: the video's; 10 for folders)"
    )
    parser.add_argument(
        "--clip-stride", type=int, help="frames between action clip samples (default: the authors', per fps)"
    )
    parser.add_argument("--flip-tta", action="store_true", help="average with mirrored crops (slower)")
    parser.add_argument("--smoothing", action="store_true", help="One Euro filter on joints")
    parser.add_argument("--top-k", type=int, default=5, help="actions listed per person in the JSON")


def main(args: argparse.Namespace) -> int:
    """Run the job; 0 on success, 2 on a usage error (message on stderr)."""
    if not args.weights and not args.random_weights:
        print(NO_WEIGHTS_MESSAGE, file=sys.stderr)
        return 2
    if args.weights and not Path(args.weights).is_file():
        print(f"deephar-ros run: weights file not found: {args.weights}", file=sys.stderr)
        return 2
    try:
        source = FrameSource(args.source, fps=args.fps, max_frames=args.max_frames)
    except ValueError as error:
        print(f"deephar-ros run: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    engine = build_engine(
        args.model, args.weights, args.backend, args.device, random_weights=args.random_weights
    )
    layout = get_layout(engine.config.joint_layout)
    pipeline = Pipeline(
        engine,
        PipelineConfig(
            detector=args.detector,
            frame_rate_hz=source.fps,
            clip_stride=args.clip_stride,
            flip_tta=args.flip_tta,
            smoothing=args.smoothing,
        ),
    )
    banner = weights_banner(engine.random_weights)
    records = JsonLinesWriter(out_dir / "frames.jsonl")
    sheet = ContactSheet()
    progress = ProgressBar(source.total)
    video = None
    frames = detections = 0
    track_ids: set[int] = set()
    started = time.perf_counter()
    try:
        for frame in source:
            result = pipeline.process(frame.image, frame.stamp_ns)
            annotated = draw_result(frame.image, result, layout.bones, banner)
            if video is None:
                size = (annotated.shape[1], annotated.shape[0])
                video = AnnotatedVideoWriter(out_dir / "annotated", source.fps, size)
            video.write(annotated)
            records.write(frame_record(result, frame.index, engine.random_weights, args.top_k))
            sheet.offer(frame.index, annotated)
            frames += 1
            detections += len(result.people)
            track_ids.update(person.track_id for person in result.people)
            progress.update(frames, len(result.people))
    finally:
        progress.finish()
        records.close()
        source.close()
        if video is not None:
            video.close()
    elapsed = time.perf_counter() - started
    if frames == 0:
        print(f"deephar-ros run: no frames could be read from {args.source}", file=sys.stderr)
        return 2
    sheet.save(out_dir / "contact_sheet.png")

    summary = {
        "source": str(args.source),
        "config": engine.config.name,
        "weights": engine.weights,
        "random_weights": engine.random_weights,
        "backend": engine.backend,
        "device": engine.device,
        "frames": frames,
        "person_detections": detections,
        "tracks": len(track_ids),
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 3),
        "joint_names": list(layout.joint_names),
        "outputs": {
            "frames": "frames.jsonl",
            "video": video.path.name,
            "contact_sheet": "contact_sheet.png",
        },
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"{frames} frames, {detections} person detections, {len(track_ids)} tracks, {summary['fps']:.2f} FPS "
        f"({engine.backend} on {engine.device}); results in {out_dir}/"
    )
    if engine.random_weights:
        print(
            "RANDOM WEIGHTS: this run checks plumbing and speed only; skeletons and actions are meaningless"
        )
    return 0
