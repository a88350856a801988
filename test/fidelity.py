"""How the tests judge that two runs of the network agree: at the scale of each output tensor.

A value is a miss when |ours - ref| > atol + rtol * max|ref|, with max|ref| taken over the whole
output it belongs to. Why not per value (atol + rtol * |ref|): a reduction (convolution, BN,
soft-argmax) carries the rounding error of its whole input, whose size is the tensor's scale, not
the size of the one result. x86 kernels differ from CPU to CPU (AVX-512 on AMD Zen 5, AMX on Intel
Xeon, oneDNN and ONNX Runtime pick per machine), so a feature near zero can be off by 1e-4 against
a reference of 2e-2 on one machine and not on another, while the tensor's values reach ~1. At
1e-4 + 1e-3 max|ref| (about 1e-3 for crop-normalised poses in [0, 1]) every deliberately broken
mapping in test_spnet_fidelity.py still misses by far more than the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ATOL = 1e-4
RTOL = 1e-3


@dataclass(frozen=True)
class Agreement:
    """How one output compares with its reference, at the tensor's scale."""

    tolerance: float  # atol + rtol * max|ref|
    misses: int  # values off by more than the tolerance
    size: int
    worst_index: tuple[int, ...]
    worst_difference: float
    worst_reference: float

    @property
    def excess(self) -> float:
        """Largest difference beyond the tolerance: <= 0 when every value agrees."""
        return self.worst_difference - self.tolerance

    def describe(self, name: str) -> str:
        return (
            f"{name}: {self.misses} of {self.size} values off by more than {self.tolerance:.3g} "
            f"(worst {self.worst_difference:.3g} at {self.worst_index}, reference {self.worst_reference:.4g})"
        )


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values)


def agreement(
    ours: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> Agreement:
    """Compare `ours` with `reference` value by value, at the scale of the reference tensor."""
    ours, reference = _as_array(ours), _as_array(reference)
    if ours.shape != reference.shape:
        raise ValueError(f"shape {ours.shape} differs from the reference's {reference.shape}")
    if not np.isfinite(reference).all():
        raise ValueError("the reference holds non-finite values")
    difference = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    difference[~np.isfinite(difference)] = np.inf  # NaN in ours is a miss, never a pass
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    tolerance = atol + rtol * scale
    if not reference.size:
        return Agreement(tolerance, 0, 0, (), 0.0, 0.0)
    worst = np.unravel_index(int(np.argmax(difference)), difference.shape)
    return Agreement(
        tolerance=tolerance,
        misses=int((difference > tolerance).sum()),
        size=int(reference.size),
        worst_index=tuple(int(i) for i in worst),
        worst_difference=float(difference[worst]),
        worst_reference=float(reference[worst]),
    )


def assert_agrees(
    ours: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    name: str = "output",
    atol: float = ATOL,
    rtol: float = RTOL,
) -> None:
    """Fail naming how many values of `name` miss, and the worst one."""
    result = agreement(ours, reference, atol, rtol)
    assert result.misses == 0, result.describe(name)
