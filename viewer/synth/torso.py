"""The torso's wall and skeleton on one slice: skin, fat, muscle, cavity, ribs, sternum, spine."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from viewer.synth.anatomy import Anatomy
from viewer.synth.canvas import BoolArr, Canvas, ellipse
from viewer.synth.grid import F32
from viewer.synth.labels import Tissue

CORTEX_MM = 1.3  # cortical bone thickness; deeper than this is marrow


def body_rho2(cv: Canvas, a: float, b_ant: float, b_post: float, square: float = 0.45) -> F32:
    """Squared normalised radius of the body-like outline: an ellipse with a squarer, flatter back."""
    u2 = (cv.u / np.float32(max(a, 1.0))) ** 2
    b = np.where(cv.v < 0, np.float32(max(b_ant, 1.0)), np.float32(max(b_post, 1.0)))
    v2 = (cv.v / b) ** 2
    back = (cv.v > 0).astype(np.float32) * np.float32(square)
    # the squaring term only acts inside the unit box, so far points stay outside
    return np.asarray(u2 + v2 - back * np.minimum(u2, 1.0) * np.minimum(v2, 1.0), dtype=np.float32)


def paint_wall(cv: Canvas) -> F32:
    """Skin, subcutaneous fat, muscle and the cavity's contents; returns the cavity's rho^2."""
    lv = cv.lv
    cv.tissue[...] = Tissue.AIR
    cv.paint(Tissue.SKIN, body_rho2(cv, lv.a, lv.b_ant, lv.b_post) + 0.01 * cv.wobble <= 1.0)
    cv.paint(Tissue.FAT, body_rho2(cv, lv.a - 2.0, lv.b_ant - 2.0, lv.b_post - 2.0) <= 1.0)
    inner = body_rho2(cv, lv.a - 2.0 - lv.fat_lat, lv.b_ant - 2.0 - lv.fat_ant, lv.b_post - 2.0 - lv.fat_post)
    cv.paint(Tissue.MUSCLE, inner + 0.05 * cv.wobble <= 1.0)
    a_c, b_ant_c, b_post_c = lv.cavity
    cavity = body_rho2(cv, a_c, b_ant_c, b_post_c, square=0.3)
    if lv.cav_scale > 0.0:
        inside = cavity <= 1.0
        cv.paint(Tissue.LUNG, inside & cv.above)
        cv.paint(Tissue.FAT, inside & cv.below)
    return cavity


def paint_table(cv: Canvas, an: Anatomy) -> None:
    """The scanner table under the patient's back: a cradle-shaped carbon shell around foam."""
    top = an.half_width * an.post_ratio + 1.0
    win = cv.window(-230.0, 230.0, top - 15.0, top + 20.0)
    u, v = cv.uv(win)
    depth = v - np.float32(top) + np.float32(2.5e-4) * u * u  # its sides curve up round the patient
    slab = (depth >= 0.0) & (depth < 16.0) & (np.abs(u) < 220.0) & cv.where(Tissue.AIR, win)
    cv.paint(Tissue.TABLE_SHELL, slab, win)
    cv.paint(Tissue.TABLE_CORE, slab & (depth > 3.0) & (depth < 13.0), win)


def _cortex_or_marrow(depth: F32) -> F32:
    """Tissue class of bone at a depth (mm) below its surface."""
    return np.where(depth < CORTEX_MM, np.float32(Tissue.CORTEX), np.float32(Tissue.MARROW))


def _paint_bone(cv: Canvas, rows: NDArray[np.intp], cols: NDArray[np.intp], keep: BoolArr, depth: F32) -> None:
    """Paint bone on scattered pixels ``(rows, cols)[keep]`` by depth below the surface."""
    cv.tissue[rows[keep], cols[keep]] = _cortex_or_marrow(depth[keep]).astype(np.uint8)


def paint_ribs(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Ribs (and costal cartilage, scapulae) in the wall just outside the cavity.

    Each rib descends from back to front, so a slice cuts it as an arc whose position along the
    wall depends on the level: the phase below advances with the angle around the body.
    """
    lv = cv.lv
    if lv.cav_scale <= 0.0 or cv.w < -140.0:
        return
    reach = an.rib_thick + 14.0
    rows, cols = np.nonzero((cavity > 1.0) & (cavity < (1.0 + reach / max(lv.cavity[0] * 0.55, 20.0)) ** 2))
    u, v = cv.u[0, cols], cv.v[rows, 0]
    r = np.sqrt(u * u + v * v) + np.float32(1e-3)
    out = r * (1.0 - 1.0 / np.sqrt(cavity[rows, cols]))          # mm outside the cavity, roughly
    g = np.arccos(np.clip(v / r, -1.0, 1.0)) / np.float32(np.pi)  # 0 at the back .. 1 at the front
    _ribs(cv, an, rows, cols, out, g, np.abs(u))
    _scapulae(cv, an, rows, cols, out, g)


def _ribs(cv: Canvas, an: Anatomy, rows: NDArray[np.intp], cols: NDArray[np.intp], out: F32, g: F32,
          au: F32) -> None:
    """Ribs on wall pixels ``out`` mm outside the cavity at angle ``g`` (0 back .. 1 front)."""
    lv, w = cv.lv, cv.w
    height = w + an.rib_drop * g
    f = np.mod((height - an.rib_phase * an.rib_pitch) / an.rib_pitch, 1.0)
    duty = an.rib_duty
    radial = np.minimum(out - 1.0, 1.0 + an.rib_thick - out)
    present = ((f < duty) & (radial > 0) & (w > -125.0 + 100.0 * g * g) & (height < an.apex + 15.0)
               & (au > lv.a_vb + 10.0) & (g < 0.93))
    depth = np.minimum(radial, np.minimum(f, duty - f) * an.rib_pitch * 0.5)
    cartilage = present & (g > 0.8)
    _paint_bone(cv, rows, cols, present & ~cartilage, depth)
    cv.tissue[rows[cartilage], cols[cartilage]] = Tissue.CARTILAGE


def _scapulae(cv: Canvas, an: Anatomy, rows: NDArray[np.intp], cols: NDArray[np.intp], out: F32,
              g: F32) -> None:
    """Shoulder blades: thin plates behind the upper ribs, at the back and sides."""
    if not an.apex - 140.0 < cv.w < an.apex - 5.0:
        return
    inner = an.rib_thick + 6.0
    depth = np.minimum(out - inner, inner + 3.5 - out)
    plate = (depth > 0) & (g > 0.08) & (g < 0.32 + 0.002 * (cv.w - an.apex + 140.0))
    _paint_bone(cv, rows, cols, plate, depth)


def paint_sternum(cv: Canvas, an: Anatomy) -> None:
    """The sternum in front of the mediastinum, wider at the manubrium."""
    lv = cv.lv
    if not (an.heart_w - an.heart_c * 0.75 < cv.w < an.apex - 8.0) or lv.cav_scale <= 0.0:
        return
    half_w = an.sternum_w * 0.5 * (1.0 + 0.5 * float(cv.w > an.apex - 55.0))
    half_t = an.sternum_t * 0.5
    cvv = -lv.cavity[1] - half_t - 0.5
    win = cv.window(-half_w - 1.0, half_w + 1.0, cvv - half_t - 1.0, cvv + half_t + 1.0)
    u, v = cv.uv(win)
    rho = np.sqrt(ellipse(u, v, 0.0, cvv, half_w, half_t))
    inside = rho <= 1.0
    depth = (1.0 - rho) * np.float32(half_t)
    cv.paint(Tissue.MARROW, inside, win)
    cv.paint(Tissue.CORTEX, inside & (depth < CORTEX_MM), win)


def vertebral_phase(w: float, an: Anatomy) -> float:
    """Fraction of the current vertebral level (0..1; discs at the start); taller levels lower down."""
    lumbar = np.log1p(np.exp(-(w + 60.0) / 40.0))  # softplus: the pitch grows from 28 to 36 mm
    return float(np.mod(w / 28.0 + 0.317 * lumbar + an.spine_phase, 1.0))


def paint_spine(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Vertebral body (or disc), spinal canal, neural arch, spinous and transverse processes."""
    lv = cv.lv
    f = vertebral_phase(cv.w, an)
    _column_muscle(cv, cavity)
    _vertebral_body(cv, f, pitch=28.0 + 8.0 * (1.0 - lv.chest))
    r_can = 7.5 + 1.5 * lv.neck
    win = cv.around(0.0, lv.v_canal + 20.0, 45.0 + lv.a_vb)
    u, v = cv.uv(win)
    r = np.sqrt(u * u + (v - np.float32(lv.v_canal)) ** 2)
    if 0.12 < f < 0.82:
        arch = (r >= r_can) & (r < r_can + 5.0) & (v > lv.v_canal - r_can * 0.6)
        cv.paint(Tissue.CORTEX, arch, win)
        cv.paint(Tissue.MARROW, arch & (np.abs(r - r_can - 2.5) < 1.0), win)
    _processes(cv, f, r_can, win)
    cv.paint(Tissue.CSF, r < r_can, win)


def _column_muscle(cv: Canvas, cavity: F32) -> None:
    """Paraspinal muscle between the vertebral body and the back: the lungs wrap around it."""
    lv = cv.lv
    win = cv.around(0.0, lv.v_vb + 35.0, lv.a_vb + 45.0)
    u, v = cv.uv(win)
    # rib heads and transverse processes run back-outwards from the vertebral body: the lungs'
    # paravertebral gutters curve round this rounded block
    depth = lv.v_canal + 10.0 - lv.v_vb
    block = ellipse(u, v, 0.0, lv.v_canal + 10.0, lv.a_vb + 24.0, depth) <= 1.0
    mask = block | (ellipse(u, v, 0.0, lv.v_vb, lv.a_vb + 2.0, lv.b_vb + 2.0) <= 1.0)
    cv.paint(Tissue.MUSCLE, mask & (cavity[win] <= 1.0), win)


def _vertebral_body(cv: Canvas, f: float, pitch: float) -> None:
    """A disc at the start of each level, else bone with a cortical rim and endplates."""
    lv, disc = cv.lv, 0.22
    win = cv.around(0.0, lv.v_vb, lv.a_vb + 1.0)
    u, v = cv.uv(win)
    rho = np.sqrt(ellipse(u, v, 0.0, lv.v_vb, lv.a_vb, lv.b_vb))
    inside = rho <= 1.0
    if f < disc:
        cv.paint(Tissue.DISC, inside, win)
        return
    endplate = min(f - disc, 1.0 - f) * pitch
    depth = np.minimum((1.0 - rho) * np.float32(lv.b_vb), np.float32(endplate))
    cv.paint(Tissue.MARROW, inside, win)
    cv.paint(Tissue.CORTEX, inside & (depth < CORTEX_MM), win)


def _processes(cv: Canvas, f: float, r_can: float, win: tuple[slice, slice]) -> None:
    """Spinous process (sloping down, so out of phase) and transverse processes."""
    lv = cv.lv
    u, v = cv.uv(win)
    tip = lv.b_post - lv.fat_post - 10.0
    start = lv.v_canal + r_can + 3.0
    if 0.15 < np.mod(f + 0.3, 1.0) < 0.7 and tip > start:
        half = 0.5 * (tip - start)
        spin = np.sqrt(ellipse(u, v, 0.0, start + half, 3.5, half))
        cv.paint(Tissue.CORTEX, spin <= 1.0, win)
        cv.paint(Tissue.MARROW, spin <= 0.45, win)
    if 0.25 < f < 0.65:
        length = 12.0 + 6.0 * (1.0 - lv.chest)
        for side in (-1.0, 1.0):
            cu = side * (r_can + 3.0 + length)
            tp = np.sqrt(ellipse(u, v, cu, lv.v_canal - 1.0, length, 4.5, angle=-side * 0.3))
            cv.paint(Tissue.CORTEX, tp <= 1.0, win)
            cv.paint(Tissue.MARROW, tp <= 0.55, win)
