"""Network alone, by back end, precision and batch size: person-frames/s and clips/s.

Measures through the engine (`run_frames`: uint8 crops in, normalisation included; `run_actions`:
the clip part on cached per-frame features) and the full clip forward of the PyTorch model
(`SPNet.forward` on one (1, T, 3, 256, 256) clip, channels-last, fp32 and bf16 autocast).
Times are medians over repeated calls, so a short burst from a neighbour on shared cores moves
them less than a mean would. Prints markdown rows for BENCHMARKS.md.

    .venv/bin/python bench/bench_network.py --backends cpu-eager cpu-bf16 onnxruntime --batch-sizes 1 4 8
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from deephar_ros.config import get_preset
from deephar_ros.engine import create_engine
from deephar_ros.keras_weights import load_model
from deephar_ros.spnet import SPNet

# The authors' Keras code on the same 2 cores, one NTU 8-frame clip (issue 8).
KERAS_CLIP_SECONDS = 0.46


def median_seconds(call: Callable[[], object], seconds: float, min_runs: int = 3) -> float:
    """Median wall time of `call` after one warm-up call, over at least `min_runs` runs."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_network(preset: str, weights: str | None) -> SPNet:
    """SPNet with the weights file given, or random weights (same cost) without one."""
    if weights:
        with tempfile.TemporaryDirectory() as cache_dir:
            return load_model(weights, preset, cache_dir=cache_dir)
    torch.manual_seed(0)
    return SPNet(get_preset(preset)).eval()


def bench_engine(
    model: SPNet, backend: str, batch_sizes: list[int], clips: list[int], seconds: float
) -> None:
    engine = create_engine(model, backend, batch_sizes=tuple(batch_sizes))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (max(batch_sizes), 256, 256, 3), dtype=np.uint8)
    for batch_size in batch_sizes:
        elapsed = median_seconds(lambda b=batch_size: engine.run_frames(crops[:b]), seconds)
        print(
            f"| frames | {engine.backend} | {batch_size} | {elapsed * 1e3:.1f} ms | "
            f"{batch_size / elapsed:.1f} person-frames/s |",
            flush=True,
        )
    _, features = engine.run_frames(crops[: min(len(crops), model.config.num_frames)])
    frame_features = np.resize(features, (model.config.num_frames, features.shape[1]))
    for count in clips:
        batch = np.ascontiguousarray(np.broadcast_to(frame_features, (count, *frame_features.shape)))
        elapsed = median_seconds(lambda b=batch: engine.run_actions(b), seconds)
        rate = f"{count / elapsed:.1f} clips/s"
        print(f"| actions | {engine.backend} | {count} | {elapsed * 1e3:.1f} ms | {rate} |", flush=True)


def bench_full_clip(model: SPNet, precision: str, seconds: float) -> None:
    """SPNet.forward on one whole clip: what re-running the clip every frame would cost."""
    clip = torch.rand(1, model.config.num_frames, 3, 256, 256) * 2 - 1
    network = model.to(memory_format=torch.channels_last)

    def forward() -> None:
        torch.set_flush_denormal(True)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        with torch.inference_mode(), autocast:
            network(clip)

    elapsed = median_seconds(forward, seconds)
    frames = model.config.num_frames
    versus_keras = f"Keras: {KERAS_CLIP_SECONDS} s/clip, {KERAS_CLIP_SECONDS / elapsed:.1f}x"
    print(
        f"| full clip | torch eager {precision} | 1 clip of {frames} | {elapsed * 1e3:.0f} ms | "
        f"{1 / elapsed:.2f} clips/s ({versus_keras}) |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="ntu_multitask")
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
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    print("| part | back end | batch | median time | throughput |\n|---|---|---|---|---|", flush=True)
    model = load_network(args.preset, args.weights)
    for backend in args.backends:
        bench_engine(model, backend, sorted(args.batch_sizes), args.clips, args.seconds)
    for precision in args.full_clip:
        bench_full_clip(model, precision, args.seconds)
    print(f"# load average {os.getloadavg()[0]:.2f} at end", flush=True)


if __name__ == "__main__":
    main()
