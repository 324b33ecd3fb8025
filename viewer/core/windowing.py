"""Display windows: the usual CT presets, an automatic window from the histogram, mouse dragging."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from viewer.core.volume import WindowPreset

PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset(40.0, 80.0, "Brain"),
    WindowPreset(-600.0, 1500.0, "Lung"),
    WindowPreset(50.0, 350.0, "Mediastinum"),
    WindowPreset(40.0, 400.0, "Abdomen"),
    WindowPreset(60.0, 160.0, "Liver"),
    WindowPreset(400.0, 1800.0, "Bone"),
)

AIR_HU = -990.0  # below this a CT value is air (or padding)
_PADDING_FRACTION = 0.01  # a minimum holding this share of the samples is padding


def sample_values(array: NDArray[np.generic], sample_max: int = 2_000_000) -> NDArray[np.float64]:
    """Finite values of a strided view of ``array``, at most ``sample_max`` of them (never a full copy)."""
    step = max(1, math.ceil((array.size / sample_max) ** (1.0 / max(array.ndim, 1))))
    while math.prod(math.ceil(n / step) for n in array.shape) > sample_max:
        step += 1
    view = array[(slice(None, None, step),) * array.ndim]
    values = np.asarray(view, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _percentile_window(values: NDArray[np.float64]) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.0, 98.0])
    return float(lo), float(hi)


def auto_window(array: NDArray[np.generic], sample_max: int = 2_000_000) -> WindowPreset:
    """A window spanning the 2nd to the 98th percentile of the voxel values.

    Rule, on a strided sample of at most ``sample_max`` voxels (a view; the volume is never
    copied):

    1. The sample minimum is padding (outside the scan's field of view, MR background) when it
       holds at least 1 % of the samples; it is left out.
    2. The window runs from the 2nd to the 98th percentile of what remains.
    3. For integer data (HU), if that is narrower than 1 (degenerate: e.g. a scan that is nearly
       all air), values up to -990 HU (air) are left out too and the percentiles taken again.
    4. The width is at least 1 for integer data; float data (SUV, FA, ADC) keep their own scale.

    Parameters
    ----------
    array
        Voxel values, any shape and numeric dtype.
    sample_max
        Largest number of voxels looked at.

    Returns
    -------
    WindowPreset
        Named ``"Auto"``.
    """
    if sample_max < 1:
        raise ValueError(f"sample_max must be >= 1; got {sample_max}")
    values = sample_values(array, sample_max) if array.size else np.empty(0)
    if values.size == 0:
        raise ValueError(f"array has no finite values (shape {array.shape})")
    floor = float(values.min())
    if np.count_nonzero(values == floor) >= _PADDING_FRACTION * values.size:
        rest = values[values > floor]
        values = rest if rest.size else values
    lo, hi = _percentile_window(values)
    integer = np.issubdtype(array.dtype, np.integer)
    if integer and hi - lo < 1.0:
        tissue = values[values > AIR_HU]
        if tissue.size:
            lo, hi = _percentile_window(tissue)
    return WindowPreset((lo + hi) / 2.0, max(hi - lo, 1.0 if integer else 1e-6), "Auto")


def drag_window(center: float, width: float, dx_px: float, dy_px: float,
                sensitivity: float = 1.0, min_width: float = 1.0) -> tuple[float, float]:
    """New (center, width) after a mouse drag of (dx_px, dy_px) screen pixels.

    The RadiAnt / Horos convention: dragging right widens the window (less contrast), left
    narrows it; dragging up lowers the level (brighter image), down raises it. Screen y grows
    downwards, as in Qt. ``sensitivity`` is in display units (HU) per pixel; a caller may scale
    it with the current width. The width stays at least ``min_width`` (1 suits HU; less for floats).
    """
    if not sensitivity > 0:
        raise ValueError(f"sensitivity must be positive; got {sensitivity}")
    if not width > 0:
        raise ValueError(f"width must be positive; got {width}")
    return float(center + dy_px * sensitivity), float(max(min_width, width + dx_px * sensitivity))
