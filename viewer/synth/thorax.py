"""Mediastinum on one slice: heart, great vessels, airways, oesophagus, hila, and the neck's contents."""

from __future__ import annotations

import numpy as np

from viewer.synth.anatomy import Anatomy, ramp
from viewer.synth.canvas import Canvas, disc, ellipse, section
from viewer.synth.grid import F32
from viewer.synth.labels import Tissue


def trachea_v(cv: Canvas, an: Anatomy) -> float:
    """Antero-posterior position of the trachea's centre: in front of the oesophagus and spine."""
    return cv.lv.v_vb - cv.lv.b_vb - 14.0 - an.trachea_r


def aorta_centre(cv: Canvas, an: Anatomy) -> tuple[float, float]:
    """Descending aorta: left of the spine in the chest, in front of it in the abdomen."""
    lv, t = cv.lv, ramp(cv.w, -70.0, -10.0)
    cu = (1.0 - t) * 9.0 + t * (lv.a_vb * 0.55 + an.aorta_r + 2.0)
    cvv = (1.0 - t) * (lv.v_vb - lv.b_vb - an.aorta_r - 2.0) + t * (lv.v_vb - lv.b_vb * 0.35)
    return cu, cvv


def _ascending(cv: Canvas) -> tuple[float, float]:
    """Ascending aorta: in front, just left of the midline."""
    return 4.0, -cv.lv.cavity[1] * 0.45


def paint_mediastinum(cv: Canvas, an: Anatomy) -> None:
    """Fat between the lungs: narrow in front (the anterior junction), wider around the trachea."""
    lv = cv.lv
    if lv.cav_scale <= 0.0:
        return
    b_ant = lv.cavity[1]
    tv = trachea_v(cv, an)
    win = cv.window(-60.0, 60.0, -b_ant - 2.0, lv.v_vb + 5.0)
    u, v = cv.uv(win)
    front = np.clip((v + np.float32(b_ant)) / np.float32(max(tv + b_ant, 1.0)), 0.0, 1.0)
    behind = np.clip((v - np.float32(tv)) / np.float32(max(lv.v_vb - tv, 1.0)), 0.0, 1.0)
    half = (7.0 + 17.0 * front - 8.0 * behind + 8.0 * ramp(cv.w, an.apex - 40.0, an.apex + 10.0)
            + 3.0 * cv.wobble[win])
    centre = 4.0 * (1.0 - front)
    band = np.abs(u - centre) < half
    cv.paint(Tissue.MED_FAT, band & cv.where(Tissue.LUNG, win), win)


def paint_heart(cv: Canvas, an: Anatomy, cavity: F32) -> None:
    """The heart in its pericardial fat, resting on the diaphragm, apex pointing left and down."""
    s = section(cv.w, an.heart_w, an.heart_c)
    if s <= 0.05:
        return
    cu = an.heart_u + 0.25 * (an.heart_w - cv.w)
    a, b = an.heart_a * s, an.heart_b * s
    win = cv.around(cu, an.heart_v, a + 8.0)
    u, v = cv.uv(win)
    rho2 = ellipse(u, v, cu, an.heart_v, a, b, an.heart_angle) + 0.04 * cv.wobble[win]
    above = cv.above[win] & (cavity[win] <= 1.0)
    cv.paint(Tissue.MED_FAT, (rho2 <= (1.0 + 4.0 / b) ** 2) & above, win)
    cv.paint(Tissue.HEART, (rho2 <= 1.0) & above, win)


def paint_great_vessels(cv: Canvas, an: Anatomy) -> None:
    """Aorta (ascending, arch, descending), venae cavae, pulmonary arteries, neck vessels."""
    r, w = an.aorta_r, cv.w
    top = an.arch_w
    asc, desc = _ascending(cv), aorta_centre(cv, an)
    if an.heart_w + an.heart_c * 0.3 < w < top:
        disc(cv, asc[0], asc[1], r * 1.12, Tissue.BLOOD)
    if w < top:
        disc(cv, desc[0], desc[1], r, Tissue.BLOOD)
    s = section(w, top - r, r)
    if s > 0.0:
        _capsule(cv, asc, desc, r * s, Tissue.BLOOD)
    if an.heart_w + an.heart_c * 0.2 < w < an.apex - 15.0:
        disc(cv, -24.0, asc[1] + 8.0, 9.0, Tissue.BLOOD)  # superior vena cava
    if -200.0 < w < an.heart_w - an.heart_c * 0.55:
        disc(cv, -cv.lv.a_vb - 6.0, cv.lv.v_vb - cv.lv.b_vb - 8.0, 11.0, Tissue.BLOOD)  # inferior vena cava
    _pulmonary_arteries(cv, an, asc)
    if w > top:
        _neck_vessels(cv, an)


def _capsule(cv: Canvas, a: tuple[float, float], b: tuple[float, float], r: float, tissue: Tissue,
             keep: tuple[Tissue, ...] = ()) -> None:
    """Paint the set of points within ``r`` of segment ``ab`` (only over ``keep`` tissues if given)."""
    win = cv.window(min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r)
    u, v = cv.uv(win)
    du, dv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * du + (v - a[1]) * dv) / max(du * du + dv * dv, 1e-6), 0.0, 1.0)
    d2 = (u - a[0] - t * du) ** 2 + (v - a[1] - t * dv) ** 2
    mask = d2 <= r * r
    if keep:
        mask &= np.isin(cv.tissue[win], [int(k) for k in keep])
    cv.paint(tissue, mask, win)


def _pulmonary_arteries(cv: Canvas, an: Anatomy, asc: tuple[float, float]) -> None:
    """Main pulmonary artery and its branches to the hila, and the hilar vessel bundles."""
    w, hilum = cv.w, an.hilum_w
    trunk = (asc[0] + 16.0, asc[1] + 6.0)
    soft = (Tissue.MED_FAT, Tissue.LUNG)
    lat = cv.lv.cavity[0] * 0.42
    if section(w, hilum + 8.0, 9.0) > 0.0:
        _capsule(cv, trunk, (lat, 2.0), 10.0 * section(w, hilum + 8.0, 9.0) + 2.0, Tissue.BLOOD, soft)
    if section(w, hilum, 8.0) > 0.0:
        _capsule(cv, trunk, (-lat, 0.0), 9.0 * section(w, hilum, 8.0) + 2.0, Tissue.BLOOD, soft)
    s = section(w, hilum - 5.0, 28.0)
    for side in (-1.0, 1.0):
        if s > 0.0:
            win = cv.around(side * lat, 4.0, 24.0)
            u, v = cv.uv(win)
            blob = ellipse(u, v, side * lat, 4.0, 9.0 * s + 3.0, 17.0 * s + 3.0, side * 0.3)
            blob += 0.3 * cv.wobble[win]
            cv.paint(Tissue.BLOOD, (blob <= 1.0) & np.isin(cv.tissue[win], [int(k) for k in soft]), win)


def _neck_vessels(cv: Canvas, an: Anatomy) -> None:
    """Arch branches above the arch, spreading apart towards the neck; jugular veins."""
    tv = trachea_v(cv, an)
    spread = 1.0 + 0.8 * ramp(cv.w, an.arch_w, an.apex + 40.0)
    for cu, dv, r in ((-10.0, -14.0, 6.0), (4.0, -15.0, 5.0), (14.0, -10.0, 5.5)):
        disc(cv, cu * spread, tv + dv, r, Tissue.BLOOD)
    if cv.w > an.apex - 25.0:
        for side in (-1.0, 1.0):
            disc(cv, side * 30.0 * spread, tv - 4.0, 8.0, Tissue.BLOOD)  # jugular veins


def paint_airways(cv: Canvas, an: Anatomy) -> None:
    """Trachea above the carina, main bronchi below it, and the oesophagus behind them."""
    w, tv, r = cv.w, trachea_v(cv, an), an.trachea_r
    carina = an.carina_w
    if w >= carina:
        disc(cv, -2.0, tv, r + 2.0, Tissue.AIRWAY_WALL)
        disc(cv, -2.0, tv, r, Tissue.AIR)
    elif w > carina - 26.0:
        depth = carina - w  # the left main bronchus is the more horizontal one
        for cu, rb in ((-2.0 - 0.8 * depth, r * 0.8), (-2.0 + 1.5 * depth, r * 0.72)):
            disc(cv, cu, tv + 0.15 * depth, rb + 1.8, Tissue.AIRWAY_WALL)
            disc(cv, cu, tv + 0.15 * depth, rb, Tissue.AIR)
    _oesophagus(cv, an, tv)


def _oesophagus(cv: Canvas, an: Anatomy, tv: float) -> None:
    """Behind the trachea, moving left and forward to the hiatus below the heart."""
    w = cv.w
    if w < an.dome_left - 25.0:
        return
    t = ramp(w, an.dome_left - 25.0, an.heart_w)
    behind = (6.0, tv + an.trachea_r + 7.0)
    hiatus = (cv.lv.cavity[0] * 0.3, cv.lv.v_vb - cv.lv.b_vb - 22.0)
    cu, cvv = hiatus[0] + t * (behind[0] - hiatus[0]), hiatus[1] + t * (behind[1] - hiatus[1])
    disc(cv, cu, cvv, 7.0, Tissue.MUSCLE)


def lung_gradient(v: F32, b: float) -> F32:
    """HU added to lung tissue: the dependent (posterior) lung is denser when lying supine."""
    return np.asarray(35.0 * np.clip(v / np.float32(max(b, 1.0)), -1.0, 1.0) + 10.0, dtype=np.float32)
