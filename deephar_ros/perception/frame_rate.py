"""Rates read from stamps: the rate at which frames reach the pipeline, and the frames lost on the way.

The action branch samples a track's frames at a clip stride that the authors set for 30 fps video;
the pipeline rescales it to the rate it is told. On a robot that rate is not the camera's nominal
one but the rate of the frames the node actually processes (a busy network drops frames, a camera
driver changes mode), so the live stream measures it from the stamps of processed frames, again
and again: the median of the last intervals, robust to a stall.
"""

from __future__ import annotations

import statistics
from collections import deque

from deephar_ros.perception.results import seconds


class FrameRateEstimator:
    """Median frame rate over the last `intervals` intervals, given anew every `intervals` frames."""

    def __init__(self, intervals: int = 10) -> None:
        if intervals < 1:
            raise ValueError(f"intervals must be >= 1, got {intervals}")
        self._needed = intervals
        self._intervals_ns: deque[int] = deque(maxlen=intervals)
        self._since_estimate = 0
        self._last_stamp_ns: int | None = None

    def add(self, stamp_ns: int) -> float | None:
        """Offer one frame's stamp (nanoseconds); the rate in Hz on each call that completes an estimate."""
        if self._last_stamp_ns is not None and stamp_ns > self._last_stamp_ns:
            self._intervals_ns.append(stamp_ns - self._last_stamp_ns)
            self._since_estimate += 1
        self._last_stamp_ns = stamp_ns
        if len(self._intervals_ns) < self._needed or self._since_estimate < self._needed:
            return None
        self._since_estimate = 0
        return 1.0 / seconds(statistics.median(self._intervals_ns))

    def reset(self) -> None:
        """Start over (camera restart, time jump): the next stamps give a new estimate."""
        self._intervals_ns.clear()
        self._since_estimate = 0
        self._last_stamp_ns = None


class LostFrameCounter:
    """Frames a camera sent but that never arrived, inferred from gaps in the stamps that did.

    With best-effort QoS a large image lost on the wire leaves no trace but a longer interval
    between the stamps of the images that arrive. The camera's interval is learnt from the last
    `intervals` ones, every interval kept, gaps too: starting from the second shortest, it is the
    median of the intervals under 1.5 times it, taken again until it settles (a jittery camera's
    short intervals do not pull it down). An interval of k such intervals (k >= 1.5, rounded) means
    k - 1 frames lost. Under heavy loss most intervals are gaps, so a median over them all takes a gap
    for the camera's interval and undercounts (~8x at 7 frames lost in 8); the camera's own interval
    still shows among the shortest. Nothing is counted until `intervals` intervals were seen; then
    the gaps among those are counted too. Stamps going backwards or repeating start over. Only a
    rate-regular camera can be judged this way.
    """

    SETTLE_STEPS = 8

    def __init__(self, intervals: int = 30) -> None:
        if intervals < 1:
            raise ValueError(f"intervals must be >= 1, got {intervals}")
        self._intervals_ns: deque[int] = deque(maxlen=intervals)
        self._last_stamp_ns: int | None = None
        self.lost = 0

    def camera_interval_ns(self) -> float | None:
        """The camera's interval as the shortest intervals seen tell it; None until enough were seen."""
        if len(self._intervals_ns) < self._intervals_ns.maxlen:
            return None
        ordered = sorted(self._intervals_ns)
        camera = float(ordered[min(1, len(ordered) - 1)])  # the second shortest: one stray stamp is no rate
        for _ in range(self.SETTLE_STEPS):
            settled = float(statistics.median(interval for interval in ordered if interval < 1.5 * camera))
            if settled == camera:
                break
            camera = settled
        return camera

    def add(self, stamp_ns: int) -> int:
        """Offer the stamp of a frame that arrived; the frames lost just before it (also added to `lost`)."""
        last, self._last_stamp_ns = self._last_stamp_ns, stamp_ns
        if last is None or stamp_ns <= last:
            if last is not None:
                self._intervals_ns.clear()
            return 0
        interval = stamp_ns - last
        camera = self.camera_interval_ns()
        self._intervals_ns.append(interval)
        if camera is None:
            camera = self.camera_interval_ns()
            if camera is None:
                return 0
            seen = list(self._intervals_ns)  # just learnt: the gaps among the first intervals count too
        else:
            seen = [interval]
        missing = sum(round(gap / camera) - 1 for gap in seen if gap >= 1.5 * camera)
        self.lost += missing
        return missing
