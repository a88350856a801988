"""The one start-up and shutdown sequence shared by the package's node executables.

A node that cannot start logs one `start-up failed:` line and the process exits 1, so `ros2 launch`
reports it as died instead of hanging; Ctrl-C and an external shutdown end it quietly with 0.
"""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(
    name: str, make_node: Callable[[], Node], spin: Callable[[Node], None], args: list[str] | None
) -> int:
    """Init rclpy, build the node with `make_node`, run `spin(node)`; the process exit status."""
    rclpy.init(args=args)
    try:
        node = make_node()
    except Exception as error:  # any start-up failure is reported and ends the process
        rclpy.logging.get_logger(name).error(f"start-up failed: {type(error).__name__}: {error}")
        rclpy.try_shutdown()
        return 1
    try:
        spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
