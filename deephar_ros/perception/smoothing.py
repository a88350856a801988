"""One Euro filter (Casiez, Roussel, Vogel, CHI 2012) for joint positions; off by default.

A low-pass filter whose cutoff rises with speed: still joints stop jittering, fast moves keep
little lag. Every element of the array is filtered independently; NaN elements pass through and
restart their filter; time going backwards or standing still restarts it too.
"""

from __future__ import annotations

import math

import numpy as np

from deephar_ros.perception.results import seconds


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters successive arrays of one shape (e.g. (J, 2) pixels or (J, 3) metres)."""

    def __init__(
        self, min_cutoff_hz: float = 1.0, beta: float = 0.0, derivative_cutoff_hz: float = 1.0
    ) -> None:
        if min_cutoff_hz <= 0 or derivative_cutoff_hz <= 0 or beta < 0:
            raise ValueError("One Euro cutoffs must be positive and beta non-negative")
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.derivative_cutoff_hz = derivative_cutoff_hz
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.stamp_ns: int | None = None

    def __call__(self, x: np.ndarray, stamp_ns: int) -> np.ndarray:
        """Filter the array `x` observed at `stamp_ns` (integer nanoseconds)."""
        x = np.asarray(x, dtype=np.float64)
        if (
            self.value is None
            or self.value.shape != x.shape
            or self.stamp_ns is None
            or stamp_ns <= self.stamp_ns
        ):
            self.value, self.speed, self.stamp_ns = x.copy(), np.zeros_like(x), stamp_ns
            return x.copy()
        dt = seconds(stamp_ns - self.stamp_ns)
        self.stamp_ns = stamp_ns
        fresh = ~np.isfinite(self.value)
        speed = np.where(fresh, 0.0, (x - self.value) / dt)
        self.speed = self.speed + _alpha(self.derivative_cutoff_hz, dt) * (speed - self.speed)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self.speed)
        smoothed = self.value + _alpha(cutoff, dt) * (x - self.value)
        self.value = np.where(fresh, x, smoothed)
        self.speed = np.where(np.isfinite(self.value), self.speed, 0.0)
        return self.value.copy()
