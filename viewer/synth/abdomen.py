"""Upper abdomen on one slice: bowel and fat, liver, gallbladder, stomach, spleen, kidneys, psoas."""

from __future__ import annotations

import numpy as np

from viewer.synth.anatomy import Anatomy
from viewer.synth.canvas import BoolArr, Canvas, Window, ellipse, section
from viewer.synth.grid import F32
from viewer.synth.labels import Tissue


def _in_abdomen(cv: Canvas, win: Window, cavity: F32) -> BoolArr:
    """Below the diaphragm and inside the cavity."""
    return np.asarray(cv.below[win] & (cavity[win] <= 1.0))


def paint_bowel(cv: Canvas, an: Anatomy, cavity: F32, loops: F32) -> None:
    """Bowel loops (soft tissue, some gas) in visceral fat: blobs of a smooth random field."""
    fat = cv.where(Tissue.FAT) & (cavity <= 1.0) & cv.below
    threshold = an.bowel + 0.35 * an.habitus
    cv.paint(Tissue.BOWEL, fat & (loops > threshold))
    cv.paint(Tissue.GAS, fat & (loops > threshold + 0.5) & (cv.wobble > 1.2))


def paint_liver(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Right lobe filling the right dome and tapering down to its tip, plus the left lobe."""
    a_c, b_ant, b_post = cv.lv.cavity
    w, bottom = cv.w, an.liver_bottom
    mid = bottom * 0.45
    s = section(w, mid, mid - bottom) if w < mid else 1.0
    if s <= 0.05 or a_c <= 0.0:
        return
    t = 1.0 - s
    cu = -an.liver_u * a_c - 15.0 * t
    cvv = 0.5 * (b_post - b_ant) - 20.0 * t
    a, b = an.liver_a * a_c * s, 0.5 * (b_ant + b_post) * an.liver_b * s
    win = cv.window(-a_c - 5.0, a_c * 0.8, -b_ant - 5.0, b_post + 5.0)
    u, v = cv.uv(win)
    organ = ellipse(u, v, cu, cvv, a, b) + 0.12 * cv.wobble[win] <= 1.0
    lobe = _left_lobe(cv, an, u, v, a_c, b_ant)
    if lobe is not None:
        organ |= lobe + 0.1 * cv.wobble[win] <= 1.0
    cv.paint(Tissue.LIVER, organ & _in_abdomen(cv, win, cavity), win)


def _left_lobe(cv: Canvas, an: Anatomy, u: F32, v: F32, a_c: float, b_ant: float) -> F32 | None:
    """Squared radius of the left lobe, reaching across the midline in front; None below it."""
    top = an.dome_left + 10.0
    s = section(cv.w, 0.5 * (an.left_lobe_bottom + top), 0.5 * (top - an.left_lobe_bottom) + 20.0)
    if s <= 0.05:
        return None
    reach = a_c * an.left_lobe
    a, b = (0.5 * reach + 35.0) * s, 0.3 * b_ant * s + 4.0
    return ellipse(u, v, 0.5 * reach - 20.0, -0.55 * b_ant, a, b, -0.2)


def paint_gallbladder(cv: Canvas, an: Anatomy) -> None:
    """A fluid-filled pear under the liver (absent in some people)."""
    s = section(cv.w, an.gb_w, 32.0)
    if an.gallbladder < 0.2 or s <= 0.0:
        return
    cu, cvv = -0.22 * cv.lv.cavity[0], -0.35 * cv.lv.cavity[1]
    win = cv.around(cu, cvv, 30.0)
    u, v = cv.uv(win)
    rho2 = ellipse(u, v, cu, cvv, 15.0 * s + 2.0, 21.0 * s + 2.0, 0.5)
    ok = np.isin(cv.tissue[win], [int(Tissue.LIVER), int(Tissue.FAT), int(Tissue.BOWEL)])
    cv.paint(Tissue.MUSCLE, (rho2 <= 1.0) & ok, win)
    cv.paint(Tissue.BILE, (rho2 <= 0.75) & ok, win)


def paint_stomach(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Stomach under the left dome: wall, fluid, and an air cap at the front (patient supine)."""
    top = an.dome_left - 8.0
    s = section(cv.w, 0.5 * (top + an.stomach_bottom), 0.5 * (top - an.stomach_bottom) + 8.0)
    if s <= 0.1 or cv.lv.cav_scale <= 0.0:
        return
    a_c, b_ant, _ = cv.lv.cavity
    cu, cvv, a, b = 0.38 * a_c, -0.2 * b_ant, 42.0 * s + 6.0, 34.0 * s + 6.0
    win = cv.around(cu, cvv, a + 6.0)
    u, v = cv.uv(win)
    rho2 = ellipse(u, v, cu, cvv, a, b, 0.6) + 0.08 * cv.wobble[win]
    keep = _in_abdomen(cv, win, cavity) & ~cv.where(Tissue.CORTEX, win)
    inner = (rho2 <= (1.0 - 4.0 / b) ** 2) & keep
    cv.paint(Tissue.MUSCLE, (rho2 <= 1.0) & keep, win)
    cv.paint(Tissue.GASTRIC, inner, win)
    cv.paint(Tissue.GAS, inner & (v < cvv - (0.9 - 0.9 * an.stomach_air) * b), win)


def paint_spleen(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Spleen along the left posterolateral wall."""
    top = an.dome_left - 4.0
    s = section(cv.w, 0.5 * (top + an.spleen_bottom), 0.5 * (top - an.spleen_bottom) + 6.0)
    a_c, _, b_post = cv.lv.cavity
    if s <= 0.1 or a_c <= 0.0:
        return
    cu, cvv = 0.66 * a_c, 0.45 * b_post
    a, b = 22.0 * s * an.spleen_size + 4.0, 50.0 * s * an.spleen_size + 6.0
    win = cv.around(cu, cvv, b + 4.0)
    u, v = cv.uv(win)
    rho2 = ellipse(u, v, cu, cvv, a, b, -0.7) + 0.1 * cv.wobble[win]
    cv.paint(Tissue.SPLEEN, (rho2 <= 1.0) & _in_abdomen(cv, win, cavity), win)


def paint_kidneys(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """Kidneys beside the spine in their perirenal fat, with fat in the renal sinus."""
    lv = cv.lv
    for side, centre in ((1.0, an.kidney_w_left), (-1.0, an.kidney_w_left - an.kidney_drop_right)):
        s = section(cv.w, centre, 55.0 * an.kidney_size)
        if s <= 0.1:
            continue
        cu, cvv = side * (lv.a_vb + 42.0), lv.v_vb + 4.0
        a, b = 27.0 * s * an.kidney_size, 18.0 * s * an.kidney_size
        win = cv.around(cu, cvv, a + 24.0)
        u, v = cv.uv(win)
        keep = _in_abdomen(cv, win, cavity) & ~cv.where(Tissue.CORTEX, win) & ~cv.where(Tissue.MARROW, win)
        fat_pad = ellipse(u, v, cu + side * 4.0, cvv + 3.0, a + 11.0, b + 9.0, side * 0.6)
        fat_pad += 0.3 * cv.wobble[win]
        cv.paint(Tissue.FAT, (fat_pad <= 1.0) & keep, win)
        cv.paint(Tissue.KIDNEY, (ellipse(u, v, cu, cvv, a, b, side * 0.6) <= 1.0) & keep, win)
        if s > 0.6:
            # the renal sinus opens towards the hilum, in front of the medial edge
            sinus = ellipse(u, v, cu - side * 0.7 * a, cvv - 0.35 * b, 0.5 * a, 0.32 * b, side * 0.6)
            cv.paint(Tissue.FAT, (sinus <= 1.0) & keep, win)


def paint_psoas(cv: Canvas) -> None:
    """Psoas muscles beside the lumbar spine, growing as they descend."""
    t = min(max((-90.0 - cv.w) / 140.0, 0.0), 1.0)
    if t <= 0.0:
        return
    lv = cv.lv
    for side in (-1.0, 1.0):
        cu = side * (lv.a_vb + 4.0 + 14.0 * t)
        win = cv.around(cu, lv.v_vb - 4.0, 30.0)
        u, v = cv.uv(win)
        psoas = ellipse(u, v, cu, lv.v_vb - 4.0, 6.0 + 14.0 * t, 8.0 + 12.0 * t, side * 0.3)
        cv.paint(Tissue.MUSCLE, psoas <= 1.0, win)
