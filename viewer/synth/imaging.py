"""The scanner's part: blur (partial volume), correlated noise, rounding to stored HU."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.synth.grid import F32

HU_MIN, HU_MAX = -1024, 3071
_SLAB = 8  # slices of noise made at a time: bounded memory, and warm caches


def blur(hu: F32, sigma_vox: tuple[float, float, float]) -> None:
    """Gaussian blur in place (sigma per axis in voxels): the scanner's resolution."""
    for axis, sigma in enumerate(sigma_vox):
        if sigma > 0.0:
            ndimage.gaussian_filter1d(hu, sigma, axis=axis, output=hu, truncate=3.0)


def _noise_gain(sigma: float) -> float:
    """Factor restoring unit SD to white noise after an in-plane Gaussian of ``sigma`` voxels."""
    if sigma <= 0.0:
        return 1.0
    impulse = np.zeros(64)
    impulse[32] = 1.0
    kernel = ndimage.gaussian_filter1d(impulse, sigma, truncate=3.0)
    return float(1.0 / np.sum(kernel ** 2))  # two in-plane axes: (1 / ||k||)^2


def add_noise(hu: F32, rng: np.random.Generator, sd_hu: float, corr_sigma: float) -> NDArray[np.int16]:
    """``hu`` plus in-plane-correlated Gaussian noise of SD ``sd_hu``, rounded and clipped to int16."""
    out = np.empty(hu.shape, dtype=np.int16)
    gain = np.float32(sd_hu * _noise_gain(corr_sigma))
    for z0 in range(0, hu.shape[0], _SLAB):
        noise = rng.standard_normal((min(_SLAB, hu.shape[0] - z0), *hu.shape[1:]), dtype=np.float32)
        if corr_sigma > 0.0:
            ndimage.gaussian_filter(noise, (0.0, corr_sigma, corr_sigma), output=noise, truncate=3.0)
        noise *= gain
        noise += hu[z0:z0 + _SLAB]
        np.rint(noise, out=noise)
        np.clip(noise, HU_MIN, HU_MAX, out=noise)
        out[z0:z0 + _SLAB] = noise
    return out
