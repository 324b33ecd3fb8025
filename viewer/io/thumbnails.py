"""Small grey preview images of a series, for the series browser.

A thumbnail is the middle image of the series in slice order, as the slice view draws it: stored
row/column order (no flips, so an axial image keeps the patient's left on the right), through the
series' own window (or a robust automatic one), shrunk by area averaging to an aspect-correct box
and letterboxed in black. Qt-free so it can run in any worker thread and be tested headless.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from viewer.io import decode
from viewer.io.loader import read_frame
from viewer.io.series import SeriesCandidate

AUTO_PERCENTILES = (1.0, 99.0)  # robust to a few hot or dead pixels


class ThumbnailError(Exception):
    """The series has no image that can be shown as a thumbnail; the message says why."""


def thumbnail(candidate: SeriesCandidate, size: int = 96) -> NDArray[np.uint8]:
    """A ``size`` x ``size`` grey preview of the series' middle image.

    Parameters
    ----------
    candidate
        A series from :func:`viewer.io.series.build_series` (DICOM or NIfTI).
    size
        Edge of the square output in pixels.

    Returns
    -------
    numpy.ndarray
        uint8 (size, size): the image, aspect-correct in millimetres, centred on black.

    Raises
    ------
    ThumbnailError
        If the middle image cannot be read or decoded.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1; got {size}")
    image = _middle_image(candidate)
    if image.ndim != 2 or image.size == 0:
        raise ThumbnailError(f"{candidate.description}: image of shape {image.shape} is not a grey image")
    col_mm, row_mm, _ = candidate.spacing
    center, width = _window(candidate, image)
    grey = windowed(image, center, width)
    return letterbox(grey, size, row_mm / col_mm if col_mm > 0 else 1.0)


def _middle_image(candidate: SeriesCandidate) -> NDArray[np.generic]:
    if candidate.nifti_path is not None:
        from viewer.io.nifti import load_nifti

        try:
            array = load_nifti(candidate.nifti_path, candidate.meta).array
        except (RuntimeError, OSError, ValueError) as exc:
            raise ThumbnailError(f"{candidate.nifti_path}: {exc}") from exc
        return np.asarray(array[array.shape[0] // 2])
    if not candidate.frames:
        raise ThumbnailError(f"{candidate.description}: the series has no images")
    frame = candidate.frames[len(candidate.frames) // 2]  # frames are in slice order
    try:
        return read_frame(frame)
    except decode.FrameError as exc:
        raise ThumbnailError(f"{frame.file.path}: {exc.reason}") from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise ThumbnailError(f"{frame.file.path}: {exc}") from exc


def _window(candidate: SeriesCandidate, image: NDArray[np.generic]) -> tuple[float, float]:
    """The middle frame's own window, else the series' first, else 1-99 % of the image."""
    if candidate.frames:
        own = candidate.frames[len(candidate.frames) // 2].window
        if own is not None and own[1] > 0:
            return own
    if candidate.meta.windows:
        preset = candidate.meta.windows[0]
        return preset.center, preset.width
    return auto_window(image)


def auto_window(image: NDArray[np.generic]) -> tuple[float, float]:
    """(center, width) spanning the 1st to 99th percentile of the finite values."""
    values = np.asarray(image, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, AUTO_PERCENTILES))
    if hi <= lo:  # a flat image: any width shows it as one grey
        hi = lo + 1.0
    return (lo + hi) / 2.0, hi - lo


def windowed(image: NDArray[np.generic], center: float, width: float) -> NDArray[np.float32]:
    """Values mapped linearly through a window onto 0..255 (float, clipped)."""
    lo = center - width / 2.0
    scaled = (np.asarray(image, dtype=np.float32) - np.float32(lo)) * np.float32(255.0 / max(width, 1e-6))
    return np.asarray(np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 255.0), dtype=np.float32)


def _area_matrix(n_in: int, n_out: int) -> NDArray[np.float32]:
    """(n_out, n_in) weights: each output cell averages the input cells it overlaps, by overlap."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    starts, ends = edges[:-1, None], edges[1:, None]
    cells = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(ends, cells + 1) - np.maximum(starts, cells), 0.0, None)
    return np.asarray(overlap / overlap.sum(axis=1, keepdims=True), dtype=np.float32)


def letterbox(grey: NDArray[np.float32], size: int, pixel_aspect: float = 1.0) -> NDArray[np.uint8]:
    """Fit ``grey`` (0..255) into a black ``size`` square, keeping its physical aspect.

    ``pixel_aspect`` is a pixel's height over its width (row spacing / column spacing).
    """
    rows, cols = grey.shape
    height, width = rows * pixel_aspect, float(cols)
    scale = size / max(height, width)
    out_h = min(size, max(1, round(height * scale)))
    out_w = min(size, max(1, round(width * scale)))
    small = _area_matrix(rows, out_h) @ grey.astype(np.float32) @ _area_matrix(cols, out_w).T
    out = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - out_h) // 2, (size - out_w) // 2
    out[top:top + out_h, left:left + out_w] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return out
