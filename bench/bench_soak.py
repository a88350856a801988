"""Soak run of the perception node: a camera at 30 Hz for minutes, memory and latency over time.

Starts the node in its own process (as `ros2 run` would) on random weights with the whole-frame
detector, so every frame costs one network crop whatever the image holds, and plays a small
camera into it over loopback DDS at --rate for --minutes. Every --sample seconds it records the
node process's resident memory (/proc/<pid>/status VmRSS), its GPU memory (from the node's
/diagnostics, when it runs on CUDA) and its frame counters. At the end it prints a table over
time and a summary: RSS growth per minute after --warmup (least-squares slope), frames dropped
by the node (a newer frame replaced them) and lost before reaching it (best-effort transport),
and the latency from image stamp to skeleton arrival, p50 and p95. The whole report is written
as JSON to --json. Exits 1 when the node died, or when --max-rss-growth is given and exceeded.

    .venv/bin/python bench/bench_soak.py --minutes 30 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from deephar_ros.msg import SkeletonArray
from deephar_ros.ros.camera_peer import CameraPeer
from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.result_messages import time_to_ns

NAMESPACE = "/deephar_soak"
DIAGNOSTICS_PERIOD_S = 1.0
SETTLE_S = 2.5 * DIAGNOSTICS_PERIOD_S
# What a camera driver offers by default: best effort, keep last few.
CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)


def resident_mb(pid: int) -> float:
    """VmRSS of a process in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def slope_per_minute(times_s: list[float], values: list[float]) -> float:
    """Least-squares slope of values over time, per minute (NaN with fewer than two samples)."""
    if len(times_s) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(times_s) / 60.0, np.asarray(values), 1)[0])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class SoakRun:
    """Feeds the node, times its skeletons and samples its memory and counters."""

    def __init__(self, peer: CameraPeer, node_pid: int, frame: np.ndarray, warmup_s: float) -> None:
        self.peer = peer
        self.node_pid = node_pid
        self.frame = frame
        self.warmup_s = warmup_s
        self.started = time.monotonic()
        self.sent = 0
        self.latencies_ms: list[float] = []  # after warm-up only
        self.samples: list[dict[str, float]] = []
        peer.create_subscription(
            SkeletonArray,
            "skeletons",
            self._on_skeletons,
            QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE),
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def publish_frame(self) -> None:
        header = Header(stamp=self.peer.get_clock().now().to_msg(), frame_id="soak_camera")
        self.peer.image_out.publish(rgb_to_image(self.frame, header))
        self.sent += 1

    def _on_skeletons(self, message: SkeletonArray) -> None:
        if self.elapsed() >= self.warmup_s:
            now = self.peer.get_clock().now().nanoseconds * 1e-9
            self.latencies_ms.append((now - time_to_ns(message.header.stamp) / 1e9) * 1e3)

    def sample(self) -> None:
        values = self.peer.last_diagnostics()
        gpu = values.get("gpu_memory_reserved_mb")
        self.samples.append(
            {
                "t_s": round(self.elapsed(), 2),
                "rss_mb": round(resident_mb(self.node_pid), 2),
                "gpu_mb": float(gpu) if gpu is not None else None,
                "sent": self.sent,
                "received": int(values.get("frames_received", 0)),
                "processed": int(values.get("frames_processed", 0)),
                "dropped": int(values.get("frames_dropped", 0)),
                "failed": int(values.get("frames_failed", 0)),
                "latency_p50_ms": float(values.get("latency_p50_ms", "nan")),
            }
        )

    def report(self, node_alive: bool, settings: dict) -> dict:
        """Growth and latency after warm-up; frame counts over the whole run (the last sample is settled)."""
        measured = [s for s in self.samples if s["t_s"] >= self.warmup_s]
        gpu = [s for s in measured if s["gpu_mb"] is not None]
        last = self.samples[-1] if self.samples else {}
        return {
            "settings": settings,
            "node_alive": node_alive,
            "rss_growth_mb_per_min": slope_per_minute(
                [s["t_s"] for s in measured], [s["rss_mb"] for s in measured]
            ),
            "gpu_growth_mb_per_min": slope_per_minute([s["t_s"] for s in gpu], [s["gpu_mb"] for s in gpu]),
            "rss_mb_after_warmup": measured[0]["rss_mb"] if measured else None,
            "rss_mb_at_end": last.get("rss_mb"),
            "frames_sent": self.sent,
            "frames_processed": last.get("processed", 0),
            "frames_dropped_by_node": last.get("dropped", 0),
            "frames_failed": last.get("failed", 0),
            "frames_lost_before_node": self.sent - last.get("received", 0),
            "skeletons_received": len(self.latencies_ms),
            "latency_p50_ms": percentile(self.latencies_ms, 50),
            "latency_p95_ms": percentile(self.latencies_ms, 95),
            "samples": self.samples,
        }


def print_report(report: dict) -> None:
    print("| t (s) | node RSS (MiB) | GPU (MiB) | sent | received | processed | dropped | latency p50 (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in report["samples"]:
        gpu = "-" if s["gpu_mb"] is None else f"{s['gpu_mb']:.0f}"
        print(
            f"| {s['t_s']:.0f} | {s['rss_mb']:.1f} | {gpu} | {s['sent']} | {s['received']} | "
            f"{s['processed']} | {s['dropped']} | {s['latency_p50_ms']:.0f} |"
        )
    print(
        f"# after warm-up: RSS {report['rss_mb_after_warmup']} -> {report['rss_mb_at_end']} MiB, "
        f"growth {report['rss_growth_mb_per_min']:.2f} MiB/min (GPU {report['gpu_growth_mb_per_min']:.2f}); "
        f"whole run: {report['frames_sent']} sent, {report['frames_processed']} processed, "
        f"{report['frames_dropped_by_node']} dropped by the node, {report['frames_lost_before_node']} lost "
        f"before it, {report['frames_failed']} failed; "
        f"latency p50 {report['latency_p50_ms']:.0f} ms, p95 {report['latency_p95_ms']:.0f} ms; "
        f"node {'alive' if report['node_alive'] else 'DEAD'}"
    )


def wait_for_node(
    executor: SingleThreadedExecutor, peer: CameraPeer, node: subprocess.Popen, timeout: float
) -> None:
    """Spin until the node's image subscription and its outputs have matched the peer's."""
    deadline = time.monotonic() + timeout
    while peer.image_out.get_subscription_count() == 0 or not peer.hears("skeletons", "diagnostics"):
        if node.poll() is not None:
            raise SystemExit(f"perception node exited with code {node.returncode} during start-up")
        if time.monotonic() > deadline:
            raise SystemExit(f"perception node not ready after {timeout:.0f} s")
        executor.spin_once(timeout_sec=0.1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the camera plays")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frame rate (Hz)")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds left out of the growth and latency"
    )
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between memory samples")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=Path("bench_soak.json"), help="where the report goes")
    parser.add_argument("--max-rss-growth", type=float, help="MiB/min after warm-up above which to exit 1")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--domain-id", type=int, default=100 + os.getpid() % 100)
    args = parser.parse_args()
    if args.minutes * 60.0 <= args.warmup + 2 * args.sample:
        parser.error("--minutes must leave at least two samples after --warmup")

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    command = [
        sys.executable, "-m", "deephar_ros.ros.perception_node", "--ros-args", "-r", f"__ns:={NAMESPACE}",
        "-p", "random_weights:=true", "-p", "detector:=full-frame", "-p", f"backend:={args.backend}",
        "-p", f"device:={args.device}", "-p", f"diagnostics_period:={DIAGNOSTICS_PERIOD_S}",
    ]  # fmt: skip
    node = subprocess.Popen(command)
    rclpy.init()
    peer = CameraPeer(NAMESPACE, camera_qos=CAMERA_QOS, keep=10)
    executor = SingleThreadedExecutor()
    executor.add_node(peer)
    try:
        wait_for_node(executor, peer, node, args.startup_timeout)
        frame = np.random.default_rng(0).integers(0, 256, size=(args.height, args.width, 3), dtype=np.uint8)
        run = SoakRun(peer, node.pid, frame, args.warmup)
        camera = peer.create_timer(1.0 / args.rate, run.publish_frame)
        sampler = peer.create_timer(args.sample, run.sample)
        while run.elapsed() < args.minutes * 60.0 and node.poll() is None:
            executor.spin_once(timeout_sec=0.01)
        # The camera stops; two diagnostics periods later the node's counters hold every frame sent.
        peer.destroy_timer(camera)
        peer.destroy_timer(sampler)
        settle = time.monotonic() + SETTLE_S
        while time.monotonic() < settle and node.poll() is None:
            executor.spin_once(timeout_sec=0.01)
        alive = node.poll() is None
        if alive:
            run.sample()
        settings = vars(args) | {"json": str(args.json), "load_average_at_end": os.getloadavg()[0]}
        report = run.report(alive, settings)
    finally:
        executor.shutdown()
        peer.destroy_node()
        rclpy.try_shutdown()
        node.terminate()
        node.wait(timeout=30)
    print_report(report)
    args.json.write_text(json.dumps(report, indent=1))
    if not report["node_alive"]:
        return 1
    if args.max_rss_growth is not None and report["rss_growth_mb_per_min"] > args.max_rss_growth:
        print(f"# RSS grew {report['rss_growth_mb_per_min']:.2f} MiB/min, more than {args.max_rss_growth}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
