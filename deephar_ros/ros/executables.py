"""The entry points of the node executables: quiet on SIGINT/SIGTERM from their first instruction.

Importing a node module loads torch, OpenCV and rclpy: seconds during which Python's default
handlers would turn a Ctrl-C of `ros2 launch` into a KeyboardInterrupt traceback (SIGINT) or an
exit of -15 (SIGTERM). Here a stop signal before the node's own handling starts ends the process at
once with exit 0, as node_main.run_node does later (nothing is open yet that needs closing).
"""

from __future__ import annotations

import importlib
import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _run(module: str) -> int:
    """Import the node module with quiet stop signals, then hand over to its main (run_node)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_quietly)
    return importlib.import_module(module).main()


def perception_node() -> int:
    """`perception_node` (console script and lib/deephar_ros executable)."""
    return _run("deephar_ros.ros.perception_node")


def demo_source() -> int:
    """`demo_source` (console script and lib/deephar_ros executable)."""
    return _run("deephar_ros.ros.demo_source")
