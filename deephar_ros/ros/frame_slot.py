"""Hand-off of frames from the subscription callbacks to the inference worker.

LatestSlot holds at most one pending item: a newer frame replaces the waiting one (counted as
dropped by the caller), so the worker always runs on the newest frame and latency never grows
with load. ApproximateTimePairer pairs colour and depth frames by stamp.
"""

from __future__ import annotations

import bisect
import itertools
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
    """Pairs each colour frame with the depth frame of nearest stamp, within slop seconds.

    message_filters' ApproximateTimeSynchronizer does this on a full ROS install, but it is not
    on PyPI, so the node uses this small equivalent where message_filters cannot be imported (and
    for another detector's boxes, paired by exact stamp). Both streams wait in short queues
    (queue_size frames each), so a depth frame a few frames late, or early, still meets its own
    colour frame; depth frames are kept in stamp order whatever order they arrive in (a detector
    with several threads may publish frame 2's boxes before frame 1's).

    A colour frame is paired once no later depth frame can be nearer to it: a depth stamped at or
    after it has arrived, or the newest depth is nearer than the next can be (half the shortest
    depth interval seen). It is given up, and counted so the node can warn instead of dropping
    silently, when its depth was pushed out of its queue, when it is pushed out of its own queue
    undecided, or when more than `reorder` depth frames stamped after it (beyond slop) have come
    without one within slop (reorder 0: the depth stream arrives in order, as a camera's does).
    Frames are decided oldest first and every pair completed is answered, in stamp order: the
    node hands them to its one-frame slot, which keeps the newest when the worker is busy.
    Colour stamps going back (a bag loops) start a new timeline: the waiting frames are given up.
    """

    def __init__(self, slop: float, queue_size: int = 5, reorder: int = 0) -> None:
        if slop < 0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not 0 <= reorder < queue_size:
            raise ValueError(f"reorder must be in [0, queue_size), got {reorder}")
        self._slop = slop
        self._queue_size = queue_size
        self._reorder = reorder
        self._lock = threading.Lock()
        self._colours: deque[tuple[float, Colour]] = deque()
        self._depths: list[tuple[float, Depth]] = []  # in stamp order
        self._lost_depth: float | None = None  # stamp of the newest depth pushed out of its queue
        self._newest_colour: float | None = None
        self._given_up = 0

    def add_colour(self, stamp: float, colour: Colour) -> tuple[list[tuple[Colour, Depth]], int]:
        """Offer a colour frame: (the pairs completed, colour frames given up since the last call).

        The count includes frames given up during add_depth calls since the previous add_colour.
        """
        with self._lock:
            if self._newest_colour is not None and stamp < self._newest_colour:
                self._start_colour_timeline(stamp)
            self._newest_colour = stamp
            self._colours.append((stamp, colour))
            if len(self._colours) > self._queue_size:
                self._colours.popleft()
                self._given_up += 1
            pairs = self._settle()
            given_up, self._given_up = self._given_up, 0
            return pairs, given_up

    def add_depth(self, stamp: float, depth: Depth) -> list[tuple[Colour, Depth]]:
        """Offer a depth frame: the pairs it completes, oldest first."""
        with self._lock:
            bisect.insort(self._depths, (stamp, depth), key=lambda entry: entry[0])
            if len(self._depths) > self._queue_size:
                lost = self._depths.pop(0)[0]
                self._lost_depth = lost if self._lost_depth is None else max(self._lost_depth, lost)
            return self._settle()

    def _start_colour_timeline(self, stamp: float) -> None:
        """Colour stamps went back to stamp: give up the waiting frames and drop the depth frames
        too late for it (the old timeline's; the new one's come again or are already in)."""
        self._given_up += len(self._colours)
        self._colours.clear()
        self._depths = [entry for entry in self._depths if entry[0] <= stamp + self._slop]
        if self._lost_depth is not None and self._lost_depth > stamp + self._slop:
            self._lost_depth = None

    def _settle(self) -> list[tuple[Colour, Depth]]:
        """Decide the waiting colour frames, oldest first, while each can be; the pairs made."""
        pairs = []
        while self._colours:
            stamp, colour = self._colours[0]
            decided, depth = self._depth_for(stamp)
            if not decided:
                break
            self._colours.popleft()
            if depth is None:
                self._given_up += 1
            else:
                pairs.append((colour, depth[1]))
        return pairs

    def _depth_for(self, stamp: float) -> tuple[bool, tuple[float, Depth] | None]:
        """(decided, the depth entry to pair or None for none) for a colour frame stamped stamp."""
        if not self._depths:
            return False, None
        nearest = min(self._depths, key=lambda entry: abs(entry[0] - stamp))
        distance = abs(nearest[0] - stamp)
        if self._lost_depth is not None and abs(self._lost_depth - stamp) < distance:
            return True, None  # its own depth is gone: any other would be another frame's
        if distance <= self._slop:
            newest_stamp = self._depths[-1][0]
            if newest_stamp < stamp and stamp - newest_stamp >= self._shortest_depth_interval() / 2:
                return False, None  # a later depth may be nearer
            return True, nearest
        later = sum(1 for depth_stamp, _ in self._depths if depth_stamp > stamp + self._slop)
        return later > self._reorder, None

    def _shortest_depth_interval(self) -> float:
        """The shortest stamp interval between queued depth frames; 0 with fewer than two."""
        stamps = [stamp for stamp, _ in self._depths]
        return min((later - earlier for earlier, later in itertools.pairwise(stamps)), default=0.0)
