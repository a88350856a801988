"""Network alone, by back end, precision and batch size: person-frames/s and clips/s.

Measures through the engine (`run_frames`: uint8 crops in, normalisation included; `run_actions`:
the clip part on cached per-frame features) and the full clip forward of the PyTorch model
(`SPNet.forward` on one (1, T, 3, 256, 256) clip, channels-last, fp32 and bf16 autocast).
Each row gives the median and the best time over repeated calls: on cores shared with other
work the median says what a user gets, the best what the machine can do when left alone.
Prints markdown rows for BENCHMARKS.md.

    .venv/bin/python bench/bench_network.py --backends cpu-eager cpu-bf16 onnxruntime openvino openvino:bf16

A back end named NAME:bf16 (or NAME:fp16 for cuda and tensorrt) runs in that precision without the
precision guard (speed only: whether it is close enough for given weights is
`deephar-ros check-precision`'s question).
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from machine import cpu_model

from deephar_ros.inference.engine import create_engine, load_network
from deephar_ros.model.spnet import SPNet

# The authors' Keras code on the same 2 cores, one NTU 8-frame clip (issue 8).
KERAS_CLIP_SECONDS = 0.46


def timed(call: Callable[[], object], seconds: float, min_runs: int = 3) -> tuple[float, float]:
    """(median, best) wall time of `call` after one warm-up call, over at least `min_runs` runs."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def row(part: str, backend: str, batch: str, count: int, unit: str, times: tuple[float, float]) -> str:
    median, best = times
    return (
        f"| {part} | {backend} | {batch} | {median * 1e3:.1f} ms | {count / median:.2f} {unit} | "
        f"{best * 1e3:.1f} ms | {count / best:.2f} {unit} |"
    )


def bench_engine(args: argparse.Namespace, backend: str, cache_dir: str) -> None:
    batch_sizes, clips, seconds = sorted(args.batch_sizes), args.clips, args.seconds
    name, _, precision = backend.partition(":")
    network = load_network(args.model, args.weights, random_weights=not args.weights, cache_dir=cache_dir)
    engine = create_engine(network, name, batch_sizes=tuple(batch_sizes), precision=precision or "fp32")
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (max(batch_sizes), 256, 256, 3), dtype=np.uint8)
    for batch_size in batch_sizes:
        times = timed(lambda b=batch_size: engine.run_frames(crops[:b]), seconds)
        label = f"{engine.backend} {engine.precision}"
        print(row("frames", label, str(batch_size), batch_size, "person-frames/s", times), flush=True)
    num_frames = engine.config.num_frames
    _, features = engine.run_frames(crops[: min(len(crops), num_frames)])
    frame_features = np.resize(features, (num_frames, features.shape[1]))
    for count in clips:
        batch = np.ascontiguousarray(np.broadcast_to(frame_features, (count, *frame_features.shape)))
        times = timed(lambda b=batch: engine.run_actions(b), seconds)
        label = f"{engine.backend} {engine.precision}"
        print(row("actions", label, f"{count} clips", count, "clips/s", times), flush=True)


def bench_full_clip(model: SPNet, precision: str, seconds: float) -> None:
    """SPNet.forward on one whole clip: what re-running the clip every frame would cost."""
    clip = torch.rand(1, model.config.num_frames, 3, 256, 256) * 2 - 1
    network = model.to(memory_format=torch.channels_last)

    def forward() -> None:
        torch.set_flush_denormal(True)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        with torch.inference_mode(), autocast:
            network(clip)

    times = timed(forward, seconds)
    frames = model.config.num_frames
    print(
        row("full clip", f"torch eager {precision}", f"1 clip of {frames}", 1, "clips/s", times), flush=True
    )
    print(
        f"# full clip {precision}: best {KERAS_CLIP_SECONDS / times[1]:.1f}x the authors' Keras code",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="ntu_multitask")
    parser.add_argument("--weights", help="Keras .h5/.hdf5 file (default: random weights, same cost)")
    parser.add_argument("--backends", nargs="+", default=["cpu-eager", "cpu-bf16", "onnxruntime"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--clips", nargs="+", type=int, default=[1, 4], help="clips per run_actions call")
    parser.add_argument("--full-clip", nargs="*", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per row")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"# {cpu_model()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    print("| part | back end | batch | median | median rate | best | best rate |", flush=True)
    print("|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as cache_dir:  # converted weights, once for every back end
        for backend in args.backends:
            bench_engine(args, backend, cache_dir)
        if args.full_clip:
            model = load_network(
                args.model, args.weights, random_weights=not args.weights, cache_dir=cache_dir
            )
            for precision in args.full_clip:
                bench_full_clip(model, precision, args.seconds)
    print(f"# load average {os.getloadavg()[0]:.2f} at end", flush=True)


if __name__ == "__main__":
    main()
