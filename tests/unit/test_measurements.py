"""RECIST axes and volume from voxel masks recover analytic shapes within one voxel."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.measurements import recist, volume_ml


def _ellipse_slab(a: float, b: float, theta: float, spacing: tuple[float, float, float],
                  n: int = 120) -> np.ndarray:
    sz, sy, sx = spacing
    y, x = np.mgrid[0:n, 0:n].astype(float)
    x, y = x * sx - n * sx / 2, y * sy - n * sy / 2
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    return ((u / a) ** 2 + (v / b) ** 2 <= 1)[None]


@pytest.mark.parametrize("spacing", [(2.5, 0.7, 0.7), (3.0, 0.6, 1.1)])
def test_ellipse_axes_within_one_voxel(spacing: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(0)
    voxel = max(spacing[1:])
    for _ in range(25):
        a, b = sorted(rng.uniform(3, 25, 2), reverse=True)
        r = recist(_ellipse_slab(a, b, rng.uniform(0, np.pi), spacing), spacing)
        assert r is not None
        assert abs(r.long_axis_mm - 2 * a) <= voxel
        assert abs(r.short_axis_mm - 2 * b) <= voxel


def test_endpoints_match_lengths_and_axes_are_perpendicular() -> None:
    spacing = (2.5, 0.7, 0.7)
    r = recist(_ellipse_slab(20, 8, 0.5, spacing), spacing)
    assert r is not None
    mm = np.array(spacing)
    long_vec = (np.array(r.long_axis_ends[1]) - r.long_axis_ends[0]) * mm
    short_vec = (np.array(r.short_axis_ends[1]) - r.short_axis_ends[0]) * mm
    assert np.linalg.norm(long_vec) == pytest.approx(r.long_axis_mm)
    assert np.linalg.norm(short_vec) == pytest.approx(r.short_axis_mm)
    cos = abs(long_vec @ short_vec) / (np.linalg.norm(long_vec) * np.linalg.norm(short_vec))
    assert cos < 0.05


def test_largest_slice_is_chosen_and_sphere_volume_within_3_percent() -> None:
    spacing = (1.0, 0.8, 0.8)
    z, y, x = np.mgrid[0:60, 0:80, 0:80].astype(float)
    sphere = (((z - 30) * 1.0) ** 2 + ((y - 40) * 0.8) ** 2 + ((x - 40) * 0.8) ** 2) <= 20.0 ** 2
    r = recist(sphere, spacing)
    assert r is not None and r.slice_index == 30
    assert volume_ml(sphere, spacing) == pytest.approx(4 / 3 * np.pi * 20.0 ** 3 / 1000, rel=0.03)
    assert recist(np.zeros((3, 4, 4), bool), spacing) is None


def test_one_voxel_lesion_measures_one_voxel_and_short_never_exceeds_long() -> None:
    spacing = (5.0, 2.8, 1.4)
    dot = np.zeros((3, 5, 5), bool)
    dot[1, 2, 2] = True
    r = recist(dot, spacing)
    assert r is not None and (r.long_axis_mm, r.short_axis_mm) == (2.8, 1.4)
    disc = _ellipse_slab(9, 9, 0.3, (2.5, 0.7, 0.7))
    r = recist(disc, (2.5, 0.7, 0.7))
    assert r is not None and r.short_axis_mm <= r.long_axis_mm
