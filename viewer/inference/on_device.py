"""Preprocessing on the inference device: what preprocess.py does on the host, for a GPU.

On a GPU the network's work on a whole CT takes well under a second, so resampling and windowing
the volume on one host core took longer than predicting it (docs/benchmarks.md). Here the CT is
uploaded once, in its own dtype, and resampled and windowed where the network runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from viewer.inference.preprocess import Window

SLAB = 16  # slices per upload and per resampling call: bounds the temporaries (the grid: 12 bytes a voxel)


def resample_linear(volume_array: NDArray[np.generic], volume_affine: NDArray[np.float64],
                    grid_affine: NDArray[np.float64], shape: tuple[int, int, int], fill: float,
                    device: torch.device, padded: tuple[int, int, int] | None = None,
                    whole_hu: bool = False) -> torch.Tensor:
    """``preprocess.resample_to(..., order=1, fill=fill)`` on ``device``: float32 of ``shape``
    (k, j, i), inside a ``padded`` one filled with ``fill``; with ``whole_hu`` rounded to whole
    numbers, as the runner keeps an int16 CT on the host.

    scipy's "grid-constant" mode interpolates between the border voxels and ``fill`` outside;
    ``grid_sample`` with zero padding does the same on ``volume - fill``."""
    to_source = np.linalg.inv(volume_affine) @ grid_affine  # target (i, j, k, 1) -> source (i, j, k, 1)
    sizes = np.array(volume_array.shape[::-1], dtype=float)  # (i, j, k)
    # grid_sample's coordinates (align_corners=False): u = (2 s + 1) / n - 1 for source index s of n
    matrix = to_source[:3, :3] * (2.0 / sizes)[:, None]
    offset = to_source[:3, 3] * (2.0 / sizes) + 1.0 / sizes - 1.0
    source = _upload(volume_array, device).sub_(fill)[None, None]  # (1, 1, k, j, i)
    out = torch.full(padded or shape, fill, dtype=torch.float32, device=device)
    a = torch.from_numpy(matrix.T.astype(np.float32)).to(device)  # rows: target i, j, k
    b = torch.from_numpy(offset.astype(np.float32)).to(device)
    i = torch.arange(shape[2], device=device, dtype=torch.float32)[None, None, :, None] * a[0]
    j = torch.arange(shape[1], device=device, dtype=torch.float32)[None, :, None, None] * a[1]
    for k0 in range(0, shape[0], SLAB):
        k = torch.arange(k0, min(k0 + SLAB, shape[0]), device=device, dtype=torch.float32)[:, None, None, None]
        where = (k * a[2] + b) + j + i  # (slab, j, i, 3): source (i, j, k) of every target voxel
        slab = F.grid_sample(source, where[None], mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]
        out[k0:k0 + len(k), :shape[1], :shape[2]] = slab.add_(fill)
    del source
    if whole_hu:
        out.round_()  # half to even, as numpy's rint on the host
    return out


def _upload(array: NDArray[np.generic], device: torch.device) -> torch.Tensor:
    """``array`` as float32 on ``device``, a slab at a time: never a whole second copy in the CT's
    own dtype there, and never sharing the caller's memory (the caller's volume stays untouched)."""
    out = torch.empty(array.shape, dtype=torch.float32, device=device)
    native = array.dtype.newbyteorder("=")
    for k0 in range(0, array.shape[0], SLAB):
        part = array[k0:k0 + SLAB]
        if part.dtype != native or not part.flags.writeable or not part.flags.c_contiguous:
            part = np.array(part, dtype=native)  # torch reads native, writable, contiguous memory only
        out[k0:k0 + SLAB].copy_(torch.from_numpy(part))
    return out


def window_channels(hu: torch.Tensor, windows: Sequence[Window]) -> torch.Tensor:
    """``preprocess.window_channels`` on the tensor's device: (channels, *hu.shape) float32."""
    out = torch.empty((len(windows), *hu.shape), dtype=torch.float32, device=hu.device)
    for channel, w in zip(out, windows):  # float: an int16 CT would overflow
        torch.sub(hu, float(w.low), out=channel).mul_(1.0 / (w.high - w.low)).clamp_(0.0, 1.0)
    return out
