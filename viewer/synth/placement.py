"""Put lesions into the painted anatomy: inside their organ, apart from each other, measured on the mask."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.synth import lesions as ls
from viewer.synth.grid import F32, Frame
from viewer.synth.labels import LIVER, LUNG
from viewer.synth.measure import lesion_measurements

F64 = NDArray[np.float64]
Box = tuple[slice, slice, slice]
_ORGAN = {ls.LIVER_METASTASIS: LIVER, ls.LUNG_NODULE: LUNG}
_TRIES = 40                                  # candidate centres per size
_SHRINK = (1.0, 0.85, 0.7, 0.55, 0.4)        # sizes tried, as fractions of the drawn diameter
_CUBE = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class LesionTruth:
    """Ground truth of one lesion, measured on its voxel mask.

    ``centre_mm`` is the mask's centroid in grid (x, y, z) mm: voxel (z, y, x) lies at
    (x * sx, y * sy, z * sz). The axes follow :func:`viewer.synth.measure.lesion_measurements`.
    """

    label: int                               # 1..n, its value in Phantom.lesions
    kind: str                                # LIVER_METASTASIS or LUNG_NODULE
    centre_mm: tuple[float, float, float]
    long_axis_mm: float                      # RECIST long axis
    short_axis_mm: float                     # RECIST short axis
    volume_ml: float
    max_diameter_mm: float                   # nominal 3-D size it was generated with


@dataclass(frozen=True)
class LesionPlan:
    """What to place: count, mix, sizes and intensities (see PhantomParams)."""

    count: tuple[int, int]
    diameter_mm: tuple[float, float]
    liver_fraction: float
    contrast_hu: tuple[float, float]
    nodule_hu: tuple[float, float]
    margin_mm: float
    metastases_right: bool = True  # metastasis centres on the patient's right of the field of view


@dataclass
class Scene:
    """The volumes lesions go into, and the liver's mean HU (metastases are drawn relative to it)."""

    frame: Frame
    organs: NDArray[np.uint8]
    hu: F32
    labels: NDArray[np.uint8]
    liver_hu: float
    bounds: dict[int, tuple[F64, F64] | None] = field(default_factory=dict)  # per organ: (u, v, w) lo, hi


def draw_lesions(rng: np.random.Generator, plan: LesionPlan) -> list[tuple[ls.LesionShape, ls.LesionShape]]:
    """Each lesion as (preferred kind, fallback kind) shapes; both drawn so the draws stay fixed."""
    n = int(rng.integers(plan.count[0], plan.count[1] + 1))
    liver = rng.random(n) < plan.liver_fraction
    if n >= 2 and (liver.all() or not liver.any()):
        liver[-1] = not liver[-1]  # always a mix of both kinds when there are two or more
    out = []
    for in_liver in liver:
        kinds = (ls.LIVER_METASTASIS, ls.LUNG_NODULE) if in_liver else (ls.LUNG_NODULE, ls.LIVER_METASTASIS)
        first, second = (ls.draw_shape(rng, k, plan.diameter_mm, plan.contrast_hu, plan.nodule_hu)
                         for k in kinds)
        out.append((first, second))
    return out


def _fits(scene: Scene, shape: ls.LesionShape, centre: F64, margin: float) -> tuple[Box, F32] | None:
    """The lesion's box and normalised radius if it fits: inside its organ, clear of other lesions."""
    code, frame = _ORGAN[shape.kind], scene.frame
    idx = frame.index((float(centre[0]), float(centre[1]), float(centre[2])))
    if not frame.contains(idx) or scene.organs[idx] != code or scene.labels[idx]:
        return None
    box = ls.box_around(shape, centre, frame, margin + max(frame.spacing))
    if box is None:
        return None
    r = ls.rho(shape, centre, frame, box)
    # the margin, then one voxel more, so no two lesions' voxels ever touch (even diagonally)
    grown = ndimage.binary_dilation(r <= 1.0 + margin / float(shape.semi.min()), _CUBE)
    if not (scene.organs[box][grown] == code).all() or scene.labels[box][grown].any():
        return None
    return box, r


def _search(scene: Scene, shape: ls.LesionShape, rng: np.random.Generator, plan: LesionPlan,
            margin: float) -> tuple[ls.LesionShape, F64, Box, F32] | None:
    """A place for the lesion (random centres in its organ's box), shrinking it when none fits."""
    bounds = scene.bounds.get(_ORGAN[shape.kind])
    if bounds is None:
        return None
    bounds = (bounds[0].copy(), bounds[1].copy())
    if plan.metastases_right and shape.kind == ls.LIVER_METASTASIS:
        mid = float(scene.frame.axis(2)[[0, -1]].mean())  # the field of view's centre column
        bounds[1][0] = min(bounds[1][0], mid - 0.25 * shape.diameter)
        if bounds[1][0] <= bounds[0][0]:
            return None
    for factor in _SHRINK:
        trial = shape.scaled(factor)
        if factor < 1.0 and trial.diameter < plan.diameter_mm[0]:
            break
        for centre in rng.uniform(bounds[0], bounds[1], size=(_TRIES, 3)):
            fit = _fits(scene, trial, centre, margin)
            if fit is not None:
                return trial, centre, fit[0], fit[1]
    return None


def _paint(scene: Scene, shape: ls.LesionShape, centre: F64, box: Box, r: F32, label: int) -> NDArray[np.bool_]:
    """Write the lesion's HU and label; returns its mask in ``box`` (never empty)."""
    mask = r <= 1.0
    idx = scene.frame.index((float(centre[0]), float(centre[1]), float(centre[2])))
    mask[tuple(i - b.start for i, b in zip(idx, box, strict=True))] = True  # at least the centre voxel
    region = scene.hu[box]
    region[mask] = ls.intensity(shape, r[mask], region[mask], scene.liver_hu)
    scene.labels[box][mask] = label
    return mask


def _truth(label: int, shape: ls.LesionShape, mask: NDArray[np.bool_], box: Box,
           spacing: tuple[float, float, float]) -> LesionTruth:
    """The lesion's ground truth, measured on its mask (``box`` places the mask in the grid)."""
    m = lesion_measurements(mask, spacing)
    c = np.argwhere(mask).mean(axis=0) + [b.start for b in box]
    centre = (float(c[2] * spacing[2]), float(c[1] * spacing[1]), float(c[0] * spacing[0]))
    return LesionTruth(label, shape.kind, centre, m.long_axis_mm, m.short_axis_mm, m.volume_ml, shape.diameter)


def place_lesions(scene: Scene, plan: LesionPlan, shapes: list[tuple[ls.LesionShape, ls.LesionShape]],
                  rng: np.random.Generator) -> tuple[LesionTruth, ...]:
    """Place the drawn lesions (preferred kind first, else the other); those that fit nowhere are left out."""
    margin = max(plan.margin_mm, min(scene.frame.spacing[1:]))
    scene.bounds.update({code: scene.frame.bounds(scene.organs, code) for code in (LIVER, LUNG)})
    truth: list[LesionTruth] = []
    for options in shapes:
        for shape in options:
            found = _search(scene, shape, rng, plan, margin)
            if found is not None:
                label = len(truth) + 1
                mask = _paint(scene, found[0], found[1], found[2], found[3], label)
                truth.append(_truth(label, found[0], mask, found[2], scene.frame.spacing))
                break
    return tuple(truth)
