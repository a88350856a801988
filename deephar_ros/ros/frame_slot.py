"""Hand-off of frames from the subscription callbacks to the inference worker.

LatestSlot holds at most one pending item: a newer frame replaces the waiting one (counted as
dropped by the caller), so the worker always runs on the newest frame and latency never grows
with load. ApproximateTimePairer pairs colour and depth frames by stamp.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")
Colour = TypeVar("Colour")
Depth = TypeVar("Depth")


class LatestSlot(Generic[Item]):
    """A one-item mailbox between threads where the newest put wins."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: Item | None = None
        self._closed = False

    def put(self, item: Item) -> bool:
        """Store item for the worker; True when it replaced one the worker had not taken yet."""
        with self._condition:
            replaced = self._item is not None
            self._item = item
            self._condition.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Item | None:
        """Wait for an item and remove it; None on timeout or once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def pending(self) -> int:
        """How many items wait (0 or 1)."""
        with self._condition:
            return int(self._item is not None)

    @property
    def closed(self) -> bool:
        """True once close() was called: tells a take() that timed out from one that ended."""
        with self._condition:
            return self._closed

    def close(self) -> None:
        """Wake the worker for good: every later take() returns None."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


class ApproximateTimePairer(Generic[Colour, Depth]):
    """Pairs each colour frame with the depth frame nearest in stamp, within slop seconds.

    message_filters' ApproximateTimeSynchronizer does this on a full ROS install, but it is not
    on PyPI, so the node uses this small equivalent where message_filters cannot be imported.
    Unlike it, this pairer keeps only the newest unpaired colour frame (the node wants the
    newest frame, not every one) and reports every colour frame it gives up on, so the node
    can count and warn instead of dropping silently.
    """

    def __init__(self, slop: float, depth_queue: int = 10) -> None:
        if slop < 0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if depth_queue < 1:
            raise ValueError(f"depth_queue must be >= 1, got {depth_queue}")
        self._slop = slop
        self._lock = threading.Lock()
        self._depths: deque[tuple[float, Depth]] = deque(maxlen=depth_queue)
        self._waiting: tuple[float, Colour] | None = None

    def add_colour(self, stamp: float, colour: Colour) -> tuple[tuple[Colour, Depth] | None, int]:
        """Offer a colour frame: (the pair if one is complete, number of colour frames given up)."""
        with self._lock:
            dropped = int(self._waiting is not None)
            self._waiting = (stamp, colour)
            return self._try_pair(), dropped

    def add_depth(self, stamp: float, depth: Depth) -> tuple[Colour, Depth] | None:
        """Offer a depth frame: the pair if it completes the waiting colour frame."""
        with self._lock:
            self._depths.append((stamp, depth))
            return self._try_pair()

    def _try_pair(self) -> tuple[Colour, Depth] | None:
        if self._waiting is None or not self._depths:
            return None
        stamp, colour = self._waiting
        depth_stamp, depth = min(self._depths, key=lambda entry: abs(entry[0] - stamp))
        if abs(depth_stamp - stamp) > self._slop:
            return None
        self._waiting = None
        return colour, depth
