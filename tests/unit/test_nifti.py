"""NIfTI volumes (written here with SimpleITK) open with their geometry in LPS and their values intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.data import factory as F
from viewer.core.problems import ProblemCode
from viewer.io.loader import load_series
from viewer.io.series import LoadMode, SeriesCandidate
from viewer.io.study import open_folder

SPACING = (0.8, 1.1, 3.0)  # (i, j, k) mm
ORIGIN = (-20.0, 35.0, -70.0)  # LPS mm
# Columns: LPS directions of i, j, k. i runs to the patient's right, j anterior-oblique, k superior.
DIRECTION = np.array([[-1.0, 0.0, 0.0],
                      [0.0, -np.cos(np.radians(20)), np.sin(np.radians(20))],
                      [0.0, np.sin(np.radians(20)), np.cos(np.radians(20))]])


def _write(path: Path, array: np.ndarray) -> sitk.Image:
    """``array[k, j, i]`` as a NIfTI file with the geometry above; returns the image written."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION.ravel().tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return image


def _values(shape: tuple[int, int, int] = (5, 12, 10)) -> np.ndarray:
    return np.random.default_rng(2).integers(-1000, 2000, shape).astype(np.int16)


def _nifti(folder: Path) -> SeriesCandidate:
    study = open_folder(str(folder))
    assert study.file_problems == []
    [candidate] = [s for s in study.series if s.nifti_path is not None]
    return candidate


def test_nifti_geometry_and_values_load_in_lps(tmp_path: Path) -> None:
    values = _values()
    image = _write(tmp_path / "ct.nii.gz", values)
    candidate = _nifti(tmp_path)
    assert candidate.mode is LoadMode.VOLUME and candidate.shape == values.shape
    volume = load_series(candidate)
    assert volume.array.dtype == np.int16 and np.array_equal(volume.array, values)
    assert volume.spacing == pytest.approx(SPACING)
    assert volume.origin == pytest.approx(ORIGIN, abs=1e-4)
    for ijk in [(0, 0, 0), (9, 0, 0), (3, 7, 2), (9, 11, 4)]:
        truth = image.TransformIndexToPhysicalPoint(ijk)  # ITK's own index -> LPS
        assert volume.index_to_lps(ijk) == pytest.approx(truth, abs=1e-4)
    assert np.allclose(candidate.affine, volume.affine)


def test_nifti_left_and_right_are_not_swapped(tmp_path: Path) -> None:
    values = np.zeros((5, 12, 10), dtype=np.int16)
    values[2, 6, 0] = 500  # i = 0 is the leftmost column: i runs to the patient's right
    _write(tmp_path / "marker.nii", values)
    volume = load_series(_nifti(tmp_path))
    k, j, i = np.unravel_index(int(np.argmax(volume.array)), volume.shape)
    assert volume.index_to_lps((i, j, k))[0] == pytest.approx(ORIGIN[0])
    assert volume.index_to_lps((i, j, k))[0] > volume.index_to_lps((i + 1, j, k))[0]


def test_float_nifti_stays_float(tmp_path: Path) -> None:
    values = _values().astype(np.float32) / 7
    _write(tmp_path / "map.nii.gz", values)
    volume = load_series(_nifti(tmp_path))
    assert volume.array.dtype == np.float32 and np.array_equal(volume.array, values)


def test_open_folder_finds_nifti_next_to_dicom(tmp_path: Path) -> None:
    F.axial_series(tmp_path / "dicom")
    _write(tmp_path / "derived" / "labels" / "seg.nii.gz", _values())
    study = open_folder(str(tmp_path))
    assert study.file_problems == [] and len(study.series) == 2
    candidate = _nifti(tmp_path)
    assert candidate.nifti_path == str(tmp_path / "derived" / "labels" / "seg.nii.gz")
    assert candidate.meta.series_description == "seg.nii.gz"


def test_a_broken_nifti_is_named(tmp_path: Path) -> None:
    F.axial_series(tmp_path / "dicom")
    bad = F.write_bytes(tmp_path / "broken.nii.gz", b"\x1f\x8b" + bytes(200))
    study = open_folder(str(tmp_path))
    [problem] = study.file_problems
    assert problem.path == str(bad) and problem.code is ProblemCode.TRUNCATED
    assert len(study.series) == 1


def test_a_4d_nifti_shows_its_first_volume_and_says_so(tmp_path: Path) -> None:
    volumes = [_values() + np.int16(100 * t) for t in range(3)]
    image = sitk.JoinSeries([sitk.GetImageFromArray(v) for v in volumes])
    direction = np.eye(4)
    direction[:3, :3] = DIRECTION
    image.SetSpacing((*SPACING, 2.0))
    image.SetOrigin((*ORIGIN, 0.0))
    image.SetDirection(direction.ravel().tolist())
    sitk.WriteImage(image, str(tmp_path / "dynamic.nii.gz"))
    candidate = _nifti(tmp_path)
    [problem] = candidate.problems
    assert problem.code is ProblemCode.UNSUPPORTED_IMAGE and "first of 3" in problem.message
    volume = load_series(candidate)
    assert np.array_equal(volume.array, volumes[0])
    assert volume.spacing == pytest.approx(SPACING)
    assert volume.direction == pytest.approx(DIRECTION, abs=1e-5)
    assert volume.origin == pytest.approx(ORIGIN, abs=1e-4)
