"""Patient geometry: index <-> LPS millimetres, slice normals, orientation letters.

Conventions used everywhere in the app:

* A volume's array is indexed ``array[k, j, i]``: k = slice, j = row, i = column.
* Its 4x4 ``affine`` maps the homogeneous index ``(i, j, k, 1)`` to patient LPS millimetres
  (x towards the patient's Left, y Posterior, z Superior), as DICOM does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def unit(v: ArrayLike) -> FloatArray:
    """``v`` scaled to length 1; raises ValueError for a zero vector."""
    a = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(a))
    if n < 1e-12:
        raise ValueError(f"cannot normalise a zero-length vector {a.tolist()}")
    return a / n


def slice_normal(iop: Sequence[float]) -> FloatArray:
    """Unit normal (row direction x column direction) of an ImageOrientationPatient."""
    row, col = unit(iop[:3]), unit(iop[3:6])
    return unit(np.cross(row, col))


def affine_from_dicom(
    iop: Sequence[float],
    origin: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_step: ArrayLike,
) -> FloatArray:
    """Build the (i, j, k) -> LPS affine of a stack of DICOM slices.

    Parameters
    ----------
    iop
        ImageOrientationPatient: row direction cosines (along a row, i.e. increasing column i),
        then column direction cosines (down a column, increasing row j).
    origin
        ImagePositionPatient of the first slice (k = 0): the centre of its first voxel.
    pixel_spacing
        PixelSpacing as DICOM orders it: (spacing between rows, spacing between columns).
    slice_step
        Vector in mm from one slice's origin to the next, measured from positions (never from
        SliceThickness).
    """
    row, col = unit(iop[:3]), unit(iop[3:6])
    affine = np.eye(4)
    affine[:3, 0] = row * float(pixel_spacing[1])
    affine[:3, 1] = col * float(pixel_spacing[0])
    affine[:3, 2] = np.asarray(slice_step, dtype=np.float64)
    affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    return affine


def spacing_of(affine: ArrayLike) -> tuple[float, float, float]:
    """Voxel size (i, j, k) in mm: the lengths of the affine's first three columns."""
    a = np.asarray(affine, dtype=np.float64)
    norms = np.linalg.norm(a[:3, :3], axis=0)
    return float(norms[0]), float(norms[1]), float(norms[2])


def direction_of(affine: ArrayLike) -> FloatArray:
    """3x3 matrix whose columns are the unit LPS directions of the i, j, k axes."""
    a = np.asarray(affine, dtype=np.float64)[:3, :3]
    return np.asarray(a / np.linalg.norm(a, axis=0), dtype=np.float64)


def index_to_lps(affine: ArrayLike, ijk: ArrayLike) -> FloatArray:
    """Map index points (..., 3) in (i, j, k) order to LPS mm (..., 3)."""
    a = np.asarray(affine, dtype=np.float64)
    p = np.asarray(ijk, dtype=np.float64)
    return p @ a[:3, :3].T + a[:3, 3]


def lps_to_index(affine: ArrayLike, lps: ArrayLike) -> FloatArray:
    """Map LPS mm points (..., 3) to continuous (i, j, k) indices (..., 3)."""
    a = np.asarray(affine, dtype=np.float64)
    p = np.asarray(lps, dtype=np.float64) - a[:3, 3]
    return p @ np.linalg.inv(a[:3, :3]).T


def orientation_letters(direction: ArrayLike, threshold: float = 0.25) -> str:
    """Letters of the patient directions a vector points to, strongest first (e.g. ``"LP"``).

    Components weaker than ``threshold`` are left out, so an axial row direction gives ``"L"``
    and a 30-degree oblique one gives ``"LP"`` or ``"LA"``.
    """
    d = unit(direction)
    order = np.argsort(-np.abs(d))
    letters = [_LETTERS[ax][int(d[ax] > 0)] for ax in order if abs(d[ax]) >= threshold]
    return "".join(letters)


def angle_deg(a: ArrayLike, b: ArrayLike) -> float:
    """Unsigned angle in degrees between two lines (direction sign ignored)."""
    c = abs(float(np.dot(unit(a), unit(b))))
    return float(np.degrees(np.arccos(min(1.0, c))))
