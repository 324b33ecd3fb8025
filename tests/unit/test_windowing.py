"""Window presets, the automatic window and window/level dragging."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from viewer.core.volume import WindowPreset
from viewer.core.windowing import PRESETS, auto_window, drag_window


def test_presets_have_the_usual_ct_values() -> None:
    assert {p.name: (p.center, p.width) for p in PRESETS} == {
        "Brain": (40, 80), "Lung": (-600, 1500), "Mediastinum": (50, 350),
        "Abdomen": (40, 400), "Liver": (60, 160), "Bone": (400, 1800),
    }
    assert all(isinstance(p, WindowPreset) for p in PRESETS)


def _ct(rng: np.random.Generator, shape=(40, 128, 128)) -> np.ndarray:
    """Padding -3024 outside a circular field of view, noisy air, a body of soft tissue."""
    k, j, i = np.indices(shape)
    r = np.hypot(i - shape[2] / 2, j - shape[1] / 2) / (shape[2] / 2)
    arr = rng.normal(-1000, 10, shape)
    arr[r < 0.8] = rng.normal(40, 20, np.count_nonzero(r < 0.8))
    arr[r >= 1.0] = -3024
    return arr.astype(np.int16)


def test_auto_window_ignores_padding() -> None:
    arr = _ct(np.random.default_rng(0))
    window = auto_window(arr)
    lo, hi = window.center - window.width / 2, window.center + window.width / 2
    assert -1030 < lo < -950  # noisy air is shown, the -3024 padding is not
    assert 60 < hi < 120
    assert window.name == "Auto"


def test_auto_window_drops_air_when_it_would_be_degenerate() -> None:
    arr = np.full((20, 100, 100), -1000, np.int16)  # clean air ...
    arr[:, :, :10] = -3024  # ... padding ...
    arr[:, 40:44, 40:44] = np.arange(16, dtype=np.int16).reshape(4, 4) * 10  # ... a little tissue
    window = auto_window(arr)
    assert window.center - window.width / 2 >= 0
    assert window.center + window.width / 2 <= 150


def test_auto_window_mr_background_is_padding() -> None:
    rng = np.random.default_rng(1)
    arr = np.zeros((10, 100, 100), np.uint16)
    arr[:, 20:80, 20:80] = rng.integers(100, 501, (10, 60, 60))
    window = auto_window(arr)
    assert window.center - window.width / 2 == pytest.approx(108, abs=4)
    assert window.center + window.width / 2 == pytest.approx(492, abs=4)


def test_auto_window_of_a_constant_volume_has_width_one() -> None:
    assert auto_window(np.full((4, 8, 8), 7, np.int16)) == WindowPreset(7.0, 1.0, "Auto")


def test_auto_window_of_float_data_keeps_their_scale() -> None:
    fa = np.random.default_rng(0).uniform(0.2, 0.6, (8, 16, 16)).astype(np.float32)  # e.g. fractional anisotropy
    w = auto_window(fa)
    assert 0.3 < w.width < 0.4 and 0.35 < w.center < 0.45  # never widened to 1


def test_auto_window_ignores_nan_and_refuses_nothing_to_see() -> None:
    arr = np.full((4, 8, 8), np.nan)
    arr[0, 0, :] = np.arange(8) * 100.0
    assert auto_window(arr).width > 500
    with pytest.raises(ValueError, match="^array "):
        auto_window(np.full((2, 2, 2), np.nan))
    with pytest.raises(ValueError, match="^array "):
        auto_window(np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="^sample_max "):
        auto_window(np.zeros((2, 2, 2)), sample_max=0)


def test_auto_window_samples_a_big_volume_without_copying_it() -> None:
    slice_ = _ct(np.random.default_rng(2), shape=(1, 512, 512))[0]
    big = np.broadcast_to(slice_, (300, 512, 512))  # 512 x 512 x 300 int16, no memory behind it
    tracemalloc.start()
    start = time.perf_counter()
    window = auto_window(big)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert -1100 < window.center - window.width / 2 < -900
    assert peak < 100_000_000  # a float copy of the volume would be 630 MB
    assert elapsed < 2.0


def test_drag_window_follows_radiant_convention() -> None:
    assert drag_window(40, 400, 10, 0, 2.0) == (40, 420)  # right: wider
    assert drag_window(40, 400, -10, 0, 2.0) == (40, 380)  # left: narrower
    assert drag_window(40, 400, 0, -10, 2.0) == (20, 400)  # up: lower level, brighter
    assert drag_window(40, 400, 0, 10, 2.0) == (60, 400)  # down: darker
    assert drag_window(40, 10, -100, 0) == (40, 1.0)  # width stays >= 1
    with pytest.raises(ValueError, match="^sensitivity "):
        drag_window(40, 400, 1, 1, 0)
    with pytest.raises(ValueError, match="^width "):
        drag_window(40, 0, 1, 1)
