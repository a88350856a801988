"""The whole pipeline on the sample video: frames/s and time per stage.

Stages: decode (OpenCV reads and converts the next frame), the pipeline's own stages (detect,
crop, network, lift, track, action, from `FrameResult.timings_ms`) and publish (building the
SkeletonArray and ActionRecognitionArray messages the node sends; serialisation and DDS are in
bench_node.py). The table shows whether the network or our Python around it bounds the rate.

    scripts/fetch_sample_video.sh   # data/vtest.avi, once
    .venv/bin/python bench/bench_pipeline.py --frames 100 --backend cpu
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from machine import cpu_model
from std_msgs.msg import Header

from deephar_ros.choices import ACTION_WINDOWS, CROP_SOURCES, DETECTORS
from deephar_ros.inference.engine import build_engine
from deephar_ros.offline.video import FrameSource
from deephar_ros.perception.pipeline import STAGES, Pipeline, PipelineConfig
from deephar_ros.perception.results import DEFAULT_MIN_ACTION_CONFIDENCE
from deephar_ros.ros.result_messages import action_array, ns_to_time, skeleton_array

ALL_STAGES = ("decode", *STAGES, "publish")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", default="data/vtest.avi")
    parser.add_argument("--frames", type=int, default=100, help="frames to time (after --warmup)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--model", default="ntu_multitask")
    parser.add_argument("--weights", help="Keras .h5/.hdf5 file (default: random weights, same cost)")
    parser.add_argument("--detector", default="hog", choices=DETECTORS, help="yolox-*: after download")
    parser.add_argument("--detector-weights", help="a YOLOX detector's ONNX file (default: the cached one)")
    parser.add_argument("--device", default="auto", help="where the YOLOX detectors run")
    parser.add_argument("--action-window", default=PipelineConfig.action_window, choices=ACTION_WINDOWS)
    parser.add_argument("--max-people", type=int, default=PipelineConfig.max_people)
    parser.add_argument("--crop-source", default="detector", choices=CROP_SOURCES)
    parser.add_argument("--detect-every", type=int, default=PipelineConfig.detect_every_n_frames)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache_dir:
        engine = build_engine(
            args.model,
            args.weights,
            args.backend,
            random_weights=not args.weights,
            conversion_cache_dir=cache_dir,
        )
    config = PipelineConfig(
        detector=args.detector,
        detector_weights=args.detector_weights,
        detector_device=args.device,
        action_window=args.action_window,
        max_people=args.max_people,
        crop_source=args.crop_source,
        detect_every_n_frames=args.detect_every,
    )
    pipeline = Pipeline(engine, config)
    source = FrameSource(args.video, max_frames=args.warmup + args.frames)
    load_at_start = os.getloadavg()[0]

    stage_ms: dict[str, list[float]] = {stage: [] for stage in ALL_STAGES}
    frame_ms: list[float] = []
    people: list[int] = []
    frames = iter(source)
    for index in range(args.warmup + args.frames):
        start = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            break
        decoded = time.perf_counter()
        result = pipeline.process(frame.image, frame.stamp_ns)
        processed = time.perf_counter()
        header = Header(stamp=ns_to_time(frame.stamp_ns), frame_id="camera")
        skeleton_array(result, header)
        action_array(result, header, top_k=5, min_confidence=DEFAULT_MIN_ACTION_CONFIDENCE)
        published = time.perf_counter()
        if index < args.warmup:
            continue
        stage_ms["decode"].append((decoded - start) * 1e3)
        for stage in STAGES:
            stage_ms[stage].append(result.timings_ms[stage])
        stage_ms["publish"].append((published - processed) * 1e3)
        frame_ms.append((published - start) * 1e3)
        people.append(len(result.people))
    source.close()
    if not frame_ms:
        raise SystemExit(f"no frames timed: {args.video} has at most {args.warmup} frames")

    total = sum(frame_ms)
    person_frames = sum(people)
    print(
        f"# {args.video}: {len(frame_ms)} frames, {person_frames / len(frame_ms):.2f} people per frame, "
        f"engine {engine.backend} on {engine.device} ({engine.weights}), detector {args.detector}, "
        f"crops from {args.crop_source} (detector ran on {pipeline.detector_runs} frames), "
        f"{cpu_model()}, torch {torch.__version__}, "
        f"load average {load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print(
        f"# {1e3 * len(frame_ms) / total:.2f} frames/s, {1e3 * person_frames / total:.2f} person-frames/s, "
        f"frame time p50 {statistics.median(frame_ms):.1f} ms, p95 {percentile(frame_ms, 0.95):.1f} ms"
    )
    network_ms = sum(stage_ms["network"])
    if person_frames:
        print(f"# network: {network_ms / person_frames:.1f} ms per person-frame inside the pipeline")
    print("| stage | mean ms | p50 ms | p95 ms | share of frame time |\n|---|---|---|---|---|")
    for stage in ALL_STAGES:
        values = stage_ms[stage]
        print(
            f"| {stage} | {np.mean(values):.2f} | {statistics.median(values):.2f} | "
            f"{percentile(values, 0.95):.2f} | {100 * sum(values) / total:.1f} % |"
        )
    print(
        f"| whole frame | {np.mean(frame_ms):.2f} | {statistics.median(frame_ms):.2f} | "
        f"{percentile(frame_ms, 0.95):.2f} | 100 % |"
    )


if __name__ == "__main__":
    main()
