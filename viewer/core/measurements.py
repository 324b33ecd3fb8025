"""Lesion measurements from a voxel mask on an axial grid: RECIST long/short axis and volume.

The long axis is the longest in-plane (Feret) diameter on the axial slice where the lesion's area
is largest; the short axis is the longest chord perpendicular to it on the same slice. Both are
measured edge to edge like a caliper: between the outer edges of the extreme voxels, i.e. the
distance between voxel centres plus one voxel along the direction measured. Spacing is (z, y, x)
in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Recist:
    """RECIST axes of one lesion, with endpoints as (z, y, x) voxel coordinates."""

    slice_index: int
    long_axis_mm: float
    short_axis_mm: float
    long_axis_ends: tuple[tuple[float, float, float], tuple[float, float, float]]
    short_axis_ends: tuple[tuple[float, float, float], tuple[float, float, float]]


def volume_ml(mask: NDArray[np.bool_], spacing: tuple[float, float, float]) -> float:
    """Volume of a voxel mask in millilitres."""
    return float(np.count_nonzero(mask)) * float(np.prod(spacing)) / 1000.0


def _hull(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Convex hull (Andrew's monotone chain) of 2-D points."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts

    def turns_left(o: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])) > 0

    def half(seq: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        chain: list[NDArray[np.float64]] = []
        for p in seq:
            while len(chain) >= 2 and not turns_left(chain[-2], chain[-1], p):
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _feret(points_mm: NDArray[np.float64]) -> tuple[float, int, int]:
    hull = _hull(points_mm)
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    ia = int(np.flatnonzero((points_mm == hull[a]).all(axis=1))[0])
    ib = int(np.flatnonzero((points_mm == hull[b]).all(axis=1))[0])
    return float(d[a, b]), ia, ib


def _short_axis(pts: NDArray[np.float64], axis: NDArray[np.float64],
                pixel: float) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Longest chord perpendicular to ``axis``: the widest extent across it among voxel centres in
    a one-pixel-wide band, the band slid along the axis a quarter pixel at a time."""
    perp = np.array([-axis[1], axis[0]])
    along, across = pts @ axis, pts @ perp
    best, ends = 0.0, (pts[0], pts[0])
    for centre in np.arange(along.min(), along.max() + pixel / 4, pixel / 4):
        band = np.abs(along - centre) <= pixel / 2
        if band.sum() < 2:
            continue
        idx = np.flatnonzero(band)
        lo, hi = idx[np.argmin(across[idx])], idx[np.argmax(across[idx])]
        if across[hi] - across[lo] > best:
            best, ends = float(across[hi] - across[lo]), (pts[lo], pts[hi])
    return best, ends[0], ends[1]


def recist(mask: NDArray[np.bool_], spacing: tuple[float, float, float]) -> Recist | None:
    """RECIST axes of a 3-D mask ``[z, y, x]``; None for an empty mask."""
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1)
    if areas.max() == 0:
        return None
    k = int(np.argmax(areas))
    jj, ii = np.nonzero(mask[k])
    sy, sx = spacing[1], spacing[2]
    pts = np.stack([ii * sx, jj * sy], axis=1).astype(np.float64)
    if len(pts) == 1:  # one voxel: edge to edge it is one voxel across
        c = (float(k), float(jj[0]), float(ii[0]))
        across_x = ((c[0], c[1], c[2] - 0.5), (c[0], c[1], c[2] + 0.5))
        across_y = ((c[0], c[1] - 0.5, c[2]), (c[0], c[1] + 0.5, c[2]))
        (wide, wide_mm), (narrow, narrow_mm) = sorted([(across_x, sx), (across_y, sy)], key=lambda e: -e[1])
        return Recist(k, wide_mm, narrow_mm, wide, narrow)
    long_mm, a, b = _feret(pts)
    axis = (pts[b] - pts[a]) / max(long_mm, 1e-9) if long_mm > 0 else np.array([1.0, 0.0])
    short_mm, s0, s1 = _short_axis(pts, axis, min(sx, sy))
    long_ends = _edge_to_edge(pts[a], pts[b], axis, sx, sy)
    perp = np.array([-axis[1], axis[0]])
    short_dir = perp if float((s1 - s0) @ perp) >= 0 else -perp
    short_ends = _edge_to_edge(s0, s1, short_dir, sx, sy)

    def zyx(p: NDArray[np.float64]) -> tuple[float, float, float]:
        return float(k), float(p[1] / sy), float(p[0] / sx)

    long_len = float(np.linalg.norm(long_ends[1] - long_ends[0]))
    short_len = min(float(np.linalg.norm(short_ends[1] - short_ends[0])), long_len)  # by definition
    return Recist(k, long_len, short_len,
                  (zyx(long_ends[0]), zyx(long_ends[1])), (zyx(short_ends[0]), zyx(short_ends[1])))


def _edge_to_edge(p0: NDArray[np.float64], p1: NDArray[np.float64], direction: NDArray[np.float64],
                  sx: float, sy: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move two voxel-centre endpoints half a voxel outward along ``direction`` (x, y in mm)."""
    half = 0.5 / float(np.hypot(direction[0] / sx, direction[1] / sy))
    return p0 - direction * half, p1 + direction * half


def max_diameter_mm(points_mm: NDArray[np.float64], limit: int = 3000) -> float:
    """Largest distance between any two of the points (a subsample when there are many)."""
    if len(points_mm) < 2:
        return 0.0
    if len(points_mm) > limit:
        points_mm = points_mm[np.linspace(0, len(points_mm) - 1, limit).astype(int)]
    best = 0.0
    for start in range(0, len(points_mm), 500):
        block = points_mm[start:start + 500]
        d = np.linalg.norm(block[:, None, :] - points_mm[None, :, :], axis=-1)
        best = max(best, float(d.max()))
    return best
