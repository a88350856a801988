"""Start-up cold and warm, and the whole pipeline's frames/s, per CPU back end and precision.

Start-up: a fresh Python process that imports the engine and builds it (random weights, same
cost as released ones), timed from the parent from spawn to exit. Cold: an empty cache folder
(the ONNX graphs are exported); warm: the folder a previous start filled. Runs alternate cold
and warm so that load from other work on the machine hits both alike.

Pipeline: the sample video through the HOG detector and the network, frames/s and the detector's
own time per frame (where ONNX Runtime's spinning threads would show), each back end in turn,
repeated in rounds, each round starting with the next back end, so that each gets the same share
of the machine's load and of its drift.

    scripts/fetch_sample_video.sh   # data/vtest.avi, once
    .venv/bin/python bench/bench_backends.py --start-runs 3 --frames 60 --rounds 2

Back ends: NAME or NAME:bf16 (bf16 without the guard: speed only), and onnxruntime:spinning
(ONNX Runtime with its threads spin-waiting, the library's default, for comparison).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model

from deephar_ros.inference.backends.onnx_runtime import OnnxRuntimeBackend
from deephar_ros.inference.engine import DEFAULT_BATCH_SIZES, InferenceEngine, create_engine, load_network
from deephar_ros.offline.video import FrameSource
from deephar_ros.perception.pipeline import Pipeline, PipelineConfig

START_SCRIPT = """
from deephar_ros.inference.engine import build_engine
build_engine({model!r}, backend={backend!r}, random_weights=True)
"""


def start_seconds(model: str, backend: str, cache_home: Path) -> float:
    """Wall time of one process that builds the engine, with XDG_CACHE_HOME at `cache_home`."""
    environment = os.environ | {"XDG_CACHE_HOME": str(cache_home)}
    script = START_SCRIPT.format(model=model, backend=backend)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env=environment, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_start(model: str, backend: str, runs: int) -> None:
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as folder:
        warm_home = Path(folder) / "warm"
        start_seconds(model, backend, warm_home)  # fills the warm cache
        for run in range(runs):
            with tempfile.TemporaryDirectory() as cold_home:
                cold.append(start_seconds(model, backend, Path(cold_home)))
            warm.append(start_seconds(model, backend, warm_home))
            print(f"# start {backend} run {run}: cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s", flush=True)
    saved = statistics.median(cold) - statistics.median(warm)
    print(
        f"| {backend} | {statistics.median(cold):.2f} s | {statistics.median(warm):.2f} s | "
        f"{saved:.2f} s | {min(cold):.2f} / {min(warm):.2f} s |",
        flush=True,
    )


def make_engine(model: str, backend: str) -> InferenceEngine:
    name, _, variant = backend.partition(":")
    network = load_network(model, random_weights=True)
    if variant == "spinning":
        engine = create_engine(network, name)
        return InferenceEngine(
            OnnxRuntimeBackend(engine.exports, DEFAULT_BATCH_SIZES, spinning=True),
            engine.config,
            "onnxruntime, threads spinning",
            random_weights=True,
        )
    return create_engine(network, name, precision=variant or "fp32", random_weights=True)


def run_pipeline(engine: InferenceEngine, video: str, frames: int, warmup: int) -> tuple[float, float]:
    """(frames/s, median detector ms per frame) over `frames` frames after `warmup`."""
    pipeline = Pipeline(engine, PipelineConfig(detector="hog"))
    source = FrameSource(video, max_frames=warmup + frames)
    detect_ms, start = [], None
    try:
        for frame in source:
            if frame.index == warmup:
                start = time.perf_counter()
            result = pipeline.process(frame.image, frame.stamp_ns)
            if frame.index >= warmup:
                detect_ms.append(result.timings_ms["detect"])
    finally:
        source.close()
    return frames / (time.perf_counter() - start), float(np.median(detect_ms))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="ntu_multitask")
    parser.add_argument("--video", default="data/vtest.avi")
    parser.add_argument("--start-backends", nargs="*", default=["onnxruntime", "openvino"])
    parser.add_argument("--start-runs", type=int, default=3)
    parser.add_argument(
        "--backends",
        nargs="*",
        default=["onnxruntime", "onnxruntime:spinning", "openvino", "openvino:bf16"],
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"# {cpu_model()}, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    if args.start_backends:
        print("| back end | cold start (median) | warm start (median) | saved | best cold / warm |")
        print("|---|---|---|---|---|", flush=True)
        for backend in args.start_backends:
            bench_start(args.model, backend, args.start_runs)
    if args.backends:
        engines = {backend: make_engine(args.model, backend) for backend in args.backends}
        rates: dict[str, list[tuple[float, float]]] = {backend: [] for backend in args.backends}
        order = list(engines)
        for round_index in range(args.rounds):
            shift = round_index % len(order)  # each round starts with another back end
            for backend in order[shift:] + order[:shift]:
                rates[backend].append(run_pipeline(engines[backend], args.video, args.frames, args.warmup))
                print(f"# {backend}: {rates[backend][-1][0]:.2f} frames/s", flush=True)
        print("| back end | pipeline frames/s (median of rounds) | HOG detect ms/frame |")
        print("|---|---|---|")
        for backend, values in rates.items():
            fps = statistics.median(v[0] for v in values)
            detect = statistics.median(v[1] for v in values)
            print(f"| {backend} | {fps:.2f} | {detect:.1f} |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.2f} at end", flush=True)


if __name__ == "__main__":
    main()
