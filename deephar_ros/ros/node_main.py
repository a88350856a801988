"""The one start-up and shutdown sequence shared by the package's node executables.

A node that cannot start logs one `start-up failed:` line and the process exits 1, so `ros2 launch`
reports it as died instead of hanging. From the moment run_node starts, SIGINT and SIGTERM end it
with exit 0 and no traceback, whenever they come and however many: Ctrl-C of `ros2 launch` sends
SIGINT to the whole process group, then launch sends its own SIGINT and later SIGTERM. (Before
run_node, while Python imports the node's modules, the default handlers still apply.)

- During start-up (rclpy.init, building the node: loading weights can take long) the first signal
  interrupts it; one `interrupted by SIGINT during start-up` info line is logged.
- While the node spins, rclpy's own handler shuts the context down, which ends the spin.
- During shutdown (destroy_node joining a worker thread, rclpy.try_shutdown) signals are only
  noted: a KeyboardInterrupt there would skip the rest of the shutdown and print a traceback, and a
  process that exits while its worker thread still runs the network aborts ("terminate called
  without an active exception", exit -6).

Exit 0, not 130 or 143: launch reports an exit of 0 as "finished cleanly" and any other as "died",
and rclcpp nodes also exit 0 on both signals. An external `rclpy.shutdown()` ends the node with 0 too.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Interrupted(BaseException):
    """A stop signal during start-up; a BaseException so the node's `except Exception` lets it through."""


class StopSignals:
    """SIGINT/SIGTERM for one node process: they interrupt the start-up, later they are only noted.

    Installed before rclpy.init, so rclpy's own handlers (which shut the context down) chain to it.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._interruptible = False
        self._previous: dict[int, Callable | int | None] = {}

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
        if self._interruptible:
            self._interruptible = False
            raise _Interrupted

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """The block, aborted with _Interrupted by a stop signal (one that came before it included)."""
        if self.received is not None:
            raise _Interrupted
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def uninstall(self) -> None:
        """Put the previous handlers back; once stopping, ignore both signals: the process is exiting,
        and launch's further signals must not end its last steps with a KeyboardInterrupt."""
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.received is not None else previous)


def run_node(
    name: str, make_node: Callable[[], Node], spin: Callable[[Node], None], args: list[str] | None
) -> int:
    """Init rclpy, build the node with `make_node`, run `spin(node)`; the process exit status."""
    stop = StopSignals()
    stop.install()
    try:
        return _run(name, make_node, spin, args, stop)
    finally:
        stop.uninstall()


def _run(
    name: str,
    make_node: Callable[[], Node],
    spin: Callable[[Node], None],
    args: list[str] | None,
    stop: StopSignals,
) -> int:
    logger = rclpy.logging.get_logger(name)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: Node | None = None
    try:
        # rclpy.spin and spin_once use this executor: made before a signal can shut the context down,
        # since making it afterwards raises, and its half-made parts print errors when collected.
        rclpy.get_global_executor()
        rclpy.install_signal_handlers(SignalHandlerOptions.ALL)
        try:
            with stop.interruptible():
                node = make_node()
        except _Interrupted:
            pass
        except Exception as error:  # any start-up failure is reported and ends the process
            if stop.received is None:
                logger.error(f"start-up failed: {type(error).__name__}: {error}")
                return 1
            # else: the signal shut the context down under make_node
        if stop.received is not None:  # always so when there is no node
            # Not the node's logger: that one publishes on /rosout too, through the context now shut down.
            rclpy.logging.get_logger(f"{name}.start_up").info(
                f"interrupted by {stop.received.name} during start-up"
            )
            return 0
        try:
            spin(node)
        except ExternalShutdownException:
            pass
        except Exception:
            if stop.received is None:
                raise
            # else: a callback or the executor met the context the signal shut down
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
