"""Per-seed anatomy: a few dozen sizes and positions, and how the torso's cross-section varies with level.

All values are mm in the anatomical frame of :mod:`viewer.synth.grid` (u left, v posterior,
w superior; w = 0 at the apex of the right hemidiaphragm).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from viewer.synth.grid import F32

# name: (low, high) of the uniform draw; the order is the draw order, so only ever append.
_RANGES: dict[str, tuple[float, float]] = {
    "habitus": (0.0, 1.0),          # 0 lean .. 1 fat: subcutaneous/visceral fat, belly
    "width": (0.0, 1.0),            # position within PhantomParams.body_width_mm
    "ant_ratio": (0.68, 0.8),       # anterior body semi-axis / half width (chest)
    "post_ratio": (0.6, 0.7),       # posterior body semi-axis / half width
    "fat_mm": (4.0, 9.0),           # lean subcutaneous fat thickness (habitus adds)
    "mus_lat": (9.0, 14.0),
    "mus_ant_chest": (14.0, 24.0),  # pectoral muscles
    "mus_ant_abd": (8.0, 13.0),
    "canal_depth": (40.0, 48.0),    # skin-fat boundary to spinal canal centre, chest
    "dome_left": (-24.0, -10.0),    # left hemidiaphragm apex
    "dome_depth": (60.0, 80.0),     # how far the recesses fall below the domes
    "dome_su": (72.0, 88.0),
    "dome_sv": (70.0, 85.0),
    "apex": (195.0, 230.0),         # lung apices
    "liver_bottom": (-175.0, -125.0),
    "liver_u": (0.40, 0.50),        # right lobe centre, fraction of cavity half width (to the right)
    "liver_a": (0.62, 0.74),
    "liver_b": (0.80, 0.92),
    "left_lobe": (0.25, 0.55),      # how far the left lobe reaches to the left
    "left_lobe_bottom": (-80.0, -40.0),
    "heart_u": (18.0, 30.0), "heart_v": (-38.0, -24.0), "heart_w": (48.0, 62.0),
    "heart_a": (56.0, 66.0), "heart_b": (42.0, 50.0), "heart_c": (52.0, 62.0),
    "heart_angle": (0.45, 0.8),     # radians, long axis towards left-anterior
    "aorta_r": (10.5, 14.0),
    "arch_below_apex": (55.0, 75.0),
    "trachea_r": (7.5, 9.5),
    "spine_phase": (0.0, 1.0),
    "vb_scale": (0.92, 1.1),
    "rib_pitch": (25.0, 31.0),
    "rib_duty": (0.3, 0.38), 
    "rib_drop": (95.0, 130.0),
    "rib_phase": (0.0, 1.0),
    "rib_thick": (7.0, 9.0), 
    "sternum_w": (26.0, 36.0),
    "sternum_t": (9.0, 13.0),
    "kidney_w_left": (-105.0, -80.0),
    "kidney_drop_right": (8.0, 25.0),
    "kidney_size": (0.9, 1.12),
    "spleen_bottom": (-130.0, -85.0),
    "spleen_size": (0.85, 1.2),
    "stomach_bottom": (-100.0, -60.0),
    "stomach_air": (0.0, 1.0),
    "gallbladder": (0.0, 1.0),      # present when above 0.2
    "gb_w": (-95.0, -60.0),
    "bowel": (-0.4, 0.4),           # bowel/fat threshold: higher means more fat between loops
    "hilum_below_carina": (10.0, 25.0),
    "frame_dz": (-15.0, 15.0),      # shifts of the anatomy within the field of view
    "frame_dx": (-8.0, 8.0),
    "frame_dy": (-6.0, 10.0),
}


@dataclass(frozen=True)
class Anatomy:
    """One body's drawn parameters (see ``_RANGES`` for their meaning and ranges)."""

    habitus: float
    width: float
    ant_ratio: float
    post_ratio: float
    fat_mm: float
    mus_lat: float
    mus_ant_chest: float
    mus_ant_abd: float
    canal_depth: float
    dome_left: float
    dome_depth: float
    dome_su: float
    dome_sv: float
    apex: float
    liver_bottom: float
    liver_u: float
    liver_a: float
    liver_b: float
    left_lobe: float
    left_lobe_bottom: float
    heart_u: float
    heart_v: float
    heart_w: float
    heart_a: float
    heart_b: float
    heart_c: float
    heart_angle: float
    aorta_r: float
    arch_below_apex: float
    trachea_r: float
    spine_phase: float
    vb_scale: float
    rib_pitch: float
    rib_duty: float
    rib_drop: float
    rib_phase: float
    rib_thick: float
    sternum_w: float
    sternum_t: float
    kidney_w_left: float
    kidney_drop_right: float
    kidney_size: float
    spleen_bottom: float
    spleen_size: float
    stomach_bottom: float
    stomach_air: float
    gallbladder: float
    gb_w: float
    bowel: float
    hilum_below_carina: float
    frame_dz: float
    frame_dx: float
    frame_dy: float
    half_width: float = 160.0  # set from PhantomParams.body_width_mm

    @property
    def arch_w(self) -> float:
        """Level of the top of the aortic arch."""
        return self.apex - self.arch_below_apex

    @property
    def carina_w(self) -> float:
        """Level of the tracheal bifurcation."""
        return self.arch_w - 22.0

    @property
    def hilum_w(self) -> float:
        """Level of the pulmonary hila, where the lung vessel trees start."""
        return self.carina_w - self.hilum_below_carina


def draw_anatomy(rng: np.random.Generator, body_width_mm: tuple[float, float]) -> Anatomy:
    """Draw one body; the number of draws is fixed, so later streams do not depend on it."""
    values = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in _RANGES.items()}
    lo, hi = body_width_mm
    values["half_width"] = 0.5 * (lo + values["width"] * (hi - lo))
    assert set(values) == {f.name for f in fields(Anatomy)}
    return Anatomy(**values)


def ramp(w: float, w0: float, w1: float) -> float:
    """Smoothstep from 0 (at ``w0``) to 1 (at ``w1``)."""
    t = min(max((w - w0) / (w1 - w0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def lerp(a: float, b: float, t: float) -> float:
    """Linear blend of ``a`` and ``b``."""
    return a + (b - a) * t


@dataclass(frozen=True)
class Level:
    """The torso's cross-section at one level: body, wall layers, cavity and spine (mm)."""

    w: float
    chest: float          # 0 in the abdomen .. 1 in the chest
    neck: float           # 0 below the lung apices .. 1 in the neck
    a: float              # body half width
    b_ant: float          # body anterior / posterior semi-axes
    b_post: float
    fat_lat: float
    fat_ant: float
    fat_post: float
    mus_lat: float
    mus_ant: float
    cav_scale: float      # 1 where the thoracic/abdominal cavity is full size, 0 above the apices
    a_vb: float           # vertebral body half width / half depth
    b_vb: float
    v_canal: float        # spinal canal centre
    v_vb: float           # vertebral body centre

    @property
    def cavity(self) -> tuple[float, float, float]:
        """Cavity half width, anterior and posterior semi-axes."""
        s = self.cav_scale
        return ((self.a - self.fat_lat - self.mus_lat) * s,
                (self.b_ant - self.fat_ant - self.mus_ant) * s,
                (self.v_canal + 18.0) * s)


def level(an: Anatomy, w: float) -> Level:
    """The cross-section of body ``an`` at level ``w``."""
    chest, neck = ramp(w, -90.0, 10.0), ramp(w, an.apex - 10.0, an.apex + 40.0)
    a = lerp(lerp(an.half_width * 0.97, an.half_width, chest), 58.0 + 12.0 * an.habitus, neck)
    b_ant_chest = an.half_width * an.ant_ratio
    b_ant = lerp(lerp(b_ant_chest * (1.0 + 0.3 * an.habitus), b_ant_chest, chest), 52.0, neck)
    b_post = lerp(an.half_width * an.post_ratio, 62.0, neck)
    fat = (an.fat_mm + 26.0 * an.habitus) * lerp(1.0, 0.45, neck)
    a_vb = lerp(23.0, 16.5, ramp(w, -150.0, 60.0)) * an.vb_scale * lerp(1.0, 0.72, neck)
    v_canal = b_post - fat * 0.7 - lerp(an.canal_depth + 10.0, an.canal_depth, chest) * lerp(1.0, 0.8, neck)
    top = an.apex + 6.0
    cav = np.sqrt(max(1.0 - ((w - (top - 80.0)) / 80.0) ** 2, 0.0)) if w > top - 80.0 else 1.0
    return Level(w=w, chest=chest, neck=neck, a=a, b_ant=b_ant, b_post=b_post,
                 fat_lat=fat * lerp(1.35, 0.9, chest), fat_ant=fat * lerp(1.7, 0.8, chest),
                 fat_post=fat * 0.7, mus_lat=an.mus_lat, mus_ant=lerp(an.mus_ant_abd, an.mus_ant_chest, chest),
                 cav_scale=float(cav) if w < top else 0.0, a_vb=a_vb, b_vb=a_vb * 0.8,
                 v_canal=v_canal, v_vb=v_canal - 8.0 - a_vb * 0.8 - 1.5)


def diaphragm(an: Anatomy, u: F32, v: F32) -> F32:
    """Level of the diaphragm's upper surface at in-plane points (the lungs lie above it)."""
    half = an.half_width - an.fat_mm - an.mus_lat
    # the recesses fall steeply at the back and little at the front (the xiphoid attachment)
    sv = np.where(v > -10.0, np.float32(an.dome_sv * 0.8), np.float32(an.dome_sv * 1.8))
    rv = ((v + 10.0) / sv) ** 2
    right = 0.0 - an.dome_depth * (((u + 0.42 * half) / an.dome_su) ** 2 + rv)
    left = an.dome_left - an.dome_depth * (((u - 0.42 * half) / an.dome_su) ** 2 + rv)
    t = 1.0 / (1.0 + np.exp(-(u - 8.0) / 14.0))
    return np.asarray(np.maximum((1.0 - t) * right + t * left, -135.0), dtype=np.float32)
