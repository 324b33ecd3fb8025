"""RECIST measurements of a voxel mask on an axial grid: a pure function of (mask, spacing).

Long axis: the longest in-plane (Feret) diameter on the axial slice where the mask's area is
largest, found among the voxel centres of that slice's boundary (their convex hull). Short axis:
the longest chord between those voxel centres that is perpendicular to the long axis (its ends
within half a pixel of each other along the long axis; a growing angular tolerance only when a
tiny mask offers no such chord). Both are then
reported edge to edge, like a caliper: half a voxel is added at each end along the chord, as
``viewer.core.measurements`` does, so a one-voxel lesion measures one voxel and an analytic
ellipse is recovered within a voxel. Volume: voxel count times voxel volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

F64 = NDArray[np.float64]
_TOLERANCES_DEG = (5.0, 10.0, 20.0, 45.0, 90.0)
_CHUNK = 1024


@dataclass(frozen=True)
class LesionMeasurement:
    """RECIST axes (mm) on slice ``slice_index`` and the volume (mL) of one mask."""

    long_axis_mm: float
    short_axis_mm: float
    volume_ml: float
    slice_index: int  # -1 for an empty mask


def _as_3d(mask: NDArray[np.generic],
           spacing: tuple[float, ...]) -> tuple[NDArray[np.bool_], tuple[float, float, float]]:
    """The mask as 3-D booleans with a (z, y, x) spacing (a 2-D mask is one slice of no thickness)."""
    m = np.asarray(mask).astype(bool, copy=False)
    if m.ndim == 2:
        m = m[None]
        spacing = (0.0, *spacing) if len(spacing) == 2 else spacing
    if m.ndim != 3 or len(spacing) != 3:
        raise ValueError(f"mask must be 2-D or 3-D with matching spacing; got {m.shape}, {spacing}")
    return m, (float(spacing[0]), float(spacing[1]), float(spacing[2]))


def _boundary_points(plane: NDArray[np.bool_], sy: float, sx: float) -> F64:
    """(x, y) mm of the plane's boundary voxel centres (voxels with a 4-neighbour outside).

    Relative to the boundary's first row and column, so that the result (ties included) does
    not depend on where the mask lies in a larger array."""
    edge = plane & ~ndimage.binary_erosion(plane, border_value=0)
    rows, cols = np.nonzero(edge)
    return np.stack([(cols - cols.min()) * sx, (rows - rows.min()) * sy], axis=1).astype(np.float64)


def _feret(points: F64) -> tuple[float, F64]:
    """Longest distance between two points and its unit direction."""
    try:
        hull = points[ConvexHull(points).vertices] if len(points) >= 3 else points
    except QhullError:  # all points on a line
        hull = points
    diff = hull[:, None, :] - hull[None, :, :]
    d2 = (diff ** 2).sum(axis=-1)
    a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
    length = float(np.sqrt(d2[a, b]))
    return length, diff[a, b] / length if length > 0 else np.array([1.0, 0.0])


def _voxel_extent(direction: F64, sy: float, sx: float) -> float:
    """Length of one voxel along unit in-plane ``direction`` (x, y): what edge-to-edge adds."""
    return float(1.0 / np.hypot(direction[0] / sx, direction[1] / sy))


def _perpendicular_chord(points: F64, axis: F64, pixel: float) -> float:
    """Longest chord between points perpendicular to ``axis``: its extent across the axis.

    Perpendicular means its ends lie within half a pixel of each other along the axis (an angular
    tolerance of about half a pixel over the chord's length); tiny masks that have no such pair
    fall back to growing angular tolerances.
    """
    along = points[:, 0] * axis[0] + points[:, 1] * axis[1]
    across = points[:, 1] * axis[0] - points[:, 0] * axis[1]
    for tol in (None, *_TOLERANCES_DEG):
        best = 0.0
        for i in range(0, len(points), _CHUNK):
            da = np.abs(along[i:i + _CHUNK, None] - along[None, :])
            dc = np.abs(across[i:i + _CHUNK, None] - across[None, :])
            limit = 0.5 * pixel if tol is None else np.sin(np.radians(tol)) * np.sqrt(da * da + dc * dc)
            ok = (da <= limit) & (dc > 0)
            if ok.any():
                best = max(best, float(dc[ok].max()))
        if best > 0.0:
            return best
    return 0.0


def lesion_measurements(mask: NDArray[np.generic], spacing: tuple[float, ...]) -> LesionMeasurement:
    """RECIST long and short axis and volume of a binary mask.

    Parameters
    ----------
    mask
        3-D (z, y, x) or 2-D (y, x) binary mask on an axial grid.
    spacing
        Voxel spacing in mm, (z, y, x); for a 2-D mask (y, x) (its volume is then 0) or (z, y, x).

    Returns
    -------
    LesionMeasurement
        Zeros and ``slice_index == -1`` for an empty mask.
    """
    m, (sz, sy, sx) = _as_3d(mask, spacing)
    areas = m.reshape(m.shape[0], -1).sum(axis=1)
    if m.size == 0 or areas.max() == 0:
        return LesionMeasurement(0.0, 0.0, 0.0, -1)
    k = int(np.argmax(areas))
    points = _boundary_points(m[k], sy, sx)
    long_mm, axis = _feret(points) if len(points) > 1 else (0.0, np.array([1.0, 0.0]))
    short_mm = _perpendicular_chord(points, axis, max(sy, sx)) if len(points) > 1 else 0.0
    long_mm += _voxel_extent(axis, sy, sx)
    short_mm += _voxel_extent(np.array([-axis[1], axis[0]]), sy, sx)
    volume = float(np.count_nonzero(m)) * sz * sy * sx / 1000.0
    return LesionMeasurement(long_mm, min(short_mm, long_mm), volume, k)
