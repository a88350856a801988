"""The perception node end to end over ROS: latency from image stamp to skeleton publish.

Starts the node in its own process (as `ros2 run` would), publishes frames of the sample video on
its `image` topic at 15 and 30 Hz with the stamp set at publish time, and on each SkeletonArray
from its `skeletons` topic records now - header.stamp (the node copies the image's stamp). So a
latency holds image transport, the whole pipeline and the way back. The node keeps only the
newest frame, so at a rate above what it can serve it drops frames rather than queueing them:
the delivered share says how many were served. DDS traffic stays on this host
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) in a domain of its own.

    .venv/bin/python bench/bench_node.py --rates 15 30 --seconds 20 --backend cpu
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from deephar_ros.msg import SkeletonArray
from deephar_ros.offline.video import FrameSource
from deephar_ros.ros.image_conversion import rgb_to_image
from deephar_ros.ros.result_messages import time_to_ns

NAMESPACE = "/deephar_bench"
# The node's camera subscription is best effort, keep last 5 by default; its outputs are reliable.
CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
OUTPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class LatencyProbe(Node):
    """Publishes stamped frames at a set rate and times the skeletons that come back."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__("deephar_latency_probe", namespace=NAMESPACE)
        self.frames = frames
        self.images = self.create_publisher(Image, "image", CAMERA_QOS)
        self.create_subscription(SkeletonArray, "skeletons", self._on_skeletons, OUTPUT_QOS)
        self.sent = 0
        self.latencies_ms: list[float] = []
        self.people: list[int] = []
        self.recording = False

    def publish_frame(self) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id="camera")
        self.images.publish(rgb_to_image(self.frames[self.sent % len(self.frames)], header))
        self.sent += 1

    def _on_skeletons(self, message: SkeletonArray) -> None:
        if not self.recording:
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        self.latencies_ms.append((now - time_to_ns(message.header.stamp) / 1e9) * 1e3)
        self.people.append(len(message.skeletons))


def wait_for_node(
    executor: SingleThreadedExecutor, probe: LatencyProbe, node: subprocess.Popen, timeout: float
):
    """Spin until the node's image subscription and skeleton publisher have matched ours."""
    deadline = time.monotonic() + timeout
    while probe.images.get_subscription_count() == 0 or probe.count_publishers(f"{NAMESPACE}/skeletons") == 0:
        if node.poll() is not None:
            raise SystemExit(f"perception node exited with code {node.returncode} during start-up")
        if time.monotonic() > deadline:
            raise SystemExit(f"perception node not ready after {timeout:.0f} s")
        executor.spin_once(timeout_sec=0.1)


def run_rate(
    executor: SingleThreadedExecutor, probe: LatencyProbe, rate_hz: float, warmup_s: float, seconds: float
) -> None:
    """Publish at `rate_hz` for warm-up then `seconds`, and print one table row."""
    probe.latencies_ms.clear()
    probe.people.clear()
    probe.recording = False
    start = time.monotonic()
    timer = probe.create_timer(1.0 / rate_hz, probe.publish_frame)
    while time.monotonic() - start < warmup_s:
        executor.spin_once(timeout_sec=0.01)
    probe.recording = True
    sent_at_start = probe.sent
    while time.monotonic() - start < warmup_s + seconds:
        executor.spin_once(timeout_sec=0.01)
    probe.destroy_timer(timer)
    sent = probe.sent - sent_at_start
    # Let the last frames in flight come back, then stop counting.
    drain = time.monotonic() + 1.0
    while time.monotonic() < drain:
        executor.spin_once(timeout_sec=0.01)
    probe.recording = False
    values = probe.latencies_ms
    if not values:
        print(f"| {rate_hz:g} Hz | {sent} | 0 | - | - | - |", flush=True)
        return
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"| {rate_hz:g} Hz | {sent} | {len(values)} ({100 * len(values) / max(sent, 1):.0f} %) | "
        f"{statistics.median(values):.0f} ms | {p95:.0f} ms | {np.mean(probe.people):.2f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", default="data/vtest.avi")
    parser.add_argument("--rates", nargs="+", type=float, default=[15.0, 30.0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per rate")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds published before measuring")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--weights", help="Keras weights file for the node (default: random weights)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--domain-id", type=int, default=77)
    args = parser.parse_args()

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    source = FrameSource(args.video, max_frames=int(max(args.rates) * 4))
    frames = [frame.image for frame in source]
    source.close()
    # The node caches the converted checkpoint next to its weights file: give it a copy in a
    # temporary folder so the benchmark leaves nothing behind.
    scratch = tempfile.TemporaryDirectory(prefix="deephar_bench_node_")
    if args.weights:
        weights_copy = shutil.copy(args.weights, scratch.name)
        weights = ["-p", f"weights:={weights_copy}"]
    else:
        weights = ["-p", "random_weights:=true"]
    command = [
        sys.executable, "-m", "deephar_ros.ros.perception_node", "--ros-args",
        "-r", f"__ns:={NAMESPACE}", "-p", f"backend:={args.backend}", *weights,
    ]  # fmt: skip
    node = subprocess.Popen(command)
    rclpy.init()
    probe = LatencyProbe(frames)
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    try:
        wait_for_node(executor, probe, node, args.startup_timeout)
        print(
            f"# {args.video} {frames[0].shape[1]}x{frames[0].shape[0]} rgb8, node back end "
            f"{args.backend!r}, {'weights ' + args.weights if args.weights else 'random weights'}, "
            f"load average {os.getloadavg()[0]:.2f} at start"
        )
        print("| input rate | sent | skeletons received | latency p50 | latency p95 | people per message |")
        print("|---|---|---|---|---|---|", flush=True)
        for rate in args.rates:
            run_rate(executor, probe, rate, args.warmup, args.seconds)
        print(f"# load average {os.getloadavg()[0]:.2f} at end")
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown()
        node.terminate()
        node.wait(timeout=10)
        scratch.cleanup()


if __name__ == "__main__":
    main()
