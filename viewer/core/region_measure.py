"""Measure a finding's region in patient space, whatever the acquisition plane.

RECIST is defined on axial slices. For an axial acquisition the region is measured on its own
grid; otherwise it is first resampled (nearest neighbour) onto an axial LPS-aligned grid with the
acquisition's finest spacing, so a sagittal or oblique series is measured the same way.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from viewer.core.findings import Measurements, RegionMask
from viewer.core.measurements import max_diameter_mm, recist, volume_ml
from viewer.core.volume import Volume

AXIAL_TOLERANCE = 0.999  # |cos| between the volume's axes and L, P, S for "already axial"


def _is_axial(volume: Volume) -> bool:
    d = volume.direction
    return bool(abs(d[0, 0]) > AXIAL_TOLERANCE and abs(d[1, 1]) > AXIAL_TOLERANCE and abs(d[2, 2]) > AXIAL_TOLERANCE)


def _axial_grid(region: RegionMask, volume: Volume) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """The region on an axial LPS grid: (mask[z, y, x], affine (x, y, z, 1) -> LPS)."""
    if _is_axial(volume):
        affine = volume.affine.copy()
        affine[:3, 3] = volume.index_to_lps(np.array(region.offset[::-1], dtype=float))
        return _to_lps_order(region.mask, affine)
    step = min(volume.spacing)
    corners = region.voxels()[:, ::-1].astype(float)  # (i, j, k)
    lps = volume.index_to_lps(corners)
    lo, hi = lps.min(axis=0) - step, lps.max(axis=0) + step
    counts = np.floor((hi - lo) / step).astype(int) + 1
    affine = np.diag([step, step, step, 1.0])
    affine[:3, 3] = lo
    z, y, x = np.meshgrid(*[np.arange(n) for n in counts[::-1]], indexing="ij")
    points = np.stack([x, y, z], axis=-1).reshape(-1, 3) * step + lo
    src = np.rint(volume.lps_to_index(points)).astype(int)[:, ::-1] - np.array(region.offset)
    inside = np.all((src >= 0) & (src < np.array(region.mask.shape)), axis=1)
    values = np.zeros(len(points), dtype=bool)
    values[inside] = region.mask[tuple(src[inside].T)]
    return values.reshape(tuple(counts[::-1])), affine


def _to_lps_order(mask: NDArray[np.bool_], affine: NDArray[np.float64]) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Flip axes that run against L, P or S so that index order follows LPS."""
    affine = affine.copy()
    for axis in range(3):  # axis in (i, j, k) order; mask axes are (k, j, i)
        if affine[axis, axis] < 0:
            n = mask.shape[2 - axis]
            affine[:3, 3] += affine[:3, axis] * (n - 1)
            affine[:3, axis] *= -1
            mask = np.flip(mask, axis=2 - axis)
    return np.ascontiguousarray(mask), affine


def measure_region(region: RegionMask, volume: Volume) -> Measurements:
    """All measurements of ``region`` (a mask in ``volume``'s index space)."""
    mask, affine = _axial_grid(region, volume)
    sx, sy, sz = np.linalg.norm(affine[:3, :3], axis=0)
    axes = recist(mask, (sz, sy, sx))
    if axes is None:
        raise ValueError("cannot measure an empty region")

    def lps(zyx: tuple[float, float, float]) -> tuple[float, float, float]:
        p = affine[:3, :3] @ np.array(zyx[::-1]) + affine[:3, 3]
        return float(p[0]), float(p[1]), float(p[2])

    points = volume.index_to_lps(region.voxels()[:, ::-1].astype(float))
    values = volume.array[tuple(region.voxels().T)].astype(np.float64)
    return Measurements(
        volume_ml=volume_ml(region.mask, (volume.spacing[2], volume.spacing[1], volume.spacing[0]))
        * _shear_factor(volume),
        long_axis_mm=axes.long_axis_mm, short_axis_mm=axes.short_axis_mm,
        long_axis_lps=(lps(axes.long_axis_ends[0]), lps(axes.long_axis_ends[1])),
        short_axis_lps=(lps(axes.short_axis_ends[0]), lps(axes.short_axis_ends[1])),
        max_diameter_mm=max_diameter_mm(points) + min(volume.spacing),
        bbox_lps_mm=(tuple(float(v) for v in points.min(axis=0)), tuple(float(v) for v in points.max(axis=0))),  # type: ignore[arg-type]
        mean=float(values.mean()), sd=float(values.std()),
    )


def _shear_factor(volume: Volume) -> float:
    """Voxel volume relative to the product of spacings (1 for orthogonal grids)."""
    a = volume.affine[:3, :3]
    return float(abs(np.linalg.det(a)) / np.prod(np.linalg.norm(a, axis=0)))
