"""The rate at which frames reach the pipeline, estimated from their header stamps.

The action branch samples a track's frames at a clip stride that the authors set for 30 fps video;
the pipeline rescales it to the rate it is told. On a robot that rate is not the camera's nominal
one but the rate of the frames the node actually processes (a busy network drops frames), so the
node measures it from the stamps of processed frames: the median interval, robust to a stall.
"""

from __future__ import annotations

import statistics


class FrameRateEstimator:
    """Median-interval frame rate of a stream of stamps, known once `intervals` intervals were seen."""

    def __init__(self, intervals: int = 10) -> None:
        if intervals < 1:
            raise ValueError(f"intervals must be >= 1, got {intervals}")
        self._needed = intervals
        self._intervals: list[float] = []
        self._last_stamp: float | None = None

    def add(self, stamp: float) -> float | None:
        """Offer one frame's stamp (seconds); the rate in Hz on the call that completes the estimate."""
        if len(self._intervals) >= self._needed:
            return None
        if self._last_stamp is not None and stamp > self._last_stamp:
            self._intervals.append(stamp - self._last_stamp)
        self._last_stamp = stamp
        if len(self._intervals) < self._needed:
            return None
        return 1.0 / statistics.median(self._intervals)

    def reset(self) -> None:
        """Start over (camera restart, time jump): the next stamps give a new estimate."""
        self._intervals.clear()
        self._last_stamp = None
