"""RECIST measurements of a lesion mask, for the generator's ground truth.

A thin adapter over :mod:`viewer.core.measurements`, so the truth the phantoms record and the
measurements the app shows come from one definition (edge-to-edge long and short axis on the
axial slice of largest area; volume as voxel count times voxel volume).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.core.measurements import recist, volume_ml


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


def lesion_measurements(mask: NDArray[np.generic], spacing: tuple[float, ...]) -> LesionMeasurement:
    """RECIST long/short axis and volume of a 2-D or 3-D mask with (z, y, x) or (y, x) spacing."""
    m, sp = _as_3d(mask, spacing)
    axes = recist(m, sp)
    if axes is None:
        return LesionMeasurement(0.0, 0.0, 0.0, -1)
    return LesionMeasurement(axes.long_axis_mm, axes.short_axis_mm, volume_ml(m, sp), axes.slice_index)
