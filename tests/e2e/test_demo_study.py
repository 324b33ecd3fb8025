"""The demo study end to end: generated DICOM opens cleanly and its ground truth lines up with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from viewer.core.problems import Severity
from viewer.io.demo_study import ensure_demo_study, write_demo_study
from viewer.io.loader import load_series
from viewer.io.nifti import load_nifti
from viewer.io.study import open_folder
from viewer.synth.phantom import PhantomParams

SMALL = PhantomParams(shape=(48, 128, 128), spacing=(5.0, 2.8, 2.8))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_study(root, seed=3, params=SMALL)
    return root


def test_demo_opens_as_one_clean_ct_volume(demo: Path) -> None:
    study = open_folder(str(demo / "dicom"))
    assert study.file_problems == []
    [series] = study.series
    assert not [p for p in series.problems if p.severity is not Severity.INFO]
    volume = load_series(series)
    assert volume.shape == SMALL.shape and volume.meta.modality == "CT"
    assert np.allclose(volume.spacing, SMALL.spacing[::-1])
    assert -1100 <= volume.array.min() and volume.array.max() <= 3100  # Hounsfield units


def test_truth_masks_lie_on_the_dicom_grid_and_lesions_where_recorded(demo: Path) -> None:
    volume = load_series(open_folder(str(demo / "dicom")).series[0])
    labels = load_nifti(str(demo / "truth" / "lesions.nii.gz"))
    assert labels.shape == volume.shape and np.allclose(labels.affine, volume.affine, atol=1e-3)
    truth = json.loads((demo / "truth" / "lesions.json").read_text())["lesions"]
    assert 1 <= len(truth) <= 5
    voxel_ml = float(np.prod(volume.spacing)) / 1000.0
    for lesion in truth:
        mask = labels.array == lesion["label"]
        assert abs(mask.sum() * voxel_ml - lesion["volume_ml"]) <= 0.03 * lesion["volume_ml"] + voxel_ml
        centroid_kji = np.argwhere(mask).mean(axis=0)
        centroid_lps = volume.index_to_lps(centroid_kji[::-1])
        assert np.allclose(centroid_lps, lesion["centre_lps_mm"], atol=0.5), lesion


def test_the_demo_root_opens_on_the_ct_not_on_its_truth_label_map(demo: Path) -> None:
    """The root holds the DICOM CT and the ground truth as a NIfTI on the same grid: the series
    shown (and given to a model) first must be the CT."""
    study = open_folder(str(demo))
    assert len(study.series) == 2  # the CT and the label map tie on size
    first = study.default()
    assert first is not None and first.meta.modality == "CT"


def test_first_run_generates_the_default_demo_once(tmp_path: Path) -> None:
    folder = ensure_demo_study(tmp_path)
    stamp = (folder / "IM00001.dcm").stat().st_mtime_ns
    assert ensure_demo_study(tmp_path) == folder  # cached: not generated again
    assert (folder / "IM00001.dcm").stat().st_mtime_ns == stamp
    [series] = open_folder(str(folder)).series
    assert series.shape == (200, 512, 512)
    assert np.allclose(series.spacing, (0.7, 0.7, 2.5))
