"""Put an irregular stack of parallel slices onto a regular, orthogonal grid.

Used for gantry-tilted stacks (slice origins drift in-plane) and for stacks with missing or
unevenly spaced slices. The output grid keeps the acquired in-plane grid and steps along the slice
normal, so nothing is resampled in-plane except the shift a tilt demands. Linear interpolation
between the two acquired slices that bracket each output plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.core import geometry


@dataclass(frozen=True)
class RegularGrid:
    """Where each output slice comes from: two source slices, their weights and in-plane shifts."""

    affine: NDArray[np.float64]
    lower: NDArray[np.intp]  # source slice below each output slice
    upper: NDArray[np.intp]  # source slice above (== lower where exact)
    weight: NDArray[np.float64]  # weight of ``upper`` (0..1)
    shift: NDArray[np.float64]  # (n_src, 2) in-plane (i, j) shift in voxels of each source slice

    @property
    def n_slices(self) -> int:
        """Number of output slices."""
        return int(self.lower.shape[0])


def plan_regular_grid(
    origins: NDArray[np.float64],
    iop: tuple[float, ...],
    pixel_spacing: tuple[float, float],
    step: float,
) -> RegularGrid:
    """Plan a regular grid through slices whose first-voxel centres are ``origins`` (n, 3).

    ``origins`` must be sorted by position along the normal. ``step`` is the output slice
    spacing in mm (positive).
    """
    if step <= 0:
        raise ValueError(f"step must be positive; got {step}")
    normal = geometry.slice_normal(iop)
    row, col = geometry.unit(iop[:3]), geometry.unit(iop[3:6])
    dist = (origins - origins[0]) @ normal
    n_out = int(np.floor(dist[-1] / step + 1e-6)) + 1
    target = np.arange(n_out) * step
    upper = np.clip(np.searchsorted(dist, target - 1e-6), 0, len(dist) - 1)
    lower = np.clip(upper - 1, 0, None)
    exact = np.isclose(dist[upper], target, atol=1e-4)
    lower = np.where(exact, upper, lower)
    gap = dist[upper] - dist[lower]
    weight = np.where(gap > 0, (target - dist[lower]) / np.where(gap > 0, gap, 1.0), 0.0)
    # Each source slice is shifted in-plane relative to slice 0 (non-zero only under tilt).
    offsets = origins - origins[0]
    shift = np.stack([offsets @ row / pixel_spacing[1], offsets @ col / pixel_spacing[0]], axis=1)
    affine = geometry.affine_from_dicom(iop, origins[0], pixel_spacing, normal * step)
    return RegularGrid(affine, lower.astype(np.intp), upper.astype(np.intp), weight, shift)


def shift_slice(img: NDArray[np.float32], di: float, dj: float, fill: float) -> NDArray[np.float32]:
    """Sample ``img`` at (i - di, j - dj) with bilinear interpolation, ``fill`` outside."""
    if abs(di) < 1e-6 and abs(dj) < 1e-6:
        return img
    rows, cols = img.shape
    jj = np.arange(rows, dtype=np.float32)[:, None] - np.float32(dj)
    ii = np.arange(cols, dtype=np.float32)[None, :] - np.float32(di)
    j0, i0 = np.floor(jj), np.floor(ii)
    fj, fi = jj - j0, ii - i0
    padded = np.pad(img, 1, constant_values=fill)
    j0i = np.clip(j0.astype(np.intp) + 1, 0, rows + 1)
    i0i = np.clip(i0.astype(np.intp) + 1, 0, cols + 1)
    j1i, i1i = np.clip(j0i + 1, 0, rows + 1), np.clip(i0i + 1, 0, cols + 1)
    top = padded[j0i, i0i] * (1 - fi) + padded[j0i, i1i] * fi
    bottom = padded[j1i, i0i] * (1 - fi) + padded[j1i, i1i] * fi
    return np.asarray(top * (1 - fj) + bottom * fj, dtype=np.float32)


def _shift(grid: RegularGrid, n: int) -> tuple[float, float]:
    return float(grid.shift[n, 0]), float(grid.shift[n, 1])


def resample_stack(
    stack: NDArray[np.generic], grid: RegularGrid, fill: float
) -> NDArray[np.float32]:
    """Resample acquired slices ``stack[n, rows, cols]`` onto ``grid``; ``fill`` where no data."""
    out = np.empty((grid.n_slices, *stack.shape[1:]), dtype=np.float32)
    for k in range(grid.n_slices):
        lo, hi, w = int(grid.lower[k]), int(grid.upper[k]), float(grid.weight[k])
        a = shift_slice(stack[lo].astype(np.float32), *_shift(grid, lo), fill)
        if hi == lo or w == 0.0:
            out[k] = a
            continue
        b = shift_slice(stack[hi].astype(np.float32), *_shift(grid, hi), fill)
        out[k] = a * (1.0 - w) + b * w
    return out
