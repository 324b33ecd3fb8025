"""Every departure from a regular grid is named, with its numbers, and decides how a stack loads.

Never silently averaged: whenever a stack is not loaded as acquired, the reason is in its problems.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from tests.data import factory as F
from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.core.volume import Volume
from viewer.io.loader import load_series
from viewer.io.series import LoadMode, SeriesCandidate
from viewer.io.study import StudyScan, open_folder

STEP = 2.5
INTERCEPT = -1024.0
GEOMETRY_CODES = {
    ProblemCode.MISSING_SLICES, ProblemCode.DUPLICATE_POSITIONS, ProblemCode.NONUNIFORM_SPACING,
    ProblemCode.GANTRY_TILT, ProblemCode.MISSING_GEOMETRY, ProblemCode.SINGLE_SLICE,
}


def _study(folder: Path) -> StudyScan:
    study = open_folder(str(folder))
    assert study.file_problems == []
    return study


def _only(folder: Path) -> SeriesCandidate:
    [candidate] = _study(folder).series
    return candidate


def _problem(candidate: SeriesCandidate, code: ProblemCode) -> Problem:
    found = [p for p in candidate.problems if p.code is code]
    assert found, f"{code.value} not reported; got {[p.code.value for p in candidate.problems]}"
    return found[0]


def _codes(candidate: SeriesCandidate) -> set[ProblemCode]:
    return {p.code for p in candidate.problems}


def _hu(stored: np.ndarray) -> np.ndarray:
    return stored.astype(np.int32) + int(INTERCEPT)


def _load_resampled(candidate: SeriesCandidate, cause: ProblemCode) -> Volume:
    """Load a stack that must be resampled, and check that the volume says so and why."""
    assert candidate.mode is LoadMode.RESAMPLED
    _problem(candidate, cause)
    _problem(candidate, ProblemCode.RESAMPLED)
    volume = load_series(candidate)
    assert volume.resampled is True
    assert {cause, ProblemCode.RESAMPLED} <= {p.code for p in volume.problems}
    assert all(ref is None for ref in volume.instances)  # no slice claims to be an acquired one
    return volume


# --- A regular series is quiet ------------------------------------------------------------------


@pytest.mark.parametrize("iop", [F.AXIAL, F.SAGITTAL, F.CORONAL, F.oblique(25.0, 20.0)],
                         ids=["axial", "sagittal", "coronal", "oblique"])
def test_regular_series_has_no_problem_at_all(tmp_path: Path, iop) -> None:
    F.write_stack(tmp_path, F.stack_positions(6, STEP, iop), orientation=iop, intercept=INTERCEPT)
    study = _study(tmp_path)
    [candidate] = study.series
    assert study.ok
    assert candidate.problems == [] and candidate.mode is LoadMode.VOLUME
    volume = load_series(candidate)
    assert volume.resampled is False and volume.problems == ()
    assert np.array_equal(volume.array, _hu(F.ramp(6)))


# --- Missing slices ----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [1, 2, 3])
def test_missing_slices_are_counted_and_interpolated(tmp_path: Path, missing: int) -> None:
    n = 10
    kept = [k for k in range(n) if not 4 <= k < 4 + missing]
    F.write_stack(tmp_path, F.stack_positions(n, STEP)[kept], stored=F.ramp(n)[kept],
                  intercept=INTERCEPT)
    candidate = _only(tmp_path)
    problem = _problem(candidate, ProblemCode.MISSING_SLICES)
    assert problem.details["missing"] == missing and problem.details["gaps"] == 1
    assert problem.severity is Severity.WARNING
    volume = _load_resampled(candidate, ProblemCode.MISSING_SLICES)
    assert volume.shape == (n, F.ROWS, F.COLS)
    assert volume.spacing[2] == pytest.approx(STEP)
    # The ramp is linear along the slices, so interpolation gives back exactly the missing ones.
    assert np.array_equal(volume.array, _hu(F.ramp(n)))


def test_a_gap_too_large_to_interpolate_is_shown_as_2d_images(tmp_path: Path) -> None:
    n, missing = 10, 4
    kept = [k for k in range(n) if not 3 <= k < 3 + missing]
    F.write_stack(tmp_path, F.stack_positions(n, STEP)[kept], stored=F.ramp(n)[kept])
    candidate = _only(tmp_path)
    assert candidate.mode is LoadMode.PLANES
    assert _problem(candidate, ProblemCode.MISSING_SLICES).details["missing"] == missing
    _problem(candidate, ProblemCode.LOADED_2D)
    volume = load_series(candidate)
    assert volume.resampled is False and volume.shape[0] == len(kept)
    assert np.array_equal(volume.array, F.ramp(n)[kept])  # the acquired images, untouched


# --- Duplicates and uneven spacing ------------------------------------------------------------


def test_duplicate_positions_keep_one_image_and_say_so(tmp_path: Path) -> None:
    positions, ids = F.stack_positions(6, STEP), F.new_ids()
    F.write_stack(tmp_path, positions, ids=ids, intercept=INTERCEPT)
    other = F.with_marker(F.ramp(1), 0, 0, 0, 3000)
    F.write_stack(tmp_path, positions[2:3], stored=other, ids=ids, instance_numbers=[99],
                  names=["DUP.dcm"], intercept=INTERCEPT)
    candidate = _only(tmp_path)
    problem = _problem(candidate, ProblemCode.DUPLICATE_POSITIONS)
    assert problem.details["dropped"] == 1
    assert candidate.mode is LoadMode.VOLUME
    volume = load_series(candidate)
    assert volume.shape[0] == 6
    assert np.array_equal(volume.array, _hu(F.ramp(6)))  # the lowest instance number was kept


def test_uneven_spacing_is_reported_with_its_range_and_resampled(tmp_path: Path) -> None:
    z = np.cumsum([0.0, 2.0, 2.5, 2.0, 2.5, 2.0, 2.0])
    positions = np.array([(F.ORIGIN[0], F.ORIGIN[1], F.ORIGIN[2] + d) for d in z])
    F.write_stack(tmp_path, positions, intercept=INTERCEPT)
    candidate = _only(tmp_path)
    problem = _problem(candidate, ProblemCode.NONUNIFORM_SPACING)
    assert problem.details["min_mm"] == pytest.approx(2.0)
    assert problem.details["max_mm"] == pytest.approx(2.5)
    assert ProblemCode.MISSING_SLICES not in _codes(candidate)
    volume = _load_resampled(candidate, ProblemCode.NONUNIFORM_SPACING)
    step = volume.spacing[2]
    assert step == pytest.approx(2.0)  # the most common (median) step
    out_z = np.array([volume.index_to_lps((0, 0, k))[2] for k in range(volume.shape[0])])
    assert out_z[0] == pytest.approx(positions[0, 2]) and out_z[-1] <= positions[-1, 2] + 1e-6
    expected = np.interp(out_z, positions[:, 2], _hu(F.ramp(len(z)))[:, 0, 0])
    assert np.abs(volume.array[:, 0, 0] - expected).max() <= 0.5


# --- Gantry tilt ---------------------------------------------------------------------------------

TILT_DEG = 12.0


def _shifted_origins(n: int) -> tuple[tuple[float, ...], np.ndarray, float]:
    """Axial images whose origins drift posteriorly: the stack leans by TILT_DEG."""
    positions = F.stack_positions(n, STEP)
    positions[:, 1] += np.arange(n) * STEP * np.tan(np.radians(TILT_DEG))
    return F.AXIAL, positions, STEP


def _tilted_plane(n: int) -> tuple[tuple[float, ...], np.ndarray, float]:
    """What a tilted gantry writes: image planes tilted about x, table moving straight along z."""
    t = np.radians(TILT_DEG)
    iop = (1.0, 0.0, 0.0, 0.0, float(np.cos(t)), float(np.sin(t)))
    positions = np.array([(F.ORIGIN[0], F.ORIGIN[1], F.ORIGIN[2] + k * STEP) for k in range(n)])
    return iop, positions, STEP * float(np.cos(t))  # slices are closer along their normal


@pytest.mark.parametrize("make", [_shifted_origins, _tilted_plane], ids=["shifted", "tilted-plane"])
def test_gantry_tilt_is_measured_and_resampled_to_the_right_place(tmp_path: Path, make) -> None:
    n, marker = 8, (3, 16, 16)
    iop, positions, normal_step = make(n)
    stored = F.with_marker(F.ramp(n), *marker, value=4000)
    F.write_stack(tmp_path, positions, stored=stored, orientation=iop, intercept=INTERCEPT,
                  edit=lambda ds, k: setattr(ds, "GantryDetectorTilt", f"{TILT_DEG:g}"))
    candidate = _only(tmp_path)
    problem = _problem(candidate, ProblemCode.GANTRY_TILT)
    assert problem.details["angle_deg"] == pytest.approx(TILT_DEG, abs=0.1)
    volume = _load_resampled(candidate, ProblemCode.GANTRY_TILT)
    assert volume.spacing[2] == pytest.approx(normal_step, abs=1e-3)
    k, j, i = marker
    truth = F.pixel_lps(positions[k], iop, F.PIXEL_SPACING, i, j)
    found = np.unravel_index(int(np.argmax(volume.array)), volume.shape)[::-1]  # (i, j, k)
    assert np.all(np.abs(np.asarray(found) - volume.lps_to_index(truth)) <= 1.0)
    # The output grid is orthogonal: its slice axis is the image normal, not the drift.
    cols = volume.direction
    assert abs(float(np.dot(cols[:, 2], cols[:, 1]))) < 1e-6


def test_a_straight_stack_is_not_called_tilted(tmp_path: Path) -> None:
    positions = F.stack_positions(8, STEP)
    positions[:, 1] += np.arange(8) * STEP * np.tan(np.radians(0.02))  # rounding-level drift
    F.write_stack(tmp_path, positions)
    assert _only(tmp_path).problems == []


# --- Splits: orientation, size, localizer, patient, frame of reference ------------------------


def _stacks(study: StudyScan) -> dict[int, SeriesCandidate]:
    """Candidates by their number of images."""
    return {len(c.frames): c for c in study.series}


def test_mixed_orientations_split_into_stacks(tmp_path: Path) -> None:
    ids = F.new_ids()
    F.write_stack(tmp_path, F.stack_positions(5, STEP), ids=ids, names=[f"A{k}.dcm" for k in range(5)])
    F.write_stack(tmp_path, F.stack_positions(4, 3.0, F.CORONAL), orientation=F.CORONAL, ids=ids,
                  names=[f"C{k}.dcm" for k in range(4)])
    study = _study(tmp_path)
    stacks = _stacks(study)
    assert sorted(stacks) == [4, 5]
    for candidate in study.series:
        assert _problem(candidate, ProblemCode.MIXED_ORIENTATION).details["orientations"] == 2
        assert candidate.mode is LoadMode.VOLUME
    assert stacks[4].frames[0].orientation == pytest.approx(F.CORONAL)
    assert load_series(stacks[4]).spacing[2] == pytest.approx(3.0)
    assert len({c.key for c in study.series}) == 2


def test_mixed_sizes_split_into_stacks(tmp_path: Path) -> None:
    ids = F.new_ids()
    F.write_stack(tmp_path, F.stack_positions(5, STEP), ids=ids, names=[f"S{k}.dcm" for k in range(5)])
    big = F.ramp(3, 64, 64)
    F.write_stack(tmp_path, F.stack_positions(3, STEP, origin=(0, 0, 100)), stored=big, ids=ids,
                  names=[f"B{k}.dcm" for k in range(3)])
    study = _study(tmp_path)
    stacks = _stacks(study)
    assert sorted(stacks) == [3, 5]
    for candidate in study.series:
        _problem(candidate, ProblemCode.MIXED_SIZE)
        assert ProblemCode.MIXED_ORIENTATION not in _codes(candidate)
    assert load_series(stacks[3]).shape == (3, 64, 64)
    assert load_series(stacks[5]).shape == (5, F.ROWS, F.COLS)


def test_localizer_is_set_apart_from_the_axial_series(tmp_path: Path) -> None:
    ids = F.new_ids()
    F.write_stack(tmp_path, F.stack_positions(6, STEP), ids=ids, intercept=INTERCEPT)
    F.write_stack(tmp_path, F.stack_positions(1, 1.0, F.CORONAL), stored=F.ramp(1, 64, 48),
                  orientation=F.CORONAL, ids=ids, names=["SCOUT.dcm"], edit=F.as_localizer)
    study = _study(tmp_path)
    [series] = [c for c in study.series if not c.is_localizer]
    [scout] = [c for c in study.series if c.is_localizer]
    assert series.mode is LoadMode.VOLUME and len(series.frames) == 6
    assert _problem(series, ProblemCode.LOCALIZER_SPLIT).details["localizers"] == 1
    assert _codes(series) == {ProblemCode.LOCALIZER_SPLIT}  # no orientation or size complaint
    assert series.problems[0].severity is Severity.INFO
    assert scout.mode is LoadMode.PLANES and scout.frames[0].file.path.endswith("SCOUT.dcm")
    assert load_series(scout).shape == (1, 64, 48)
    assert np.array_equal(load_series(series).array, _hu(F.ramp(6)))


@pytest.mark.parametrize(("field", "code", "severity"), [
    ("patient_id", ProblemCode.MIXED_PATIENTS, Severity.ERROR),
    ("frame_of_reference_uid", ProblemCode.MIXED_FRAME_OF_REFERENCE, Severity.WARNING),
])
def test_one_series_uid_with_two_patients_or_frames_of_reference_is_split(
        tmp_path: Path, field: str, code: ProblemCode, severity: Severity) -> None:
    first = F.new_ids()
    second = F.new_ids(series_uid=first.series_uid, study_uid=first.study_uid,
                       **({"patient_id": "OTHER-PATIENT"} if field == "patient_id" else {}))
    F.write_stack(tmp_path / "a", F.stack_positions(4, STEP), ids=first)
    F.write_stack(tmp_path / "b", F.stack_positions(3, STEP), ids=second,
                  stored=F.ramp(3, base=2000))
    study = _study(tmp_path)
    stacks = _stacks(study)
    assert sorted(stacks) == [3, 4]
    for candidate in study.series:
        problem = _problem(candidate, code)
        assert problem.severity is severity and problem.details["groups"] == 2
    assert {getattr(f.file, field) for f in stacks[4].frames} == {getattr(first, field)}
    assert {getattr(f.file, field) for f in stacks[3].frames} == {getattr(second, field)}
    assert np.array_equal(load_series(stacks[3]).array, F.ramp(3, base=2000))


# --- Stacks without 3-D geometry ----------------------------------------------------------------


def test_a_single_image_is_shown_as_a_2d_image(tmp_path: Path) -> None:
    F.write_stack(tmp_path, F.stack_positions(1, STEP), intercept=INTERCEPT)
    candidate = _only(tmp_path)
    assert candidate.mode is LoadMode.PLANES
    assert _problem(candidate, ProblemCode.SINGLE_SLICE).severity is Severity.INFO
    volume = load_series(candidate)
    assert np.array_equal(volume.array, _hu(F.ramp(1)))


def _drop_position(ds: Dataset, k: int) -> None:
    del ds.ImagePositionPatient


def _zero_orientation(ds: Dataset, k: int) -> None:
    ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]


def _parallel_orientation(ds: Dataset, k: int) -> None:
    ds.ImageOrientationPatient = [1, 0, 0, 1, 0, 0]


def _zero_spacing(ds: Dataset, k: int) -> None:
    ds.PixelSpacing = [0, 0]


def _negative_spacing(ds: Dataset, k: int) -> None:
    ds.PixelSpacing = [-0.7, -0.9]  # would silently mirror the image if taken at face value


@pytest.mark.parametrize(("edit", "order"), [
    (_drop_position, "instance"), (_zero_orientation, "instance"),
    (_parallel_orientation, "instance"), (_zero_spacing, "position"), (_negative_spacing, "position"),
])
def test_missing_or_impossible_geometry_shows_2d_images(tmp_path: Path, edit, order: str) -> None:
    """Without positions the instance numbers order the images; with them, the positions do."""
    n = 4
    F.write_stack(tmp_path / "bad", F.stack_positions(n, STEP), instance_numbers=[3, 1, 4, 2],
                  names=[f"IM{m}.dcm" for m in (2, 4, 1, 3)], edit=edit)
    F.axial_series(tmp_path / "good")  # one broken series must not sink the study
    study = _study(tmp_path)
    [candidate] = [c for c in study.series if len(c.frames) == n]
    assert candidate.mode is LoadMode.PLANES
    _problem(candidate, ProblemCode.MISSING_GEOMETRY)
    written = [(int(v) - 1000) // 100 for v in load_series(candidate).array[:, 0, 0]]
    assert written == ([1, 3, 0, 2] if order == "instance" else [0, 1, 2, 3])
    [good] = [c for c in study.series if c is not candidate]
    assert good.mode is LoadMode.VOLUME and good.problems == []


def test_every_irregular_stack_names_its_geometry_problem(tmp_path: Path) -> None:
    """One folder per irregularity: none of them loads as a plain volume without a word."""
    positions = F.stack_positions(8, STEP)
    gap = np.delete(positions, 3, axis=0)
    dup = np.insert(positions, 3, positions[3], axis=0)
    uneven = positions + np.array([0, 0, 0.4])[None, :] * (np.arange(8) % 2)[:, None]
    tilted = positions + np.array([0, 0.5, 0])[None, :] * np.arange(8)[:, None]
    for name, pos in {"gap": gap, "dup": dup, "uneven": uneven, "tilted": tilted}.items():
        F.write_stack(tmp_path / name, pos, ids=F.new_ids(), stored=F.ramp(len(pos)))
    study = _study(tmp_path)
    assert len(study.series) == 4 and not study.ok
    for candidate in study.series:
        assert _codes(candidate) & GEOMETRY_CODES, candidate.frames[0].file.path
        assert any(p.severity is not Severity.INFO for p in candidate.problems)
