"""Irregular lesions placed entirely inside the liver (hypodense metastases) or a lung (solid nodules).

A lesion is a randomly oriented ellipsoid whose radius is modulated by a few smooth bumps; the
bumps are normalised so the whole shape fits inside a sphere of the nominal diameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.synth.grid import F32, Frame

LIVER_METASTASIS = "liver_metastasis"
LUNG_NODULE = "lung_nodule"
F64 = NDArray[np.float64]
_N_BUMPS = 6
_FIBONACCI = 400  # directions on which the bumps' maximum is taken


@dataclass(frozen=True)
class LesionShape:
    """One lesion's shape and intensity, drawn before it is placed (all mm and HU)."""

    kind: str
    diameter: float       # nominal maximum 3-D diameter
    semi: F64             # ellipsoid semi-axes (3,)
    rotation: F64         # (3, 3) columns: the ellipsoid axes in (u, v, w)
    bumps: F64            # (m, 3) unit directions of the radius bumps
    amps: F64             # (m,) bump amplitudes (relative radius)
    sharpness: float      # how narrow the bumps are
    contrast: float       # HU below the liver (metastasis) or absolute HU (nodule)
    rim: float            # HU of a brighter rim (0 for none)
    necrosis: float       # HU darker in the centre (0 for none)

    def scaled(self, factor: float) -> LesionShape:
        """The same lesion at ``factor`` times the size."""
        return LesionShape(self.kind, self.diameter * factor, self.semi * factor, self.rotation, self.bumps,
                           self.amps, self.sharpness, self.contrast, self.rim, self.necrosis)


def _fibonacci_sphere(n: int) -> F64:
    """``n`` unit vectors spread evenly over the sphere."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _bump(dirs: tuple[F64, F64, F64], bumps: F64, amps: F64, sharpness: float) -> F64:
    """Relative radius change along unit directions given as their (u, v, w) components.

    Written out per component rather than as a matrix product, so no BLAS threading can change
    the last bits from one run to the next."""
    out = np.zeros(np.broadcast_shapes(*(d.shape for d in dirs)))
    for (bu, bv, bw), amp in zip(bumps, amps, strict=True):
        out += amp * np.exp(sharpness * (dirs[0] * bu + dirs[1] * bv + dirs[2] * bw - 1.0))
    return out


def draw_shape(rng: np.random.Generator, kind: str, diameter_range: tuple[float, float],
               contrast_range: tuple[float, float] = (15.0, 45.0),
               nodule_hu: tuple[float, float] = (-50.0, 60.0)) -> LesionShape:
    """Draw a lesion of ``kind``: log-uniform size, irregular shape, kind-specific intensity.

    ``contrast_range`` is how much darker than the liver a metastasis is; ``nodule_hu`` the HU
    range of a nodule. The number of draws is the same for either kind.
    """
    lo, hi = diameter_range
    diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.diag(r))
    axes = np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0)])
    bumps = rng.normal(size=(_N_BUMPS, 3))
    bumps /= np.linalg.norm(bumps, axis=1, keepdims=True)
    amps = rng.uniform(-0.25, 0.3, _N_BUMPS)
    sharpness = float(rng.uniform(2.0, 6.0))
    fib = _fibonacci_sphere(_FIBONACCI)
    reach = 1.0 + max(float(_bump((fib[:, 0], fib[:, 1], fib[:, 2]), bumps, amps, sharpness).max()), 0.0)
    semi = 0.5 * diameter * axes / reach
    contrast, rim, necrosis = rng.uniform(*contrast_range), rng.uniform(0.15, 0.35), rng.uniform(10.0, 25.0)
    nodule, flags = rng.uniform(*nodule_hu), rng.random(2)
    rim *= contrast  # a rim brighter than the core, still darker than the liver
    if kind == LUNG_NODULE:
        contrast, rim, necrosis = nodule, 0.0, 0.0
    else:
        rim *= float(flags[0] < 0.35)
        necrosis *= float(flags[1] < 0.3 and diameter > 20.0)
    return LesionShape(kind, diameter, semi, rotation, bumps, amps, sharpness, float(contrast), rim, necrosis)


def rho(shape: LesionShape, centre: F64, frame: Frame, box: tuple[slice, slice, slice]) -> F32:
    """Normalised radius of the lesion on the voxels of ``box``: inside where <= 1."""
    w = (frame.axis(0)[box[0]].astype(np.float64) - centre[2])[:, None, None]
    v = (frame.axis(1)[box[1]].astype(np.float64) - centre[1])[None, :, None]
    u = (frame.axis(2)[box[2]].astype(np.float64) - centre[0])[None, None, :]
    rot, semi = shape.rotation, shape.semi
    r2 = np.zeros(np.broadcast_shapes(u.shape, v.shape, w.shape))
    for k in range(3):
        r2 += ((u * rot[0, k] + v * rot[1, k] + w * rot[2, k]) / semi[k]) ** 2
    norm = np.maximum(np.sqrt(u * u + v * v + w * w), 1e-9)
    swell = _bump((u / norm, v / norm, w / norm), shape.bumps, shape.amps, shape.sharpness)
    return (np.sqrt(r2) / (1.0 + np.maximum(swell, -0.45))).astype(np.float32)  # never pinched off


def box_around(shape: LesionShape, centre: F64, frame: Frame,
               margin: float) -> tuple[slice, slice, slice] | None:
    """Grid box of the lesion's bounding sphere grown by ``margin`` mm; None unless all on the grid."""
    r = 0.5 * shape.diameter + margin
    lo = (float(centre[0] - r), float(centre[1] - r), float(centre[2] - r))
    hi = (float(centre[0] + r), float(centre[1] + r), float(centre[2] + r))
    if not (frame.contains(frame.index(lo)) and frame.contains(frame.index(hi))):
        return None
    return frame.box(lo, hi)


def intensity(shape: LesionShape, r: F32, base: F32, liver_hu: float) -> F32:
    """HU inside the lesion from its normalised radius ``r`` and the underlying tissue ``base``."""
    if shape.kind == LUNG_NODULE:
        return np.asarray(shape.contrast + 15.0 * (0.5 - r), dtype=np.float32)  # denser centre
    core = liver_hu - shape.contrast + 0.4 * (base - liver_hu)
    rim = shape.rim * np.exp(-(((r - 0.82) / 0.14) ** 2))
    necrosis = shape.necrosis * np.clip(1.0 - r / 0.6, 0.0, 1.0) ** 2
    return np.asarray(core + rim - necrosis, dtype=np.float32)
