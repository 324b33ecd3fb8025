"""The synthetic phantom: deterministic, anatomically oriented, lesions where and as recorded."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from viewer.synth import anatomy
from viewer.synth.lesions import LIVER_METASTASIS, LUNG_NODULE
from viewer.synth.phantom import Phantom, PhantomParams, generate_phantom

COARSE = PhantomParams(shape=(64, 128, 128), spacing=(5.0, 2.8, 2.8), n_lesions=(3, 5))


@pytest.fixture(scope="module", params=[1, 2, 3])
def phantom(request: pytest.FixtureRequest) -> Phantom:
    return generate_phantom(request.param, COARSE)


def test_same_seed_same_phantom_other_seed_differs() -> None:
    a, b = generate_phantom(11, COARSE), generate_phantom(11, COARSE)
    assert np.array_equal(a.hu, b.hu) and np.array_equal(a.lesions, b.lesions) and a.truth == b.truth
    assert not np.array_equal(a.hu, generate_phantom(12, COARSE).hu)


def test_organs_have_plausible_hounsfield_units(phantom: Phantom) -> None:
    def mean(code: int) -> float:
        inner = ndimage.binary_erosion(phantom.organs == code, iterations=1) & (phantom.lesions == 0)
        return float(phantom.hu[inner].mean())

    assert mean(anatomy.LUNG) < -600
    assert 40 <= mean(anatomy.LIVER) <= 80
    assert mean(anatomy.FAT) < -50
    assert mean(anatomy.BONE) > 200
    assert phantom.hu[0, 0, 0] < -900  # air outside the body


def test_liver_on_patients_right_spine_posterior_lungs_superior(phantom: Phantom) -> None:
    centre_x = (phantom.hu.shape[2] - 1) / 2
    centre_y = (phantom.hu.shape[1] - 1) / 2
    liver = np.argwhere(phantom.organs == anatomy.LIVER).mean(axis=0)
    bone = np.argwhere(phantom.organs == anatomy.BONE)
    lung = np.argwhere(phantom.organs == anatomy.LUNG).mean(axis=0)
    assert liver[2] < centre_x  # column index grows towards the patient's left (LPS +x)
    spine = bone[np.abs(bone[:, 2] - centre_x) < 3]
    assert spine[:, 1].mean() > centre_y  # row index grows towards posterior
    assert lung[0] > liver[0]  # slice index grows towards superior


def test_lesions_inside_their_organ_and_labelled_as_recorded(phantom: Phantom) -> None:
    lo, hi = COARSE.n_lesions
    assert 1 <= len(phantom.truth) <= hi
    labels, count = ndimage.label(phantom.lesions > 0)
    assert count == len(phantom.truth)
    for t in phantom.truth:
        mask = phantom.lesions == t.label
        organ = anatomy.LIVER if t.kind == LIVER_METASTASIS else anatomy.LUNG
        assert t.kind in (LIVER_METASTASIS, LUNG_NODULE)
        assert (phantom.organs[mask] == organ).all()
        assert COARSE.lesion_diameter_mm[0] <= t.max_diameter_mm <= COARSE.lesion_diameter_mm[1]
        voxel_ml = float(np.prod(COARSE.spacing)) / 1000
        assert t.volume_ml == pytest.approx(mask.sum() * voxel_ml)
        assert t.short_axis_mm <= t.long_axis_mm


def test_lesions_stand_out_from_their_surroundings() -> None:
    p = generate_phantom(5, PhantomParams(shape=(100, 192, 192), spacing=(5.0, 1.9, 1.9),
                                          n_lesions=(4, 4), lesion_diameter_mm=(15, 30)))
    for t in p.truth:
        mask = p.lesions == t.label
        ring = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(mask, iterations=1)
        difference = abs(float(p.hu[mask].mean()) - float(p.hu[ring].mean()))
        assert difference > 10, t


def test_default_grid_is_the_clinical_demo_size() -> None:
    assert PhantomParams().shape == (200, 512, 512)
    assert PhantomParams().spacing == (2.5, 0.7, 0.7)
    with pytest.raises(ValueError, match="n_lesions"):
        PhantomParams(n_lesions=(3, 1))
