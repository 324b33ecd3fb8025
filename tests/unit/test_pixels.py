"""Stored values become the right calibrated values (HU for CT), whatever the encoding."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from tests.data import factory as F
from viewer.core.volume import Volume
from viewer.io.loader import load_series
from viewer.io.scan import Cancelled
from viewer.io.series import SeriesCandidate
from viewer.io.study import open_folder

LOSSLESS = [ExplicitVRBigEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1]
RNG_SEED = 11


def _candidate(path: Path) -> SeriesCandidate:
    study = open_folder(str(path))
    assert study.file_problems == []
    [candidate] = study.series
    return candidate


def _load(path: Path) -> Volume:
    return load_series(_candidate(path))


def _random(shape: tuple[int, ...], lo: int, hi: int, dtype: type[np.integer]) -> np.ndarray:
    return np.random.default_rng(RNG_SEED).integers(lo, hi, shape, endpoint=True).astype(dtype)


def _positions(n: int) -> np.ndarray:
    return F.stack_positions(n, 2.5)


# --- Rescale ------------------------------------------------------------------------------------


def test_unsigned_12_bit_ct_gives_exact_hu(tmp_path: Path) -> None:
    stored = _random((3, 32, 32), 0, 4095, np.uint16)
    F.write_stack(tmp_path, _positions(3), stored=stored, bits_stored=12, intercept=-1024.0)
    volume = _load(tmp_path)
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, stored.astype(np.int32) - 1024)
    assert volume.meta.units == "HU"


@pytest.mark.parametrize("intercept", [0.0, -1024.0])
def test_signed_16_bit_gives_exact_values(tmp_path: Path, intercept: float) -> None:
    stored = _random((3, 32, 32), -3000, 3000, np.int16)
    F.write_stack(tmp_path, _positions(3), stored=stored, intercept=intercept)
    volume = _load(tmp_path)
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, stored.astype(np.int32) + int(intercept))


@pytest.mark.parametrize(("slope", "intercept", "dtype"), [
    (2.0, -1024.0, np.int16),  # integer rescale that fits int16
    (0.5, -1024.0, np.float32),  # fractional slope
    (1.0, -1024.5, np.float32),  # fractional intercept
    (10.0, -1024.0, np.float32),  # 4095 * 10 does not fit int16
    (-1.0, 0.0, np.int16),  # a negative slope (legal, if rare)
])
def test_slope_and_intercept(tmp_path: Path, slope: float, intercept: float, dtype: type) -> None:
    stored = _random((3, 32, 32), 0, 4095, np.uint16)
    F.write_stack(tmp_path, _positions(3), stored=stored, bits_stored=12, slope=slope,
                  intercept=intercept)
    volume = _load(tmp_path)
    assert volume.array.dtype == dtype
    assert np.array_equal(volume.array, stored.astype(np.float64) * slope + intercept)


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_values_beyond_int16_are_kept_in_float32(tmp_path: Path, transfer_syntax: str) -> None:
    """Unsigned 16-bit stored values up to 60000 with slope 1: int16 would wrap them."""
    stored = _random((3, 32, 32), 0, 60000, np.uint16)
    stored[1, 5, 5] = 60000
    F.write_stack(tmp_path, _positions(3), stored=stored, intercept=-1024.0,
                  transfer_syntax=transfer_syntax)
    volume = _load(tmp_path)
    assert volume.array.dtype == np.float32
    assert np.array_equal(volume.array, stored.astype(np.float64) - 1024)
    assert volume.array.max() == 60000 - 1024


def test_unsigned_16_bit_whose_values_fit_int16_stays_int16(tmp_path: Path) -> None:
    stored = _random((3, 32, 32), 0, 5000, np.uint16)
    F.write_stack(tmp_path, _positions(3), stored=stored, intercept=-1024.0)
    volume = _load(tmp_path)
    assert volume.array.dtype == np.int16
    assert np.array_equal(volume.array, stored.astype(np.int32) - 1024)


# --- Photometric and bit depth ------------------------------------------------------------------


def _monochrome1(ds: Dataset, k: int) -> None:
    ds.PhotometricInterpretation = "MONOCHROME1"


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
@pytest.mark.parametrize("bits", [12, 16])
def test_monochrome1_is_inverted_so_that_higher_is_brighter(tmp_path: Path, transfer_syntax: str,
                                                            bits: int) -> None:
    stored = _random((2, 32, 32), 0, 4095, np.uint16)
    stored[0, 0, 0], stored[0, 0, 1] = 0, 4095  # in MONOCHROME1, 0 is white
    F.write_stack(tmp_path, _positions(2), stored=stored, bits_stored=bits, edit=_monochrome1,
                  transfer_syntax=transfer_syntax)
    volume = _load(tmp_path)
    assert volume.array[0, 0, 0] > volume.array[0, 0, 1]  # stored 0 (white) is now the brightest
    top = (1 << bits) - 1  # mirrored within the stored range 0..top
    assert np.array_equal(volume.array, top - stored.astype(np.int32))


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_unsigned_12_bit_junk_above_bits_stored_is_masked(tmp_path: Path, transfer_syntax: str) -> None:
    values = _random((2, 32, 32), 0, 4095, np.uint16)
    stored = values | np.uint16(0xA000)  # an old scanner's overlay bits above bit 11
    F.write_stack(tmp_path, _positions(2), stored=stored, bits_stored=12, intercept=-1024.0,
                  transfer_syntax=transfer_syntax)
    assert np.array_equal(_load(tmp_path).array, values.astype(np.int32) - 1024)


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_signed_12_bit_is_sign_extended_from_bit_11(tmp_path: Path, transfer_syntax: str) -> None:
    values = _random((2, 32, 32), -2048, 2047, np.int16)
    raw = (values.view(np.uint16) & np.uint16(0x0FFF)) | np.uint16(0x5000)  # junk above bit 11
    F.write_stack(tmp_path, _positions(2), stored=raw.view(np.int16), bits_stored=12,
                  transfer_syntax=transfer_syntax)
    assert np.array_equal(_load(tmp_path).array, values)


def test_big_endian_file_gives_the_same_hu(tmp_path: Path) -> None:
    stored = _random((3, 32, 32), 0, 4095, np.uint16)
    F.write_stack(tmp_path, _positions(3), stored=stored, bits_stored=12, intercept=-1024.0,
                  transfer_syntax=ExplicitVRBigEndian)
    assert pydicom.dcmread(next(tmp_path.iterdir())).file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    assert np.array_equal(_load(tmp_path).array, stored.astype(np.int32) - 1024)


# --- Compressed transfer syntaxes ---------------------------------------------------------------


@pytest.mark.parametrize("transfer_syntax", LOSSLESS, ids=lambda ts: ts.name.split(" (")[0])
@pytest.mark.parametrize(("dtype", "lo", "hi", "bits"), [
    (np.uint16, 0, 4095, 12), (np.int16, -2000, 3000, 16)], ids=["unsigned12", "signed16"])
def test_lossless_syntax_decodes_to_the_same_hu_as_uncompressed(
        tmp_path: Path, transfer_syntax: str, dtype: type, lo: int, hi: int, bits: int) -> None:
    stored = _random((4, 32, 32), lo, hi, dtype)
    options = {"stored": stored, "bits_stored": bits, "intercept": -1024.0}
    F.write_stack(tmp_path / "native", _positions(4), **options)
    F.write_stack(tmp_path / "coded", _positions(4), transfer_syntax=transfer_syntax, **options)
    coded = _load(tmp_path / "coded")
    assert np.array_equal(coded.array, _load(tmp_path / "native").array)
    assert np.array_equal(coded.array, stored.astype(np.int32) - 1024)


def test_jpeg_baseline_8_bit_decodes_close_to_the_original(tmp_path: Path) -> None:
    j, i = np.mgrid[:32, :32]
    image = (60 + 3 * i + 2 * j).astype(np.uint8)  # smooth, so lossy JPEG stays close
    F.write_stack(tmp_path, _positions(2), stored=np.stack([image, image[::-1]]), edit=F.eight_bit,
                  transfer_syntax=JPEGBaseline8Bit)
    volume = _load(tmp_path)
    expected = np.stack([image, image[::-1]]).astype(np.int32)
    assert np.abs(volume.array - expected).max() <= 6
    assert abs(float(np.mean(volume.array - expected))) < 1.0


def test_lossless_compressed_pydicom_files_match_the_uncompressed_one(tmp_path: Path) -> None:
    """The same MR image as written by other tools (pydicom's test files), in five encodings."""
    reference = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    expected = reference.pixel_array.astype(np.float64) * float(reference.get("RescaleSlope", 1)) \
        + float(reference.get("RescaleIntercept", 0))
    for name in ("MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):
        path = Path(shutil.copy(get_testdata_file(name), tmp_path / name))
        volume = _load(path)
        assert volume.shape == (1, 64, 64), name
        assert np.array_equal(volume.array[0], expected), name


def test_12_bit_lossy_jpeg_matches_pydicom(tmp_path: Path) -> None:
    """JPEG Extended (12-bit lossy): the same values pydicom's own decoding gives."""
    path = Path(shutil.copy(get_testdata_file("JPGExtended.dcm"), tmp_path / "lossy.dcm"))
    reference = pydicom.dcmread(path)
    volume = _load(path)
    assert np.abs(volume.array[0].astype(np.int32) - reference.pixel_array).max() <= 1


# --- Multi-frame enhanced images ----------------------------------------------------------------


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless])
def test_enhanced_ct_frames_are_sorted_by_their_functional_group_positions(
        tmp_path: Path, transfer_syntax: str) -> None:
    n = 5
    order = np.array([3, 0, 4, 1, 2])  # frame f holds slice order[f]
    stored, positions = F.ramp(n), _positions(n)
    ds = F.enhanced_dataset(stored[order], positions[order], rescale=(1.0, -1024.0))
    F.save_as(ds, tmp_path / "enhanced.dcm", transfer_syntax)
    candidate = _candidate(tmp_path)
    assert candidate.problems == [] and len(candidate.frames) == n
    volume = load_series(candidate)
    assert np.array_equal(volume.array, stored.astype(np.int32) - 1024)
    assert volume.index_to_lps((0, 0, 0)) == pytest.approx(positions[0], abs=1e-3)
    assert volume.spacing == pytest.approx((0.9, 0.7, 2.5), abs=1e-4)
    assert [ref.frame for ref in volume.instances] == list(np.argsort(order))


def test_enhanced_mr_applies_each_frames_own_rescale(tmp_path: Path) -> None:
    n = 4
    rescale = [(1.0, 0.0), (2.0, -10.0), (0.5, 0.0), (1.0, -100.0)]
    stored = F.ramp(n)
    positions = _positions(n)[::-1]  # frames written top to bottom
    ds = F.enhanced_dataset(stored, positions, ids=F.new_ids(modality="MR"), rescale=rescale)
    F.save_as(ds, tmp_path / "enhanced.dcm")
    volume = _load(tmp_path)
    expected = np.stack([stored[f].astype(np.float64) * s + b for f, (s, b) in enumerate(rescale)])
    assert volume.array.dtype == np.float32  # slope 0.5
    assert np.array_equal(volume.array, expected[::-1])  # sorted bottom to top


# --- Progress and cancel ------------------------------------------------------------------------


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_progress_reaches_the_final_count(tmp_path: Path, transfer_syntax: str) -> None:
    n = 6
    F.write_stack(tmp_path, _positions(n), transfer_syntax=transfer_syntax)
    scanned: list[tuple[int, int]] = []
    study = open_folder(str(tmp_path), on_progress=lambda done, total: scanned.append((done, total)))
    assert scanned[-1] == (n, n)
    loaded: list[tuple[int, int]] = []
    load_series(study.series[0], on_progress=lambda done, total: loaded.append((done, total)))
    assert loaded[-1] == (n, n)
    assert [done for done, _ in loaded] == sorted(done for done, _ in loaded)


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, RLELossless])
def test_cancel_stops_scanning_and_loading(tmp_path: Path, transfer_syntax: str) -> None:
    F.write_stack(tmp_path, _positions(4), transfer_syntax=transfer_syntax)
    with pytest.raises(Cancelled):
        open_folder(str(tmp_path), cancel=lambda: True)
    candidate = _candidate(tmp_path)
    with pytest.raises(Cancelled):
        load_series(candidate, cancel=lambda: True)
