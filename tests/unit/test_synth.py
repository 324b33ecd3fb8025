"""The synthetic CT phantom: deterministic, anatomically oriented, realistic HU, lesions as recorded."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from viewer.synth import (
    BONE,
    FAT,
    LIVER,
    LIVER_METASTASIS,
    LUNG,
    LUNG_NODULE,
    Phantom,
    PhantomParams,
    generate_phantom,
    lesion_measurements,
)

COARSE = PhantomParams(shape=(64, 128, 128), spacing=(5.0, 2.8, 2.8), n_lesions=(3, 5))
ORGAN_OF = {LIVER_METASTASIS: LIVER, LUNG_NODULE: LUNG}


@pytest.fixture(scope="module", params=[1, 2, 3])
def phantom(request: pytest.FixtureRequest) -> Phantom:
    return generate_phantom(request.param, COARSE)


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def test_same_seed_gives_identical_phantom_other_seed_differs() -> None:
    a, b = generate_phantom(11, COARSE), generate_phantom(11, COARSE)
    for name in ("hu", "organs", "lesions"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.truth == b.truth and a.seed == 11 and a.spacing == COARSE.spacing
    assert not np.array_equal(a.hu, generate_phantom(12, COARSE).hu)


def test_volumes_have_the_documented_types_and_ranges(phantom: Phantom) -> None:
    assert phantom.hu.dtype == np.int16 and phantom.hu.shape == COARSE.shape
    assert phantom.organs.dtype == np.uint8 and phantom.lesions.dtype == np.uint8
    assert -1024 <= phantom.hu.min() and phantom.hu.max() <= 3071
    assert set(np.unique(phantom.organs)) <= {0, 1, 2, 3, 4, 5}


def test_organs_have_plausible_hounsfield_units(phantom: Phantom) -> None:
    def mean(code: int) -> float:
        inner = ndimage.binary_erosion(phantom.organs == code) & (phantom.lesions == 0)
        return float(phantom.hu[inner].mean())

    assert mean(LUNG) < -600
    assert 40 <= mean(LIVER) <= 80
    assert mean(FAT) < -50
    assert mean(BONE) > 200
    assert phantom.hu[:, :4, :4].mean() < -900  # air outside the body


def test_anatomy_is_oriented_like_a_patient_in_lps(phantom: Phantom) -> None:
    _, rows, cols = phantom.hu.shape
    liver, lung = _centroid(phantom.organs == LIVER), _centroid(phantom.organs == LUNG)
    assert liver[2] < (cols - 1) / 2  # column 0 is the patient's right: the liver is there
    assert lung[0] > liver[0]  # slice 0 is inferior: the lungs lie above the liver
    lung_area = (phantom.organs == LUNG).sum(axis=(1, 2))
    chest = phantom.organs[lung_area > lung_area.max() / 2]
    body_rows = np.argwhere(chest[:, :, cols // 2] > 0)[:, 1]
    front, back = body_rows.min(), body_rows.max()  # rows grow backwards
    bone_rows = np.argwhere(chest[:, :, cols // 2 - 2:cols // 2 + 3] == BONE)[:, 1]
    assert np.median(bone_rows) > front + 0.5 * (back - front)  # the vertebral column, behind
    assert np.percentile(bone_rows, 95) > front + 0.75 * (back - front)  # its spinous processes
    heart_level = phantom.hu[int(lung[0]) - 4]
    soft = (heart_level > 0) & (heart_level < 100) & (phantom.organs[int(lung[0]) - 4] == 1)
    between_lungs = soft[rows // 4:rows * 3 // 5, cols // 3:cols * 2 // 3]
    assert _centroid(between_lungs)[1] > between_lungs.shape[1] / 2 - 1  # heart/mediastinum: slightly left


def test_lesions_lie_inside_their_organ_and_are_labelled_as_recorded(phantom: Phantom) -> None:
    lo, hi = COARSE.n_lesions
    assert lo <= len(phantom.truth) <= hi
    assert {t.kind for t in phantom.truth} == {LIVER_METASTASIS, LUNG_NODULE}  # a mix of both
    _, count = ndimage.label(phantom.lesions > 0, structure=np.ones((3, 3, 3)))
    assert count == len(phantom.truth)
    assert sorted(t.label for t in phantom.truth) == list(range(1, len(phantom.truth) + 1))
    assert set(np.unique(phantom.lesions)) == {0, *(t.label for t in phantom.truth)}
    for t in phantom.truth:
        assert (phantom.organs[phantom.lesions == t.label] == ORGAN_OF[t.kind]).all(), t


def test_lesion_truth_matches_the_mask(phantom: Phantom) -> None:
    sz, sy, sx = COARSE.spacing
    for t in phantom.truth:
        mask = phantom.lesions == t.label
        assert COARSE.lesion_diameter_mm[0] <= t.max_diameter_mm <= COARSE.lesion_diameter_mm[1]
        assert 0 < t.short_axis_mm <= t.long_axis_mm <= t.max_diameter_mm + sx  # edge to edge: + a voxel
        assert t.volume_ml == pytest.approx(mask.sum() * sz * sy * sx / 1000)
        z, y, x = (round(c / s) for c, s in zip(t.centre_mm[::-1], COARSE.spacing, strict=True))
        assert mask[max(z - 1, 0):z + 2, y - 1:y + 2, x - 1:x + 2].any(), t
        m = lesion_measurements(mask, COARSE.spacing)
        assert (m.long_axis_mm, m.short_axis_mm) == pytest.approx((t.long_axis_mm, t.short_axis_mm))


def test_lesions_stand_out_from_their_surroundings() -> None:
    params = PhantomParams(shape=(60, 192, 192), spacing=(5.0, 1.9, 1.9), n_lesions=(5, 5),
                           lesion_diameter_mm=(15.0, 30.0), liver_fraction=0.8)
    p = generate_phantom(5, params)
    assert any(t.kind == LIVER_METASTASIS for t in p.truth)
    for t in p.truth:
        mask = p.lesions == t.label
        ring = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(mask, iterations=1)
        ring &= (p.organs == ORGAN_OF[t.kind]) & (p.lesions == 0)
        difference = float(p.hu[ring].mean()) - float(p.hu[mask].mean())
        assert (difference > 10) if t.kind == LIVER_METASTASIS else (difference < -300), t


def test_same_anatomy_on_a_coarser_grid() -> None:
    fine = generate_phantom(4, PhantomParams(shape=(64, 128, 128), spacing=(5.0, 2.8, 2.8), n_lesions=(0, 0)))
    coarse = generate_phantom(4, PhantomParams(shape=(32, 64, 64), spacing=(10.0, 5.6, 5.6), n_lesions=(0, 0)))
    for code in (LIVER, LUNG, BONE):
        a = _centroid(fine.organs == code) * COARSE.spacing
        b = _centroid(coarse.organs == code) * (10.0, 5.6, 5.6)
        assert np.abs(a - b).max() < 6.0, code  # mm, voxel centres differ by half a coarse voxel


def test_parameters_are_validated() -> None:
    assert PhantomParams().shape == (200, 512, 512) and PhantomParams().spacing == (2.5, 0.7, 0.7)
    with pytest.raises(ValueError, match="n_lesions"):
        PhantomParams(n_lesions=(3, 1))
    with pytest.raises(ValueError, match="spacing"):
        PhantomParams(spacing=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="liver_fraction"):
        PhantomParams(liver_fraction=1.5)


@pytest.mark.parametrize("angle", [0.0, 0.5, 1.1])
def test_measurement_recovers_the_axes_of_an_ellipse(angle: float) -> None:
    spacing = (5.0, 0.7, 0.7)
    y, x = np.mgrid[:100, :100] * 0.7 - 35.0
    c, s = np.cos(angle), np.sin(angle)
    ellipse = ((x * c + y * s) / 15.0) ** 2 + ((y * c - x * s) / 9.0) ** 2 <= 1.0
    mask = np.zeros((3, 100, 100), bool)
    mask[1] = ellipse
    mask[0] = mask[2] = ndimage.binary_erosion(ellipse, iterations=4)
    m = lesion_measurements(mask, spacing)
    assert m.slice_index == 1
    assert m.long_axis_mm == pytest.approx(30.0, abs=0.7)
    assert m.short_axis_mm == pytest.approx(18.0, abs=0.7)
    assert lesion_measurements(ellipse, spacing[1:]).long_axis_mm == m.long_axis_mm  # 2-D works too


def test_measurement_volume_of_a_sphere_and_of_nothing() -> None:
    spacing = (2.5, 0.7, 0.7)
    z, y, x = np.mgrid[:24, :90, :90] * np.array(spacing)[:, None, None, None]
    sphere = (z - 30.0) ** 2 + (y - 31.0) ** 2 + (x - 31.0) ** 2 <= 25.0 ** 2
    expected = 4 / 3 * np.pi * 25.0 ** 3 / 1000
    assert lesion_measurements(sphere, spacing).volume_ml == pytest.approx(expected, rel=0.03)
    empty = lesion_measurements(np.zeros((4, 8, 8), bool), spacing)
    assert (empty.long_axis_mm, empty.volume_ml, empty.slice_index) == (0.0, 0.0, -1)


@pytest.mark.slow
def test_the_full_demo_grid() -> None:
    p = generate_phantom(7)
    assert p.hu.shape == (200, 512, 512) and p.hu.dtype == np.int16
    assert 1 <= len(p.truth) <= 5
    noise = p.hu[:, :20, :20].astype(float).std()  # air outside the body: the noise alone
    assert 6 < noise < 20
