"""A finding's outline taken again from the CT, where the network found only part of a faint lesion.

On the liver, a metastasis 10-15 HU darker than the liver, in noise of 10-16 HU, barely shows voxel
by voxel. The network may be sure of a core of it and give the rest probability 0, so the finding is
a fraction of the lesion. Averaged over the lesion the contrast is plain, so here (model grid, one
box around the finding) the lesion's radius is fitted by contrast: the ball around the core whose
mean HU is furthest below the shell just outside it, with a mild preference for more voxels (noise).
If that ball is much larger than the finding, the finding becomes the region of the smoothed CT,
within the organ and near the ball, darker than a level between the lesion's and the organ's HU and
connected to the core. Otherwise the finding is left as the network drew it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.inference.manifest import GrowSpec

_SHELL_MM = 4.0  # width of the shell a ball is compared with
_FAR_MM = (2.0, 10.0)  # the organ's own level: this far outside the fitted ball
_STEP_MM = 1.0  # radii tried
_MIN_INSIDE, _MIN_SHELL, _MIN_FAR = 5, 20, 50  # voxels a mean needs
_SIX = ndimage.generate_binary_structure(3, 1)


def box_padding(spec: GrowSpec, spacing_zyx: tuple[float, float, float]) -> tuple[int, int, int]:
    """Voxels to add around a finding's box so that every ball tried, and its shells, fit."""
    reach_mm = max(spec.max_radius_mm * spec.reach, spec.max_radius_mm + _FAR_MM[1]) + _SHELL_MM
    pad = [int(math.ceil(reach_mm / s)) + 1 for s in spacing_zyx]
    return pad[0], pad[1], pad[2]


def grow_to_contrast(component: NDArray[np.bool_], core: NDArray[np.bool_], hu: NDArray[np.floating],
                     organ: NDArray[np.bool_], spacing_zyx: tuple[float, float, float],
                     spec: GrowSpec) -> NDArray[np.bool_] | None:
    """The grown finding on this box, or None to keep ``component`` as it is.

    All arrays are one box of the model's grid: ``component`` the finding, ``core`` the part the
    network is sure of (inside it, not empty), ``hu`` the CT there, ``organ`` the organ's voxels."""
    if not core.any():
        return None
    spacing = np.asarray(spacing_zyx, dtype=float)
    smooth = ndimage.gaussian_filter(hu.astype(np.float32), spec.smooth_mm / spacing) if spec.smooth_mm else hu
    centre = np.argwhere(core).mean(axis=0)
    grids = np.ogrid[tuple(slice(0, n) for n in hu.shape)]
    dist = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing)))
    allowed = organ | component
    voxel_mm3 = float(np.prod(spacing))
    own_radius = _sphere_radius(np.count_nonzero(component) * voxel_mm3)
    fit = _fit_radius(smooth, dist, allowed, max(3.0, _sphere_radius(np.count_nonzero(core) * voxel_mm3)), spec)
    if fit is None:
        return None
    radius, lesion_hu = fit
    if radius > spec.max_radius_mm - _STEP_MM or radius < spec.min_ratio * own_radius:
        return None  # the fit ran to its limit, or the finding already has the lesion's size
    far = (dist > radius + _FAR_MM[0]) & (dist <= radius + _FAR_MM[1]) & organ
    if np.count_nonzero(far) < _MIN_FAR:
        return None
    organ_hu = float(np.median(smooth[far]))
    if organ_hu - lesion_hu < spec.min_contrast_hu:
        return None
    darker = (smooth < lesion_hu + spec.level * (organ_hu - lesion_hu)) & allowed & (dist <= spec.reach * radius)
    darker = ndimage.binary_opening(darker, _SIX)  # cut thin bridges to dark texture nearby
    labels, _ = ndimage.label(darker)
    touched = np.unique(labels[core & (labels > 0)])
    grown = np.isin(labels, touched[touched > 0]) | core
    return np.asarray(ndimage.binary_fill_holes(grown), dtype=bool)


def _sphere_radius(volume_mm3: float) -> float:
    return math.cbrt(3 * volume_mm3 / (4 * math.pi))


def _fit_radius(smooth: NDArray[np.floating], dist: NDArray[np.float64], allowed: NDArray[np.bool_],
                start_mm: float, spec: GrowSpec) -> tuple[float, float] | None:
    """(radius in mm, mean HU inside) of the ball that stands out most from the shell around it."""
    best: tuple[float, float] | None = None
    best_score = -math.inf
    for radius in np.arange(start_mm, spec.max_radius_mm + 1e-6, _STEP_MM):
        inside = (dist <= radius) & allowed
        shell = (dist > radius) & (dist <= radius + _SHELL_MM) & allowed
        n_in, n_shell = int(np.count_nonzero(inside)), int(np.count_nonzero(shell))
        if n_in < _MIN_INSIDE or n_shell < _MIN_SHELL:
            continue
        mean_in = float(smooth[inside].mean())
        contrast = float(smooth[shell].mean()) - mean_in
        score = contrast * min(n_in, n_shell) ** spec.weight
        if score > best_score:
            best_score, best = score, (float(radius), mean_in)
    return best
