"""Series thumbnails: the middle image, drawn the way the viewer draws it, shrunk without distortion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.data import factory as F
from viewer.io.series import SeriesCandidate
from viewer.io.study import open_folder
from viewer.io.thumbnails import ThumbnailError, auto_window, letterbox, thumbnail

AIR, BONE = 1024 - 1000, 1024 + 1000  # stored values; intercept -1024 gives -1000 / +1000 HU


def _only(folder: Path) -> SeriesCandidate:
    [candidate] = open_folder(str(folder)).series
    return candidate


def _series(folder: Path, stored: np.ndarray, pixel_spacing: tuple[float, float] = (1.0, 1.0),
            **options: object) -> SeriesCandidate:
    F.write_stack(folder, F.stack_positions(len(stored), 2.0), stored=stored,
                  pixel_spacing=pixel_spacing, intercept=-1024.0, **options)  # type: ignore[arg-type]
    return _only(folder)


def test_patient_left_lands_on_the_right_half(tmp_path: Path) -> None:
    # Axial: columns run to the patient's left, so a block at high column index is the patient's left.
    stored = np.full((5, 40, 40), AIR, dtype=np.uint16)
    stored[:, 15:25, 30:38] = BONE
    thumb = thumbnail(_series(tmp_path, stored), size=48)
    assert thumb.shape == (48, 48) and thumb.dtype == np.uint8
    assert thumb[:, 24:].mean() > 20 * max(thumb[:, :24].mean(), 1.0)
    assert thumb[20:28, 38:45].min() > 200  # the marker keeps its place: rows 15-25 -> 18-30


def test_middle_slice_in_slice_order_is_used(tmp_path: Path) -> None:
    stored = np.full((5, 32, 32), AIR, dtype=np.uint16)
    stored[2] = BONE  # only the middle slice is bright
    names = [f"IM{n}.dcm" for n in (5, 1, 4, 2, 3)]  # file order says nothing about slice order
    thumb = thumbnail(_series(tmp_path, stored, names=names), size=32)
    assert thumb.min() > 200


def test_non_square_image_keeps_its_aspect_and_is_letterboxed(tmp_path: Path) -> None:
    stored = np.full((3, 20, 60), BONE, dtype=np.uint16)  # 3:1 wide
    thumb = thumbnail(_series(tmp_path, stored), size=60)
    lit = np.argwhere(thumb > 0)
    height = lit[:, 0].max() - lit[:, 0].min() + 1
    width = lit[:, 1].max() - lit[:, 1].min() + 1
    assert (height, width) == (20, 60)
    assert thumb[:20].max() == 0 and thumb[40:].max() == 0  # black bars above and below


def test_pixel_spacing_sets_the_aspect(tmp_path: Path) -> None:
    # 40 x 40 pixels, rows 2 mm apart, columns 1 mm: 80 mm tall, 40 mm wide.
    stored = np.full((3, 40, 40), BONE, dtype=np.uint16)
    thumb = thumbnail(_series(tmp_path, stored, pixel_spacing=(2.0, 1.0)), size=40)
    lit = np.argwhere(thumb > 0)
    assert lit[:, 0].max() - lit[:, 0].min() + 1 == 40
    assert lit[:, 1].max() - lit[:, 1].min() + 1 == 20


def test_series_window_is_applied(tmp_path: Path) -> None:
    stored = np.full((3, 16, 16), 1024 + 40, dtype=np.uint16)  # 40 HU everywhere
    stored[:, :, 8:] = 1024 + 240  # 240 HU: the top of a (40, 400) window
    thumb = thumbnail(_series(tmp_path, stored, window=(40.0, 400.0)), size=16)
    assert abs(int(thumb[8, 2]) - 128) <= 2 and thumb[8, 13] == 255


def test_auto_window_ignores_outliers() -> None:
    image = np.linspace(0, 100, 10_000).reshape(100, 100)
    image[0, 0] = 1e6
    center, width = auto_window(image)
    assert 45 < center < 55 and 95 < width < 100


def test_area_averaging_keeps_mean_brightness() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.float32)
    small = letterbox(checker, 16)
    assert np.all(np.abs(small.astype(int) - 128) <= 1)  # no aliasing into black or white


def test_undecodable_middle_frame_raises_a_clear_error(tmp_path: Path) -> None:
    stored = np.full((3, 16, 16), AIR, dtype=np.uint16)
    candidate = _series(tmp_path, stored)
    middle = candidate.frames[1].file.path
    data = Path(middle).read_bytes()
    Path(middle).write_bytes(data[: len(data) - 100])  # cut short after the scan
    with pytest.raises(ThumbnailError, match="IM"):
        thumbnail(candidate)


def test_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        thumbnail(_series(tmp_path, np.full((2, 8, 8), AIR, dtype=np.uint16)), size=0)


def test_without_a_window_the_image_is_auto_windowed(tmp_path: Path) -> None:
    stored = np.full((3, 16, 16), 1024 + 10, dtype=np.uint16)  # 10 and 20 HU: one grey in (40, 400)
    stored[:, :, 8:] = 1024 + 20
    thumb = thumbnail(_series(tmp_path, stored, window=None), size=16)
    assert thumb[8, 2] < 10 and thumb[8, 13] > 245
