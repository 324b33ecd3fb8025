"""Voxels land where the patient was: affines, orientation letters, left/right and slice order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.data import factory as F
from viewer.core import geometry
from viewer.core.volume import Volume
from viewer.io.loader import load_series
from viewer.io.series import LoadMode, SeriesCandidate
from viewer.io.study import open_folder

MIRRORED_AXIAL = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # legal, if rare: image rows run to the right
OBLIQUE = F.oblique(25.0, 20.0)
ORIENTATIONS = {"axial": F.AXIAL, "sagittal": F.SAGITTAL, "coronal": F.CORONAL, "oblique": OBLIQUE}


def _only(folder: Path) -> SeriesCandidate:
    study = open_folder(str(folder))
    assert study.file_problems == []
    [candidate] = study.series
    return candidate


# --- The affine, with points computed by hand ---------------------------------------------------


@pytest.mark.parametrize(("iop", "origin", "pixel_spacing", "step", "ijk", "lps"), [
    # axial: i -> +x (left), j -> +y (posterior), k -> +z (superior)
    (F.AXIAL, (-100, -50, 20), (0.5, 0.8), (0, 0, 2.5), (10, 4, 3), (-92.0, -48.0, 27.5)),
    # sagittal, slices stacked towards the patient's right: i -> +y, j -> -z, k -> -x
    (F.SAGITTAL, (30, -80, 60), (0.6, 0.9), (-3, 0, 0), (10, 20, 2), (24.0, -71.0, 48.0)),
    # coronal: i -> +x, j -> -z, k -> +y
    (F.CORONAL, (-60, 15, 90), (0.6, 0.9), (0, 2, 0), (5, 10, 4), (-55.5, 23.0, 84.0)),
    # rotated 30 degrees about z: row (cos 30, sin 30, 0), column (-sin 30, cos 30, 0)
    ((0.8660254, 0.5, 0, -0.5, 0.8660254, 0), (0, 0, 0), (0.5, 1.0), (0, 0, 3),
     (2, 4, 1), (0.7320508, 2.7320508, 3.0)),
])
def test_affine_maps_a_voxel_to_its_patient_position(iop, origin, pixel_spacing, step, ijk, lps) -> None:
    affine = geometry.affine_from_dicom(iop, origin, pixel_spacing, step)
    assert geometry.index_to_lps(affine, ijk) == pytest.approx(lps, abs=1e-5)
    assert geometry.lps_to_index(affine, lps) == pytest.approx(ijk, abs=1e-5)


def test_pixel_spacing_is_rows_then_columns() -> None:
    affine = geometry.affine_from_dicom(F.AXIAL, (0, 0, 0), (0.5, 0.8), (0, 0, 2.5))
    assert geometry.spacing_of(affine) == pytest.approx((0.8, 0.5, 2.5))  # (i, j, k)


@pytest.mark.parametrize(("direction", "letters"), [
    ((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"),
    ((0, 0, 1), "S"), ((0, 0, -1), "I"),
    ((np.cos(np.radians(30)), np.sin(np.radians(30)), 0), "LP"),
    ((np.cos(np.radians(30)), -np.sin(np.radians(30)), 0), "LA"),
    ((-0.3, 0.4, -0.87), "IPR"),
    ((np.cos(np.radians(10)), np.sin(np.radians(10)), 0), "L"),  # a small tilt is still "L"
])
def test_orientation_letters(direction, letters) -> None:
    assert geometry.orientation_letters(direction) == letters


@pytest.mark.parametrize(("iop", "row", "column", "normal"), [
    (F.AXIAL, "L", "P", "S"),
    (F.SAGITTAL, "P", "I", "R"),
    (F.CORONAL, "L", "I", "P"),
])
def test_orientation_letters_of_standard_planes(iop, row, column, normal) -> None:
    assert geometry.orientation_letters(iop[:3]) == row
    assert geometry.orientation_letters(iop[3:]) == column
    assert geometry.orientation_letters(geometry.slice_normal(iop)) == normal


# --- The affine of written DICOM stacks ---------------------------------------------------------


@pytest.mark.parametrize("name", ORIENTATIONS)
def test_written_stack_maps_every_corner_to_its_dicom_position(tmp_path: Path, name: str) -> None:
    iop = ORIENTATIONS[name]
    positions = F.stack_positions(5, 3.0, iop)
    F.write_stack(tmp_path, positions, orientation=iop)
    candidate = _only(tmp_path)
    assert candidate.mode is LoadMode.VOLUME and candidate.problems == []
    volume = load_series(candidate)
    for k in (0, 4):
        for i, j in ((0, 0), (F.COLS - 1, 0), (0, F.ROWS - 1), (F.COLS - 1, F.ROWS - 1), (7, 19)):
            truth = F.pixel_lps(positions[k], iop, F.PIXEL_SPACING, i, j)
            assert volume.index_to_lps((i, j, k)) == pytest.approx(truth, abs=1e-3)
    assert volume.spacing == pytest.approx((0.9, 0.7, 3.0), abs=1e-4)


# --- Left stays left ----------------------------------------------------------------------------


def _marker_lps(volume: Volume) -> np.ndarray:
    k, j, i = np.unravel_index(int(np.argmax(volume.array)), volume.shape)
    return volume.index_to_lps((i, j, k))


@pytest.mark.parametrize(("iop", "origin", "marker_kji"), [
    (F.AXIAL, (-12.0, -15.0, 40.0), (2, 10, 25)),  # column 25: x = -12 + 25 * 0.9 > 0
    (MIRRORED_AXIAL, (12.0, -15.0, 40.0), (2, 10, 3)),  # column 3: x = 12 - 3 * 0.9 > 0
    (F.SAGITTAL, (6.0, -15.0, 10.0), (1, 10, 12)),  # slices step to the right: slice 1 at x = 3
])
@pytest.mark.parametrize("reverse_files", [False, True])
def test_a_marker_at_patient_left_stays_left(tmp_path: Path, iop, origin, marker_kji,
                                             reverse_files: bool) -> None:
    positions = F.stack_positions(5, 3.0, iop, origin)
    stored = F.with_marker(F.ramp(5), *marker_kji, value=4000)
    k, j, i = marker_kji
    truth = F.pixel_lps(positions[k], iop, F.PIXEL_SPACING, i, j)
    assert truth[0] > 0  # the test's own premise: the marker is in the patient's left half
    order = slice(None, None, -1) if reverse_files else slice(None)
    F.write_stack(tmp_path, positions[order], stored=stored[order], orientation=iop)
    found = _marker_lps(load_series(_only(tmp_path)))
    assert found[0] > 0
    assert found == pytest.approx(truth, abs=1e-3)


# --- Slice order and spacing come from positions ------------------------------------------------


def _written_slice(volume: Volume, k: int) -> int:
    """Which written slice (ramp index) the loaded slice k holds (intercept -1024 applied)."""
    return (int(volume.array[k, 0, 0]) + 1024 - 1000) // 100


@pytest.mark.parametrize("order", ["shuffled", "reversed"])
def test_slices_are_ordered_by_position_not_by_name_or_number(tmp_path: Path, order: str) -> None:
    n = 7
    positions = F.stack_positions(n, 2.5)
    rng = np.random.default_rng(4)
    names_of = rng.permutation(n) if order == "shuffled" else np.arange(n)[::-1]
    numbers = rng.permutation(n) + 1 if order == "shuffled" else np.arange(n, 0, -1)
    F.write_stack(tmp_path, positions, names=[f"IM{m:03d}.dcm" for m in names_of],
                  instance_numbers=[int(m) for m in numbers], intercept=-1024.0)
    candidate = _only(tmp_path)
    assert candidate.mode is LoadMode.VOLUME and candidate.problems == []
    volume = load_series(candidate)
    for k in range(n):
        s = _written_slice(volume, k)
        assert volume.index_to_lps((0, 0, k)) == pytest.approx(positions[s], abs=1e-3)
    z = [volume.index_to_lps((0, 0, k))[2] for k in range(n)]
    assert np.all(np.diff(z) > 0)


def test_spacing_comes_from_positions_not_slice_thickness(tmp_path: Path) -> None:
    F.write_stack(tmp_path, F.stack_positions(6, 2.5), slice_thickness=5.0)
    candidate = _only(tmp_path)
    assert candidate.problems == []
    assert candidate.spacing[2] == pytest.approx(2.5)
    assert load_series(candidate).spacing[2] == pytest.approx(2.5)


def test_angle_between_lines_ignores_direction() -> None:
    assert geometry.angle_deg((0, 0, 1), (0, 0, -1)) == pytest.approx(0.0)
    assert geometry.angle_deg((0, 0, 1), (0, np.sin(np.radians(12)), np.cos(np.radians(12)))) == \
        pytest.approx(12.0)
