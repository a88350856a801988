"""Stopping the perception node process the way `ros2 launch` does.

Ctrl-C of `ros2 launch` in a terminal sends SIGINT to the whole process group, then launch sends the
node its own SIGINT and, later, SIGTERM. Whenever they come (loading the network, idle, in the middle
of a frame while destroy_node joins the worker) the process must exit 0 without a traceback or a C++
abort ("terminate called without an active exception"). Each case starts the node executable
(nodes/perception_node) and knows the node's state from its output and its topics; the
waits have guards that only stop a hung run.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from deephar_ros.ros.camera_peer import CameraPeer

pytestmark = pytest.mark.slow  # node processes: CI runs them; `-m "not slow"` skips them

REPO = Path(__file__).resolve().parents[1]
# The executable `ros2 run` starts (nodes/perception_node, installed into lib/deephar_ros).
NODE_COMMAND = [
    sys.executable, str(REPO / "nodes" / "perception_node"), "--ros-args", "-p", "random_weights:=true",
    "-p", "backend:=cpu-eager", "-p", "device:=cpu", "-p", "detector:=full-frame",
]  # fmt: skip
GUARD_S = 120.0  # only stops a hung run
# The gap launch leaves between the terminal's SIGINT and its own: the second one lands while the node stops.
SECOND_SIGNAL_AFTER_S = 0.05
# Logged by the engine while the node builds its network: past the imports, before "ready".
LOADING_LINE = "has RANDOM weights"


class NodeProcess:
    """The perception node in a process of its own; its stdout and stderr, read line by line."""

    def __init__(self) -> None:
        # conftest.py put this run's ROS_DOMAIN_ID in os.environ: the test's peer shares it.
        environment = os.environ | {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
        self.process = subprocess.Popen(
            NODE_COMMAND,
            cwd=REPO,
            env=environment,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._unread: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            self._unread.put(line)
        self._unread.put(None)

    def wait_for_line(self, text: str) -> None:
        """Block until the node prints a line holding text."""
        give_up = time.monotonic() + GUARD_S
        while time.monotonic() < give_up:
            try:
                line = self._unread.get(timeout=1.0)
            except queue.Empty:
                continue
            assert line is not None, f"the node exited before printing {text!r}:\n{self.output()}"
            if text in line:
                return
        pytest.fail(f"the node never printed {text!r}:\n{self.output()}")

    def send(self, *signals: signal.Signals) -> None:
        """The signals in turn, SECOND_SIGNAL_AFTER_S apart."""
        for index, signum in enumerate(signals):
            if index:
                time.sleep(SECOND_SIGNAL_AFTER_S)
            self.process.send_signal(signum)

    def finish(self) -> int:
        """The exit status, once the process and its output have ended."""
        try:
            status = self.process.wait(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the node did not exit after its stop signals:\n{self.output()}")
        self._reader.join(timeout=GUARD_S)
        return status

    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def node_process():
    node = NodeProcess()
    yield node
    if node.process.poll() is None:  # a failed test left it running
        node.process.kill()
        node.process.wait()


def assert_quiet_exit(node: NodeProcess) -> None:
    status = node.finish()
    output = node.output()
    assert "Traceback" not in output, output
    assert "terminate called" not in output, output
    assert status == 0, f"exit status {status}:\n{output}"


def spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], step: Callable[[], None]) -> None:
    """Run step() and spin the peer until done(); the guard only stops a hung run."""
    give_up = time.monotonic() + GUARD_S
    while not done():
        assert time.monotonic() < give_up, "the node never answered"
        step()
        executor.spin_once(timeout_sec=0.05)


@pytest.fixture
def peer(rclpy_context: Context):
    """A camera peer of the node, in this process: it feeds frames and hears /diagnostics."""
    camera = CameraPeer(context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(camera)
    yield camera, executor
    executor.shutdown()
    camera.destroy_node()


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)],
    ids=["SIGINT-SIGINT", "SIGINT-SIGTERM"],
)
def test_two_stop_signals_to_a_spinning_node_exit_0_quietly(node_process, peer, signals) -> None:
    camera, executor = peer
    node_process.wait_for_line("ready:")
    spin_until(executor, lambda: bool(camera.last_diagnostics()), lambda: None)  # its timer runs: it spins
    node_process.send(*signals)
    assert_quiet_exit(node_process)


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)],
    ids=["SIGINT-SIGINT", "SIGTERM-SIGINT"],
)
def test_a_second_signal_while_the_worker_finishes_a_frame_exits_0_quietly(
    node_process, peer, signals
) -> None:
    """The first signal ends the spin and destroy_node joins the worker, busy with a frame; the second
    one used to raise KeyboardInterrupt in that join: a traceback, then an abort (exit -6)."""
    camera, executor = peer
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    sent = [0]

    def publish() -> None:
        sent[0] += 1
        camera.publish_image(10**9 + sent[0] * 33_000_000, frame)

    node_process.wait_for_line("ready:")
    spin_until(executor, lambda: len(camera.received["skeletons"]) >= 2, publish)  # frames flow through it
    publish()  # a newer frame waits while the worker runs the current one
    executor.spin_once(timeout_sec=0.0)
    node_process.send(*signals)
    assert_quiet_exit(node_process)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_the_network_loads_exits_0_with_one_line(node_process, signum) -> None:
    node_process.wait_for_line(LOADING_LINE)
    node_process.send(signum, signum)
    assert_quiet_exit(node_process)
    output = node_process.output()
    assert "ready:" not in output, f"the signal came after start-up: this case tested nothing\n{output}"
    after_loading = output.split(LOADING_LINE, 1)[1].splitlines()[1:]
    assert len(after_loading) <= 1, output
    assert all(f"interrupted by {signum.name} during start-up" in line for line in after_loading), output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_python_imports_the_node_exits_quietly(stop: signal.Signals) -> None:
    """Before run_node: torch, OpenCV and rclpy load for seconds, and Ctrl-C may come then too."""
    environment = os.environ | {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    process = subprocess.Popen(
        NODE_COMMAND, cwd=REPO, env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    maps = Path(f"/proc/{process.pid}/maps")
    give_up = time.monotonic() + GUARD_S
    try:
        # libtorch mapped: the node module is being imported (the entry point set its handlers first).
        while "libtorch" not in (maps.read_text() if maps.exists() else ""):
            assert process.poll() is None and time.monotonic() < give_up, "the node never loaded torch"
            time.sleep(0.01)
        process.send_signal(stop)
        output, _ = process.communicate(timeout=GUARD_S)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output and "ready:" not in output
