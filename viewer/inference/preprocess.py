"""Preprocessing shared by training and inference: one source of truth for what the model sees.

A volume is resampled onto the model's grid (axial, axes along patient L, P, S, the model's
spacing) and its Hounsfield units are turned into intensity-window channels scaled to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.core.volume import Volume

BODY_HU = -500.0  # the body's edge: air and lung lie below it; skin, fat and everything denser above
BODY_STEP = 2  # the body is found on every second voxel along each axis: its extent needs no more
BODY_KEEP = 0.1  # regions of at least this share of the largest count as body (legs, arms); the table is less


@dataclass(frozen=True)
class Window:
    """An intensity window mapped linearly onto [0, 1] (values outside are clipped)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"window high must exceed low; got {self.low}..{self.high}")


def window_channels(hu: NDArray[np.generic], windows: Sequence[Window]) -> NDArray[np.float32]:
    """(channels, *hu.shape) float32: one clipped, [0, 1]-scaled copy of ``hu`` per window."""
    out = np.empty((len(windows), *hu.shape), dtype=np.float32)
    for c, w in enumerate(windows):
        np.subtract(hu, float(w.low), out=out[c], casting="unsafe")  # an int window would compute in int16
        out[c] *= 1.0 / (w.high - w.low)
        np.clip(out[c], 0.0, 1.0, out=out[c])
    return out


@dataclass(frozen=True)
class ModelGrid:
    """Where the model's voxels lie in the patient: an axial LPS-aligned grid."""

    affine: NDArray[np.float64]  # (i, j, k, 1) -> LPS mm of the model grid
    shape: tuple[int, int, int]  # (k, j, i)


def model_grid(volume: Volume, spacing_zyx: tuple[float, float, float]) -> ModelGrid:
    """The LPS-aligned grid of ``spacing_zyx`` covering the volume's bounding box."""
    k, j, i = volume.shape
    corners = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=float)
    lps = volume.index_to_lps(corners)
    lo, hi = lps.min(axis=0), lps.max(axis=0)
    step = np.array(spacing_zyx[::-1], dtype=float)  # (x, y, z)
    counts = np.floor((hi - lo) / step + 1e-6).astype(int) + 1
    affine = np.diag([*step, 1.0])
    affine[:3, 3] = lo
    return ModelGrid(affine, (int(counts[2]), int(counts[1]), int(counts[0])))


def resample_to(volume_array: NDArray[np.generic], volume_affine: NDArray[np.float64],
                grid_affine: NDArray[np.float64], shape: tuple[int, int, int], order: int,
                fill: float) -> NDArray[np.float32]:
    """Sample ``volume_array`` (k, j, i) on another grid (same patient space), with spline ``order``.

    An integer input is read in its own dtype (no float32 copy of a whole CT: twice an int16
    volume); float16, which scipy cannot read, is widened."""
    from scipy import ndimage

    # target index (k, j, i) -> source index (k, j, i): both affines act on (i, j, k).
    to_source = np.linalg.inv(volume_affine) @ grid_affine
    flip = np.eye(4)[[2, 1, 0, 3]]
    matrix = flip @ to_source @ flip
    source = volume_array.astype(np.float32) if volume_array.dtype == np.float16 else volume_array
    out: NDArray[np.float32] = ndimage.affine_transform(
        source, matrix[:3, :3], offset=matrix[:3, 3],
        output_shape=shape, order=order, mode="grid-constant", cval=fill, output=np.float32)
    return out


def body_box(over: NDArray[np.bool_], shape: tuple[int, int, int],
             least: tuple[int, int, int]) -> tuple[slice, slice, slice]:
    """The box of a CT grid of ``shape`` that holds the body, from ``over``: which of every
    ``BODY_STEP``-th voxel along each axis is over ``BODY_HU``.

    The body is every connected region over that level of at least ``BODY_KEEP`` of the largest
    one's size, so the scanner table, a thin separate shell, is left out. The box is grown by one
    step on each side (what the subsampling skipped), and to at least ``least`` along each axis
    where the grid allows (a network that normalises per tile must see whole tiles). With nothing
    over the level, the whole grid."""
    from scipy import ndimage

    whole = (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))
    labels, count = ndimage.label(over)
    if count == 0:
        return whole
    sizes = np.bincount(labels.ravel())[1:]
    found = [b for b, size in zip(ndimage.find_objects(labels), sizes) if b is not None and size >= BODY_KEEP * sizes.max()]
    box = []
    for axis, (n, at_least) in enumerate(zip(shape, least)):
        lo = max(0, min(b[axis].start for b in found) * BODY_STEP - BODY_STEP)
        hi = min(n, max(b[axis].stop for b in found) * BODY_STEP + BODY_STEP)
        if hi - lo < at_least:  # grow evenly, then shift inside the grid
            lo = max(0, min(lo - (at_least - (hi - lo)) // 2, n - at_least))
            hi = min(n, lo + at_least)
        box.append(slice(lo, hi))
    return box[0], box[1], box[2]
