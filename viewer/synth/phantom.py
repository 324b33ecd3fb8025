"""A deterministic synthetic chest/upper-abdomen CT with liver metastases and lung nodules.

The demo study of the app and the training-data source of its lesion model. Everything is defined
in millimetres, so any grid works: the default is a clinical 512 x 512 x 200 at 0.7 x 0.7 x 2.5 mm,
training uses coarser ones. The same seed and parameters give a bit-identical phantom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.synth import anatomy
from viewer.synth.anatomy import Body
from viewer.synth.lesions import LesionTruth, place_lesions

# Base HU and texture amplitude of each organ code (index = code).
_HU = np.array([-1000, 50, -100, 700, -860, 60, 48, 40, 12, 0], dtype=np.float32)
_TEXTURE = np.array([0, 8, 10, 60, 25, 6, 6, 5, 4, 45], dtype=np.float32)  # viscera: fat/bowel mix


@dataclass(frozen=True)
class PhantomParams:
    """What to generate. Shapes and spacings are (z, y, x)."""

    shape: tuple[int, int, int] = (200, 512, 512)
    spacing: tuple[float, float, float] = (2.5, 0.7, 0.7)
    n_lesions: tuple[int, int] = (1, 5)
    lesion_diameter_mm: tuple[float, float] = (5.0, 40.0)
    liver_fraction: float = 0.6  # share of lesions placed in the liver (the rest in the lungs)
    noise_hu: float = 12.0
    blur_mm: tuple[float, float, float] = (1.0, 0.5, 0.5)  # Gaussian sigma of the scanner's blur

    def __post_init__(self) -> None:
        if min(self.shape) < 1 or min(self.spacing) <= 0:
            raise ValueError(f"shape and spacing must be positive; got {self.shape}, {self.spacing}")
        lo, hi = self.n_lesions
        if not 0 <= lo <= hi:
            raise ValueError(f"n_lesions must be an ordered range; got {self.n_lesions}")


@dataclass(frozen=True)
class Phantom:
    """A generated volume, its organ and lesion labels and the lesions' measurements."""

    hu: NDArray[np.int16]  # (z, y, x) Hounsfield units
    organs: NDArray[np.uint8]  # organ codes of viewer.synth.anatomy
    lesions: NDArray[np.uint8]  # 0 background, k = LesionTruth.label
    truth: tuple[LesionTruth, ...]
    spacing: tuple[float, float, float]
    seed: int


def _grid(params: PhantomParams) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """In-plane coordinates in mm relative to the centre of the field of view."""
    _, ny, nx = params.shape
    _, sy, sx = params.spacing
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2) * sy
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2) * sx
    return np.meshgrid(x, y)


def build_organs(params: PhantomParams, body: Body) -> NDArray[np.uint8]:
    """Organ label volume, one axial slice at a time."""
    nz = params.shape[0]
    x, y = _grid(params)
    z_extent = (nz - 1) * params.spacing[0]
    organs = np.empty(params.shape, dtype=np.uint8)
    for k in range(nz):
        organs[k] = anatomy.slice_organs(x, y, k * params.spacing[0], body, z_extent)
    return organs


def _texture(rng: np.random.Generator, shape: tuple[int, int, int],
             spacing: tuple[float, float, float], feature_mm: float = 12.0) -> NDArray[np.float32]:
    """Smooth random field (SD about 1) with features about ``feature_mm`` across.

    Interpolated to half the in-plane resolution and repeated: the steps are far below the
    noise, and it is four times cheaper than interpolating the full grid."""
    half = (shape[0], (shape[1] + 1) // 2, (shape[2] + 1) // 2)
    coarse = tuple(max(2, int(np.ceil(n * s / feature_mm)) + 1) for n, s in zip(shape, spacing))
    field = rng.standard_normal(coarse, dtype=np.float32)
    zoom = [n / c for n, c in zip(half, coarse)]
    small = ndimage.zoom(field, zoom, order=1, output=np.float32, grid_mode=True, mode="nearest")
    return np.asarray(small.repeat(2, axis=1).repeat(2, axis=2)[:, : shape[1], : shape[2]], dtype=np.float32)


def _intensities(organs: NDArray[np.uint8], rng: np.random.Generator,
                 params: PhantomParams) -> NDArray[np.float32]:
    hu = _HU[organs]
    hu += _TEXTURE[organs] * _texture(rng, params.shape, params.spacing)
    bone = organs == anatomy.BONE
    marrow = ndimage.binary_erosion(bone, structure=np.ones((1, 3, 3), dtype=bool), iterations=2)
    hu[marrow] -= 420.0  # cancellous bone inside a dense cortex
    return hu


def _blur_and_noise(hu: NDArray[np.float32], rng: np.random.Generator,
                    params: PhantomParams) -> NDArray[np.int16]:
    sigma = [b / s for b, s in zip(params.blur_mm, params.spacing)]
    out = ndimage.gaussian_filter(hu, sigma, truncate=3.0)
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    ndimage.gaussian_filter(noise, (0, 0.6, 0.6), output=noise, truncate=2.0)  # CT noise is grainy
    noise *= params.noise_hu / max(float(noise[:: max(1, hu.shape[0] // 8)].std()), 1e-6)
    out += noise
    return np.asarray(np.clip(np.rint(out), -1024, 3071), dtype=np.int16)


def generate_phantom(seed: int, params: PhantomParams = PhantomParams()) -> Phantom:
    """Generate one phantom (deterministic for a seed and parameters)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    z_extent = (params.shape[0] - 1) * params.spacing[0]
    body = Body.draw(rng, z_extent)
    organs = build_organs(params, body)
    hu = _intensities(organs, rng, params)
    lesions, truth = place_lesions(hu, organs, rng, params.spacing, params.n_lesions,
                                   params.lesion_diameter_mm, params.liver_fraction)
    return Phantom(_blur_and_noise(hu, rng, params), organs, lesions, truth, params.spacing, seed)
