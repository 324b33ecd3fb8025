"""Paint the anatomy slice by slice into an organ-code volume and a sharp (pre-blur) HU volume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.synth import abdomen, thorax, torso
from viewer.synth.anatomy import Anatomy, diaphragm, level
from viewer.synth.canvas import Canvas
from viewer.synth.grid import F32, Frame, Lattice, SliceField
from viewer.synth.labels import Tissue, draw_tissue_hu, organ_lut

DIAPHRAGM_MM = 4.0  # muscle between the lung bases and the abdominal organs


@dataclass(frozen=True)
class Fields:
    """The smooth random fields the painters use, each evaluated slice by slice."""

    wobble: SliceField    # ~3 cm features: irregular organ boundaries
    loops: SliceField     # ~1.5 cm features: bowel loops
    texture: SliceField   # ~8 mm features: tissue texture

    @staticmethod
    def draw(rng: np.random.Generator, frame: Frame) -> Fields:
        """Fixed-size lattices: the draws and the fields do not depend on the grid."""
        return Fields(SliceField(Lattice(rng, 30.0), frame), SliceField(Lattice(rng, 15.0), frame),
                      SliceField(Lattice(rng, 8.0), frame))


@dataclass
class Anatomical:
    """The painted anatomy: organ codes and sharp HU, both (z, y, x), and each tissue's mean HU."""

    organs: NDArray[np.uint8]
    hu: F32
    tissue_hu: F32


def _canvas(frame: Frame, an: Anatomy, k: int, dia: F32, fields: Fields,
            tissue: NDArray[np.uint8]) -> Canvas:
    """The canvas of slice ``k``, painting into ``tissue``."""
    w = float(frame.axis(0)[k])
    u, v = frame.axis(2)[None, :], frame.axis(1)[:, None]
    return Canvas(tissue=tissue, u=u, v=v, lv=level(an, w), above=dia < w,
                  below=dia - DIAPHRAGM_MM > w, wobble=fields.wobble.at(w))


def paint_slice(cv: Canvas, an: Anatomy, fields: Fields) -> None:
    """All painters in order; later ones overwrite earlier ones."""
    cavity = torso.paint_wall(cv)
    torso.paint_table(cv, an)
    if cv.below.any() and cv.lv.cav_scale > 0.0:
        abdomen.paint_bowel(cv, an, cavity, fields.loops.at(cv.w))
    torso.paint_ribs(cv, an, cavity)
    torso.paint_sternum(cv, an)
    thorax.paint_mediastinum(cv, an)
    thorax.paint_heart(cv, an, cavity)
    abdomen.paint_liver(cv, an, cavity)
    abdomen.paint_gallbladder(cv, an)
    abdomen.paint_stomach(cv, an, cavity)
    abdomen.paint_spleen(cv, an, cavity)
    abdomen.paint_kidneys(cv, an, cavity)
    abdomen.paint_psoas(cv)
    thorax.paint_great_vessels(cv, an)
    thorax.paint_airways(cv, an)
    torso.paint_spine(cv, an, cavity)


def _intensity(cv: Canvas, texture: F32, hu_lut: F32, amp_lut: F32) -> F32:
    """Sharp HU of a painted slice: tissue means, texture, the lungs' gravity gradient."""
    t = cv.tissue
    hu = hu_lut[t] + amp_lut[t] * texture
    lung = t == Tissue.LUNG
    hu += lung * thorax.lung_gradient(cv.v, cv.lv.cavity[2])
    return np.asarray(hu, dtype=np.float32)


def paint_anatomy(frame: Frame, an: Anatomy, rng: np.random.Generator) -> Anatomical:
    """Organ codes and sharp HU of the whole grid for body ``an``."""
    fields = Fields.draw(rng, frame)
    hu_lut, amp_lut = draw_tissue_hu(rng)
    codes = organ_lut()
    dia = diaphragm(an, frame.axis(2)[None, :], frame.axis(1)[:, None])
    out = Anatomical(np.empty(frame.shape, np.uint8), np.empty(frame.shape, np.float32), hu_lut)
    tissue = np.empty(frame.shape[1:], np.uint8)
    for k in range(frame.shape[0]):
        cv = _canvas(frame, an, k, dia, fields, tissue)
        paint_slice(cv, an, fields)
        np.take(codes, tissue, out=out.organs[k])
        out.hu[k] = _intensity(cv, fields.texture.at(cv.w), hu_lut, amp_lut)
    return out
