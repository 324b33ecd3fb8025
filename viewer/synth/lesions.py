"""Irregular lesions placed entirely inside the liver (hypodense metastases) or a lung (nodules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.core.measurements import recist, volume_ml
from viewer.synth import anatomy

LIVER_METASTASIS, LUNG_NODULE = "liver_metastasis", "lung_nodule"
_TRIES = 60


@dataclass(frozen=True)
class LesionTruth:
    """What was placed, measured on its voxel mask (see viewer.core.measurements)."""

    label: int  # value in Phantom.lesions
    kind: str  # LIVER_METASTASIS or LUNG_NODULE
    centre_mm: tuple[float, float, float]  # (x, y, z) mm from the centre of voxel (0, 0, 0)
    long_axis_mm: float  # RECIST long axis
    short_axis_mm: float  # RECIST short axis
    volume_ml: float
    max_diameter_mm: float  # nominal size it was drawn with


def _rotation(rng: np.random.Generator) -> NDArray[np.float64]:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def lesion_shape(rng: np.random.Generator, diameter: float,
                 spacing: tuple[float, float, float]) -> NDArray[np.bool_]:
    """A lumpy, randomly oriented ellipsoid of about ``diameter`` mm in a tight (z, y, x) box."""
    radii = diameter / 2 * np.array([1.0, rng.uniform(0.65, 1.0), rng.uniform(0.65, 1.0)])
    half = [int(np.ceil(diameter * 0.65 / s)) for s in spacing]
    zz, yy, xx = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing)], indexing="ij")
    d = np.stack([xx, yy, zz], axis=-1) @ _rotation(rng)
    rho = np.linalg.norm(d / radii, axis=-1)
    u = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    bumps = np.ones(rho.shape)
    for _ in range(4):  # low-order lumps: irregular but not spiky
        v = rng.normal(size=3)
        bumps += rng.uniform(0.0, 0.1) * np.cos(rng.integers(1, 4) * np.pi * (u @ (v / np.linalg.norm(v)))
                                                 + rng.uniform(0, 2 * np.pi))
    mask: NDArray[np.bool_] = np.asarray(rho <= bumps)
    nz = np.argwhere(mask)
    if len(nz) == 0:
        mask[tuple(h for h in half)] = True
        return mask
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    return mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


def _fits(mask: NDArray[np.bool_], corner: NDArray[np.intp], organ: int, organs: NDArray[np.uint8],
          lesions: NDArray[np.uint8]) -> bool:
    hi = corner + np.array(mask.shape)
    if (corner < 0).any() or (hi > np.array(organs.shape)).any():
        return False
    box = tuple(slice(a, b) for a, b in zip(corner, hi))
    grown = ndimage.binary_dilation(mask, iterations=1) if min(mask.shape) > 2 else mask
    inside = organs[box][mask] == organ
    margin = organs[box][grown & ~mask]
    clear = lesions[box][grown] == 0
    return bool(inside.all() and (margin.size == 0 or (margin == organ).mean() > 0.8) and clear.all())


def _lesion_hu(rng: np.random.Generator, kind: str, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Intensity inside one lesion: hypodense liver metastasis (sometimes rim-enhancing) or a
    soft-tissue lung nodule."""
    if kind == LUNG_NODULE:
        return np.full(mask.shape, rng.uniform(-40, 50), dtype=np.float32)
    core = np.full(mask.shape, 60 - rng.uniform(18, 45), dtype=np.float32)
    if rng.random() < 0.4:
        rim = mask & ~ndimage.binary_erosion(mask, iterations=1)
        core[rim] += rng.uniform(8, 18)
    return core


def place_lesions(hu: NDArray[np.float32], organs: NDArray[np.uint8], rng: np.random.Generator,
                  spacing: tuple[float, float, float], count: tuple[int, int],
                  diameters: tuple[float, float], liver_fraction: float
                  ) -> tuple[NDArray[np.uint8], tuple[LesionTruth, ...]]:
    """Place lesions (writing their intensity into ``hu``); returns the label volume and truth."""
    lesions = np.zeros(organs.shape, dtype=np.uint8)
    pools = {LIVER_METASTASIS: np.flatnonzero(organs == anatomy.LIVER),
             LUNG_NODULE: np.flatnonzero(organs == anatomy.LUNG)}
    truth: list[LesionTruth] = []
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        kind = LIVER_METASTASIS if rng.random() < liver_fraction else LUNG_NODULE
        if len(pools[kind]) == 0:
            kind = LUNG_NODULE if kind == LIVER_METASTASIS else LIVER_METASTASIS
        placed = _place_one(hu, organs, lesions, rng, spacing, diameters, kind, pools[kind], len(truth) + 1)
        if placed is not None:
            truth.append(placed)
    return lesions, tuple(truth)


def _place_one(hu: NDArray[np.float32], organs: NDArray[np.uint8], lesions: NDArray[np.uint8],
               rng: np.random.Generator, spacing: tuple[float, float, float],
               diameters: tuple[float, float], kind: str, pool: NDArray[np.intp],
               label: int) -> LesionTruth | None:
    if len(pool) == 0:
        return None
    organ = anatomy.LIVER if kind == LIVER_METASTASIS else anatomy.LUNG
    diameter = float(np.exp(rng.uniform(np.log(diameters[0]), np.log(diameters[1]))))
    for attempt in range(_TRIES):
        size = max(diameters[0], diameter * 0.85 ** (attempt // 12))
        mask = lesion_shape(rng, size, spacing)
        centre = np.array(np.unravel_index(int(pool[rng.integers(len(pool))]), organs.shape))
        corner = centre - np.array(mask.shape) // 2
        if not _fits(mask, corner, organ, organs, lesions):
            continue
        box = tuple(slice(a, a + n) for a, n in zip(corner, mask.shape))
        region = hu[box]
        region[mask] = _lesion_hu(rng, kind, mask)[mask] + (region[mask] - region[mask].mean()) * 0.3
        lesions[box][mask] = label
        return _truth(label, kind, mask, corner, spacing, size)
    return None


def _truth(label: int, kind: str, mask: NDArray[np.bool_], corner: NDArray[np.intp],
           spacing: tuple[float, float, float], nominal: float) -> LesionTruth:
    axes = recist(mask, spacing)
    assert axes is not None
    c = np.array(ndimage.center_of_mass(mask)) + corner
    centre = (float(c[2] * spacing[2]), float(c[1] * spacing[1]), float(c[0] * spacing[0]))
    return LesionTruth(label, kind, centre, axes.long_axis_mm, axes.short_axis_mm,
                       volume_ml(mask, spacing), nominal)
