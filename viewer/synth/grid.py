"""The voxel grid placed in an anatomical frame, and smooth random fields defined in millimetres.

Anatomy is described in the frame (u, v, w) mm: u to the patient's left, v posterior, w superior,
with the origin at the apex of the right hemidiaphragm on the body's midline. Everything is drawn
in that frame, so the same seed gives the same anatomy on any grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
Vec3 = tuple[float, float, float]

# Mean of sum(w_k^2) over positions for cubic B-spline weights (B7 at 0 = 2416 / 5040): used so
# interpolated white noise has a standard deviation of about one.
_BSPLINE_POWER = 2416.0 / 5040.0


@dataclass(frozen=True)
class Frame:
    """A (z, y, x) grid in the anatomical frame.

    Parameters
    ----------
    shape, spacing
        Grid size and voxel spacing in mm, both (z, y, x).
    origin
        Grid (x, y, z) mm coordinates of the anatomical origin.
    """

    shape: tuple[int, int, int]
    spacing: Vec3
    origin: Vec3

    @cached_property
    def _axes(self) -> tuple[F32, F32, F32]:
        """Shared, read-only coordinate vectors (w, v, u): computed once, used on every slice."""
        w, v, u = (np.arange(n, dtype=np.float32) * np.float32(s) - np.float32(o)
                   for n, s, o in zip(self.shape, self.spacing, self.origin[::-1], strict=True))
        for a in (w, v, u):
            a.flags.writeable = False
        return w, v, u

    def axis(self, k: int) -> F32:
        """Anatomical coordinates along grid axis ``k`` (0: w, 1: v, 2: u) of every voxel centre."""
        return self._axes[k]

    def index(self, uvw: Vec3) -> tuple[int, int, int]:
        """Nearest voxel (z, y, x) of an anatomical point, possibly outside the grid."""
        u, v, w = uvw
        return (round((w + self.origin[2]) / self.spacing[0]),
                round((v + self.origin[1]) / self.spacing[1]),
                round((u + self.origin[0]) / self.spacing[2]))

    def contains(self, idx: tuple[int, int, int]) -> bool:
        """Whether a voxel index lies inside the grid."""
        return all(0 <= i < n for i, n in zip(idx, self.shape, strict=True))

    def box(self, lo_uvw: Vec3, hi_uvw: Vec3) -> tuple[slice, slice, slice] | None:
        """Index slices (z, y, x) of the voxels inside an anatomical box; None if it misses."""
        out = []
        for k, lo, hi in ((0, lo_uvw[2], hi_uvw[2]), (1, lo_uvw[1], hi_uvw[1]), (2, lo_uvw[0], hi_uvw[0])):
            off, step = self.origin[2 - k], self.spacing[k]
            a = max(int(np.ceil((lo + off) / step)), 0)
            b = min(int(np.floor((hi + off) / step)) + 1, self.shape[k])
            if a >= b:
                return None
            out.append(slice(a, b))
        return out[0], out[1], out[2]

    def lookup(self, volume: NDArray[np.uint8], uvw: NDArray[np.float64]) -> NDArray[np.uint8]:
        """Values of ``volume`` at the voxels nearest to points (n, 3) (u, v, w); 0 off the grid."""
        idx = np.rint((uvw[:, ::-1] + np.array(self.origin[::-1])) / np.array(self.spacing)).astype(np.intp)
        ok = np.all((idx >= 0) & (idx < np.array(self.shape)), axis=1)
        out = np.zeros(len(uvw), dtype=volume.dtype)
        out[ok] = volume[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
        return out

    def bounds(self, volume: NDArray[np.uint8],
               code: int) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Anatomical (u, v, w) bounding box of the voxels of ``volume`` equal to ``code``; None if none."""
        mask = volume == code
        zs = np.flatnonzero(mask.any(axis=(1, 2)))
        if len(zs) == 0:
            return None
        mask = mask[zs[0]:zs[-1] + 1]
        ys, xs = np.flatnonzero(mask.any(axis=(0, 2))), np.flatnonzero(mask.any(axis=(0, 1)))
        lo = np.array([self.axis(2)[xs[0]], self.axis(1)[ys[0]], self.axis(0)[zs[0]]], dtype=np.float64)
        hi = np.array([self.axis(2)[xs[-1]], self.axis(1)[ys[-1]], self.axis(0)[zs[-1]]], dtype=np.float64)
        return lo, hi


def bspline_weights(t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cubic B-spline weights (N, 4) for fractional positions ``t`` in [0, 1)."""
    t2, t3 = t * t, t * t * t
    return np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], axis=1) / 6.0


class Lattice:
    """Smooth Gaussian noise (SD about 1): white noise on a coarse mm lattice, B-spline interpolated.

    The lattice covers a fixed anatomical box whatever the grid, so a seed gives the same field on
    every grid; outside the box the edge values continue.
    """

    def __init__(self, rng: np.random.Generator, cell_mm: float,
                 half_extent_mm: Vec3 = (320.0, 320.0, 420.0)) -> None:
        self.cell = cell_mm
        self.half = half_extent_mm
        n = [int(np.ceil(2 * h / cell_mm)) + 4 for h in half_extent_mm[::-1]]  # (w, v, u) + margin
        gain = np.float32(_BSPLINE_POWER ** -1.5)
        self.values = rng.standard_normal((n[0], n[1], n[2]), dtype=np.float32) * gain

    def _taps(self, coords: NDArray[np.float32], axis: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Lattice indices (N, 4) and weights (N, 4) for anatomical coordinates along ``axis``."""
        n = self.values.shape[axis]
        pos = (coords.astype(np.float64) + self.half[2 - axis]) / self.cell + 1.0
        pos = np.clip(pos, 1.0, n - 3.0 - 1e-6)
        base = np.floor(pos)
        idx = base.astype(np.intp)[:, None] - 1 + np.arange(4)[None, :]
        return idx, bspline_weights(pos - base)

    def plane(self, w: float) -> F32:
        """The lattice interpolated along w at level ``w``: a (v, u) lattice plane."""
        idx, wts = self._taps(np.array([w], dtype=np.float32), 0)
        out: F32 = self.values[idx[0, 0]] * np.float32(wts[0, 0])
        for k in range(1, 4):
            out += self.values[idx[0, k]] * np.float32(wts[0, k])
        return out


def _interp(data: F32, idx: NDArray[np.intp], wts: NDArray[np.float32], axis: int) -> F32:
    """Apply 4-tap interpolation (``idx``, ``wts`` of shape (N, 4)) along ``axis`` of ``data``.

    Gathers and multiply-adds rather than a dense matrix product: as fast, and free of BLAS
    threading (which made small products erratically slow here and may change the last bits).
    """
    shape = [1] * data.ndim
    shape[axis] = len(idx)
    out = np.take(data, idx[:, 0], axis=axis) * wts[:, 0].reshape(shape)
    for k in range(1, 4):
        out += np.take(data, idx[:, k], axis=axis) * wts[:, k].reshape(shape)
    return out


class SliceField:
    """A :class:`Lattice` evaluated on the axial slices of a frame."""

    def __init__(self, lattice: Lattice, frame: Frame) -> None:
        self.lattice = lattice
        iy, wy = lattice._taps(frame.axis(1), 1)
        ix, wx = lattice._taps(frame.axis(2), 2)
        self.taps_y, self.taps_x = (iy, wy.astype(np.float32)), (ix, wx.astype(np.float32))

    def at(self, w: float, rows: slice = slice(None), cols: slice = slice(None)) -> F32:
        """Field values on the slice at level ``w`` (optionally a window of it)."""
        plane = self.lattice.plane(w)
        along_x = _interp(plane, self.taps_x[0][cols], self.taps_x[1][cols], axis=1)
        return _interp(along_x, self.taps_y[0][rows], self.taps_y[1][rows], axis=0)


