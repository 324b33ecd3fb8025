"""A deterministic synthetic chest/upper-abdomen CT with liver metastases and lung nodules.

The demo study of the app and the training-data source of its lesion model. Anatomy is defined in
millimetres, so any grid works: the default is a clinical 512 x 512 x 200 at 0.7 x 0.7 x 2.5 mm,
training uses coarser ones. The same seed and parameters give a bit-identical phantom.

Grid coordinates: voxel (z, y, x) lies at (x * sx, y * sy, z * sz) mm, with +x the patient's
left, +y posterior and +z superior (DICOM LPS). Column 0 is the patient's right, slice 0 the most
inferior. The field of view is centred on the body, the right hemidiaphragm near mid-height, so a
scan of ~100 mm or more shows both lungs and liver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.synth import imaging, vessels
from viewer.synth.anatomy import Anatomy, draw_anatomy, level
from viewer.synth.build import paint_anatomy
from viewer.synth.grid import F32, Frame
from viewer.synth.labels import (
    AIR,
    BONE,
    FAT,
    LIVER,
    LUNG,
    ORGAN_NAMES,
    SOFT_TISSUE,
    Tissue,
)
from viewer.synth.lesions import LIVER_METASTASIS, LUNG_NODULE
from viewer.synth.placement import (
    LesionPlan,
    LesionTruth,
    Scene,
    draw_lesions,
    place_lesions,
)

__all__ = ["AIR", "BONE", "FAT", "LIVER", "LIVER_METASTASIS", "LUNG", "LUNG_NODULE", "ORGAN_NAMES",
           "SOFT_TISSUE", "LesionTruth", "Phantom", "PhantomParams", "generate_phantom"]

_STREAMS = 5  # anatomy, vessels, lesion shapes, lesion positions, noise


def _range(name: str, value: tuple[float, float], lo: float, hi: float) -> None:
    """Raise ValueError unless ``value`` is an ordered (low, high) pair within [lo, hi]."""
    if not lo <= value[0] <= value[1] <= hi:
        raise ValueError(f"{name} must be an ordered range within [{lo}, {hi}]; got {value}")


@dataclass(frozen=True)
class PhantomParams:
    """What to generate. Shapes and spacings are (z, y, x); lengths in mm, intensities in HU."""

    shape: tuple[int, int, int] = (200, 512, 512)
    spacing: tuple[float, float, float] = (2.5, 0.7, 0.7)
    n_lesions: tuple[int, int] = (1, 5)                  # inclusive range drawn per phantom
    lesion_diameter_mm: tuple[float, float] = (5.0, 40.0)
    noise_hu: float = 12.0                               # SD of the CT noise
    liver_fraction: float = 0.5                          # share of lesions in the liver (rest: lungs)
    metastasis_contrast_hu: tuple[float, float] = (15.0, 45.0)  # how much darker than the liver
    nodule_hu: tuple[float, float] = (-50.0, 60.0)
    body_width_mm: tuple[float, float] = (290.0, 340.0)
    blur_sigma_vox: tuple[float, float, float] = (0.4, 0.8, 0.8)  # scanner resolution, (z, y, x)
    noise_correlation_vox: float = 0.6                   # in-plane Gaussian sigma of the noise grain
    lesion_margin_mm: float = 2.0                        # organ tissue kept around every lesion
    vessels: bool = True                                 # lung and liver vessel trees
    metastases_right: bool = True                        # metastasis centres right of the FOV's centre

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape must be three positive sizes; got {self.shape}")
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise ValueError(f"spacing must be three positive mm values; got {self.spacing}")
        _range("n_lesions", self.n_lesions, 0, 255)
        _range("lesion_diameter_mm", self.lesion_diameter_mm, 1e-3, 1e4)
        _range("metastasis_contrast_hu", self.metastasis_contrast_hu, 0.0, 500.0)
        _range("nodule_hu", self.nodule_hu, -1000.0, 500.0)
        _range("body_width_mm", self.body_width_mm, 100.0, 1000.0)
        if not 0.0 <= self.liver_fraction <= 1.0:
            raise ValueError(f"liver_fraction must be within [0, 1]; got {self.liver_fraction}")
        if self.noise_hu < 0 or self.noise_correlation_vox < 0 or min(self.blur_sigma_vox) < 0:
            raise ValueError("noise_hu, noise_correlation_vox and blur_sigma_vox must not be negative")


@dataclass(frozen=True, eq=False)
class Phantom:
    """A generated volume, its organ and lesion labels and the lesions' ground truth.

    Organ codes: AIR 0, SOFT_TISSUE 1, FAT 2, BONE 3, LUNG 4, LIVER 5 (lesions keep their organ's code).
    """

    hu: NDArray[np.int16]       # (z, y, x) Hounsfield units
    organs: NDArray[np.uint8]   # (z, y, x) organ codes
    lesions: NDArray[np.uint8]  # (z, y, x) 0 background, k = LesionTruth.label (sharp, pre-blur shape)
    truth: tuple[LesionTruth, ...]
    spacing: tuple[float, float, float]  # (z, y, x) mm
    seed: int


def _frame(params: PhantomParams, an: Anatomy) -> Frame:
    """The grid around the body: centred in-plane, the right dome near mid-height (seeded shifts)."""
    (nz, ny, nx), (sz, sy, sx) = params.shape, params.spacing
    origin = ((nx - 1) * sx / 2 + an.frame_dx, (ny - 1) * sy / 2 + an.frame_dy, (nz - 1) * sz / 2 + an.frame_dz)
    return Frame(params.shape, params.spacing, origin)


def _draw_vessels(frame: Frame, an: Anatomy, organs: NDArray[np.uint8], hu: F32,
                  rng: np.random.Generator, blood_hu: float) -> None:
    """Pulmonary vessels in the lungs, hepatic and portal veins in the liver."""
    hilum = level(an, an.hilum_w)
    dome = level(an, an.heart_w - an.heart_c * 0.6)
    ivc = (-dome.a_vb - 6.0, dome.v_vb - dome.b_vb - 8.0, an.heart_w - an.heart_c * 0.6)
    porta = (-30.0, dome.v_vb - dome.b_vb - 30.0, an.liver_bottom * 0.35)
    for specs, code in ((vessels.lung_trees(hilum.cavity[0] * 0.42, an.hilum_w), LUNG),
                        (vessels.liver_trees(ivc, porta), LIVER)):
        pool = vessels.pool_points(rng, frame, organs, code)

        def inside(points: NDArray[np.float64], code: int = code) -> NDArray[np.bool_]:
            return np.asarray(frame.lookup(organs, points) == code)

        for spec in specs:
            vessels.draw(frame, vessels.grow(spec, rng, pool, inside), hu, organs, code, blood_hu)


def generate_phantom(seed: int, params: PhantomParams = PhantomParams()) -> Phantom:
    """Generate one phantom; the same seed and parameters give a bit-identical result.

    Parameters
    ----------
    seed
        Seed of the phantom's ``numpy.random.Generator(PCG64(seed))``.
    params
        Grid, lesion and imaging parameters.

    Returns
    -------
    Phantom
        HU volume (int16), organ and lesion label volumes, and each lesion's ground truth.
    """
    streams = np.random.Generator(np.random.PCG64(seed)).spawn(_STREAMS)
    an = draw_anatomy(streams[0], params.body_width_mm)
    frame = _frame(params, an)
    painted = paint_anatomy(frame, an, streams[0])
    if params.vessels:
        _draw_vessels(frame, an, painted.organs, painted.hu, streams[1], float(painted.tissue_hu[Tissue.BLOOD]))
    plan = LesionPlan(params.n_lesions, params.lesion_diameter_mm, params.liver_fraction,
                      params.metastasis_contrast_hu, params.nodule_hu, params.lesion_margin_mm,
                      params.metastases_right)
    scene = Scene(frame, painted.organs, painted.hu, np.zeros(params.shape, np.uint8),
                  float(painted.tissue_hu[Tissue.LIVER]))
    truth = place_lesions(scene, plan, draw_lesions(streams[2], plan), streams[3])
    imaging.blur(painted.hu, params.blur_sigma_vox)
    hu = imaging.add_noise(painted.hu, streams[4], params.noise_hu, params.noise_correlation_vox)
    return Phantom(hu, painted.organs, scene.labels, truth, params.spacing, seed)
