"""Counters and timings of the perception node, reported as diagnostic_msgs/DiagnosticArray.

The counters are kept here, apart from the node, so the worker thread and the callbacks can
update them under one lock and tests (and the fault-injection suite) can read them directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

# How far back rates and latency percentiles look.
WINDOW_SECONDS = 10.0
LATENCY_SAMPLES = 200
_STATM = Path("/proc/self/statm")


def process_rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc), NaN where /proc is not there."""
    try:
        resident_pages = int(_STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PerceptionStats:
    """Thread-safe counts of frames in, processed, dropped and refused, and processing latency.

    Every image received ends in exactly one of processed, dropped (replaced by a newer one),
    failed (the pipeline raised) or a bad_input reason of its own, or is still pending. Lost frames
    never arrived: the camera sent them (gaps in the stamps say so) but the network lost them. Conditions
    count frames that were processed despite something odd (no camera_info, stamp going back).
    Settings are values the node chose at run time (back end, measured frame rate, clip stride).
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._input_times: deque[float] = deque()
        self._processed_times: deque[float] = deque()
        self._latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.failed = 0
        self.lost = 0
        self.bad_input: Counter[str] = Counter()
        self.conditions: Counter[str] = Counter()
        self.backend = "unknown"
        self.device = "unknown"
        self._settings: dict[str, float | int | str] = {}

    def set_setting(self, name: str, value: float | int | str) -> None:
        """Report a value the node chose at run time under name (replaces the previous one)."""
        with self._lock:
            self._settings[name] = value

    def frame_received(self) -> None:
        with self._lock:
            self.received += 1
            now = self._clock()
            self._input_times.append(now)
            _forget_before(self._input_times, now - WINDOW_SECONDS)

    def frames_lost(self, count: int) -> None:
        """Count frames the camera sent that never arrived (perception.frame_rate.LostFrameCounter)."""
        with self._lock:
            self.lost += count

    def frame_dropped(self, count: int = 1) -> None:
        with self._lock:
            self.dropped += count

    def bad(self, reason: str) -> int:
        """Count one refused input under a short reason key (e.g. 'image'); the count so far."""
        with self._lock:
            self.bad_input[reason] += 1
            return self.bad_input[reason]

    def condition(self, reason: str) -> int:
        """Count one frame processed despite something odd, under a short reason key; the count so far."""
        with self._lock:
            self.conditions[reason] += 1
            return self.conditions[reason]

    def counts(self) -> dict[str, int]:
        """Every bad-input and condition count under its diagnostics key, copied under the lock."""
        with self._lock:
            return {f"bad_input.{reason}": count for reason, count in self.bad_input.items()} | {
                f"condition.{reason}": count for reason, count in self.conditions.items()
            }

    def frame_failed(self) -> int:
        """The pipeline raised on a frame that passed validation; the count so far."""
        with self._lock:
            self.failed += 1
            return self.failed

    def frame_processed(self, latency_ms: float) -> None:
        with self._lock:
            self.processed += 1
            now = self._clock()
            self._processed_times.append(now)
            _forget_before(self._processed_times, now - WINDOW_SECONDS)
            self._latencies_ms.append(latency_ms)

    def snapshot(self) -> dict[str, float | int | str]:
        """Every reported value by name, rates over the last WINDOW_SECONDS."""
        with self._lock:
            now = self._clock()
            input_rate = _rate(self._input_times, now)
            processed_rate = _rate(self._processed_times, now)
            latencies = np.asarray(self._latencies_ms, dtype=np.float64)
            values: dict[str, float | int | str] = {
                "backend": self.backend,
                "device": self.device,
                "frames_received": self.received,
                "frames_processed": self.processed,
                "frames_dropped": self.dropped,
                "frames_failed": self.failed,
                "frames_lost": self.lost,
                "bad_input_total": sum(self.bad_input.values()),
                "input_rate_hz": input_rate,
                "processed_rate_hz": processed_rate,
                "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
                "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
                "memory_rss_mb": process_rss_mb(),
            } | dict(sorted(self._settings.items()))
        return values | dict(sorted(self.counts().items()))


def _forget_before(times: deque[float], oldest: float) -> None:
    """Drop the times older than oldest, so a window stays bounded however rarely it is read."""
    while times and times[0] < oldest:
        times.popleft()


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the window."""
    _forget_before(times, now - WINDOW_SECONDS)
    if len(times) < 2:
        return 0.0
    span = max(now - times[0], 1e-9)
    return (len(times) - 1) / span


def diagnostic_array(
    stats: PerceptionStats, header: Header, name: str, warnings: list[str]
) -> DiagnosticArray:
    """One DiagnosticStatus for the node: WARN with the reasons when warnings is not empty."""
    values = stats.snapshot()
    status = DiagnosticStatus(
        level=DiagnosticStatus.WARN if warnings else DiagnosticStatus.OK,
        name=name,
        message="; ".join(warnings) if warnings else "running",
        hardware_id=f"{values['backend']}:{values['device']}",
        values=[KeyValue(key=key, value=_format(value)) for key, value in values.items()],
    )
    return DiagnosticArray(header=header, status=[status])


def _format(value: float | int | str) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
