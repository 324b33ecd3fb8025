"""Chest/upper-abdomen anatomy of the phantom, built slice by slice in millimetres.

Frame: x to the patient's LEFT, y POSTERIOR, z SUPERIOR (DICOM LPS), origin at the body centre in
x/y and at the most inferior slice in z. So the liver lies at negative x, the spine at positive y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Organ codes of Phantom.organs.
AIR, SOFT_TISSUE, FAT, BONE, LUNG, LIVER, SPLEEN, HEART, STOMACH, VISCERA = range(10)


@dataclass(frozen=True)
class Body:
    """One patient's sizes, drawn from a seed (all mm)."""

    half_width: float  # lateral semi-axis of the body
    half_depth: float  # antero-posterior semi-axis
    fat: float  # subcutaneous fat thickness
    muscle: float  # body-wall muscle thickness
    lung_base: float  # z of the lung bases (diaphragm), from the bottom of the scan
    liver_top: float  # z of the liver dome
    vessels: NDArray[np.float64]  # (n, 2, 3) lung vessel segments, endpoints in mm
    rib_phase: float

    @staticmethod
    def draw(rng: np.random.Generator, z_extent: float) -> Body:
        """Random but plausible sizes; the diaphragm sits 40-55 % up the scan."""
        half_width = rng.uniform(150, 175)
        half_depth = rng.uniform(100, 122)
        lung_base = z_extent * rng.uniform(0.40, 0.55)
        return Body(half_width, half_depth, rng.uniform(10, 24), rng.uniform(8, 13), lung_base,
                    lung_base + rng.uniform(25, 45), _vessels(rng, half_width, half_depth, lung_base, z_extent),
                    rng.uniform(0, 2 * np.pi))


def _vessels(rng: np.random.Generator, hw: float, hd: float, z0: float, z1: float) -> NDArray[np.float64]:
    """Branching-looking pulmonary vessels: segments fanning out from each hilum."""
    segs = []
    for side in (-1, 1):
        hilum = np.array([side * 0.22 * hw, -0.05 * hd, z0 + 0.45 * (z1 - z0)])
        for _ in range(45):
            direction = rng.normal(size=3) * np.array([1.0, 0.8, 1.3])
            direction[0] = abs(direction[0]) * side
            direction /= np.linalg.norm(direction)
            length = rng.uniform(40, 140)
            start = hilum + direction * rng.uniform(0, 30)
            segs.append([start, start + direction * length])
    return np.array(segs)


def ellipse(x: NDArray[np.float32], y: NDArray[np.float32], cx: float, cy: float, a: float,
            b: float) -> NDArray[np.bool_]:
    """Inside of an axis-aligned ellipse."""
    if a <= 0 or b <= 0:
        return np.zeros(x.shape, dtype=bool)
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0


def paint(out: NDArray[np.uint8], value: int, x: NDArray[np.float32], y: NDArray[np.float32],
          cx: float, cy: float, a: float, b: float, where: NDArray[np.bool_] | None = None) -> None:
    """Set ``out`` to ``value`` inside a small ellipse, touching only its bounding window."""
    xs, ys = x[0], y[:, 0]
    i0, i1 = np.searchsorted(xs, [cx - a, cx + a])
    j0, j1 = np.searchsorted(ys, [cy - b, cy + b])
    if i1 <= i0 or j1 <= j0:
        return
    win = (slice(int(j0), int(j1)), slice(int(i0), int(i1)))
    inside = ellipse(x[win], y[win], cx, cy, a, b)
    if where is not None:
        inside &= where[win]
    out[win][inside] = value


def _profile(z: float, z0: float, z1: float) -> float:
    """0 outside [z0, z1], rising to 1 in the middle: an organ's size along z."""
    if z <= z0 or z >= z1:
        return 0.0
    return float(np.sin(np.pi * (z - z0) / (z1 - z0)) ** 0.6)


def slice_organs(x: NDArray[np.float32], y: NDArray[np.float32], z: float, body: Body,
                 z_extent: float) -> NDArray[np.uint8]:
    """Organ codes of the axial slice at height ``z`` mm."""
    hw, hd = body.half_width, body.half_depth
    out = np.full(x.shape, AIR, dtype=np.uint8)
    out[ellipse(x, y, 0, 0, hw, hd)] = FAT
    inner_w, inner_d = hw - body.fat, hd - body.fat
    out[ellipse(x, y, 0, 0, inner_w, inner_d)] = SOFT_TISSUE
    cav_w, cav_d = inner_w - body.muscle, inner_d - body.muscle
    cavity = ellipse(x, y, 0, 0, cav_w, cav_d)
    out[cavity] = VISCERA  # bowel, vessels and fat between the organs
    _spine(out, x, y, z, hd)
    in_chest = z > body.lung_base - 20
    if in_chest:
        _ribs(out, x, y, z, body, cav_w, cav_d)
        _lungs_and_heart(out, x, y, z, body, cavity, cav_w, cav_d, z_extent)
    _abdomen(out, x, y, z, body, cav_w, cav_d)
    return out


def _spine(out: NDArray[np.uint8], x: NDArray[np.float32], y: NDArray[np.float32], z: float, hd: float) -> None:
    cy = 0.55 * hd
    out[ellipse(x, y, 0, cy, 20, 17)] = BONE
    out[ellipse(x, y, 0, cy + 27, 8, 7)] = SOFT_TISSUE  # spinal canal
    arch = ellipse(x, y, 0, cy + 27, 15, 13) & ~ellipse(x, y, 0, cy + 27, 8, 7)
    out[arch] = BONE
    out[ellipse(x, y, 0, cy + 45, 5, 9)] = BONE  # spinous process


def _ribs(out: NDArray[np.uint8], x: NDArray[np.float32], y: NDArray[np.float32], z: float,
          body: Body, cav_w: float, cav_d: float) -> None:
    # Ribs run obliquely, so each appears as a short bony oval at a height-dependent angle.
    for n in range(9):
        angle = n * 2 * np.pi / 9 + body.rib_phase + z / 60.0
        if np.sin(z / 9.0 + n) < 0.1:
            continue
        cx, cy = (cav_w + 4) * np.cos(angle), (cav_d + 4) * np.sin(angle)
        paint(out, BONE, x, y, float(cx), float(cy), 7, 5)


def _lungs_and_heart(out: NDArray[np.uint8], x: NDArray[np.float32], y: NDArray[np.float32], z: float,
                     body: Body, cavity: NDArray[np.bool_], cav_w: float, cav_d: float,
                     z_extent: float) -> None:
    size = _profile(z, body.lung_base - 20, z_extent + 60)
    for side in (-1, 1):
        lung = ellipse(x, y, side * 0.48 * cav_w, 0.02 * cav_d, 0.45 * cav_w * size, 0.88 * cav_d * size)
        out[lung & cavity] = LUNG
    heart_size = _profile(z, body.lung_base - 10, body.lung_base + 0.45 * (z_extent - body.lung_base))
    out[ellipse(x, y, 0.12 * cav_w, -0.25 * cav_d, 0.36 * cav_w * heart_size, 0.42 * cav_d * heart_size)] = HEART
    out[ellipse(x, y, 0.15 * cav_w, 0.38 * cav_d, 12, 12)] = HEART  # descending aorta
    lung = out == LUNG
    for seg in body.vessels:
        _vessel_dot(out, x, y, z, seg, lung)


def _vessel_dot(out: NDArray[np.uint8], x: NDArray[np.float32], y: NDArray[np.float32], z: float,
                seg: NDArray[np.float64], lung: NDArray[np.bool_]) -> None:
    (x0, y0, z0), (x1, y1, z1) = seg
    if not min(z0, z1) <= z <= max(z0, z1) or abs(z1 - z0) < 1e-6:
        return
    t = (z - z0) / (z1 - z0)
    radius = 3.5 * (1 - t) + 1.0  # thinner towards the periphery
    px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    stretch = 1 + min(3.0, float(np.hypot(x1 - x0, y1 - y0) / abs(z1 - z0)))  # oblique cut: oval
    paint(out, SOFT_TISSUE, x, y, float(px), float(py), radius * stretch, radius, where=lung)


def _abdomen(out: NDArray[np.uint8], x: NDArray[np.float32], y: NDArray[np.float32], z: float,
             body: Body, cav_w: float, cav_d: float) -> None:
    liver = _profile(z, body.liver_top - 175, body.liver_top)
    lobe = ellipse(x, y, -0.38 * cav_w, -0.05 * cav_d, 0.55 * cav_w * liver, 0.78 * cav_d * liver)
    left_lobe = ellipse(x, y, 0.05 * cav_w, -0.45 * cav_d, 0.35 * cav_w * liver, 0.3 * cav_d * liver)
    under_dome = z > body.lung_base - 20
    liver_mask = (lobe | (left_lobe & (z > 0.4 * body.lung_base))) & ellipse(x, y, 0, 0, cav_w, cav_d)
    if under_dome:  # the dome is liver in the middle and lung around it
        liver_mask &= ~(out == BONE)
    out[liver_mask & (out != BONE)] = LIVER
    if z < body.lung_base + 10:
        spleen = _profile(z, 0.1 * body.lung_base, body.lung_base + 10)
        out[ellipse(x, y, 0.62 * cav_w, 0.3 * cav_d, 0.22 * cav_w * spleen, 0.3 * cav_d * spleen)
            & (out == VISCERA)] = SPLEEN
        stomach = _profile(z, 0.3 * body.lung_base, body.lung_base + 5)
        st = ellipse(x, y, 0.35 * cav_w, -0.3 * cav_d, 0.25 * cav_w * stomach, 0.3 * cav_d * stomach)
        out[st & (out == VISCERA)] = STOMACH
