"""Rulers and ellipse ROIs measure in patient millimetres on any plane and pick the right voxels."""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest

from viewer.core.annotations import AnnotationList, EllipseRoi, Ruler, roi_stats
from viewer.core.volume import Volume

SPACING = (0.7, 0.7, 2.5)  # (i, j, k) mm


def _affine(spacing=SPACING, rotation=np.eye(3), origin=(-100.0, -80.0, 30.0)) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = np.asarray(rotation) @ np.diag(spacing)
    a[:3, 3] = origin
    return a


def _rotation(axis, degrees: float) -> np.ndarray:
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


OBLIQUE_ROT = _rotation((1.0, -2.0, 0.5), 37.0)


def _ramp_volume(shape=(12, 40, 50), affine=None) -> Volume:
    """Value 10000 k + 100 j + i: any wrong axis or sign changes a mean."""
    k, j, i = np.indices(shape)
    values = (10000 * k + 100 * j + i).astype(np.float32)
    return Volume(values, _affine() if affine is None else affine)


# --- Ruler ----------------------------------------------------------------------------------------


def test_ruler_length_is_millimetres_at_anisotropic_spacing() -> None:
    vol = Volume(np.zeros((20, 64, 64), np.int16), _affine())
    a, b = vol.index_to_lps((10, 20, 3)), vol.index_to_lps((40, 60, 13))
    ruler = Ruler(tuple(a), tuple(b))
    expected = math.sqrt((30 * 0.7) ** 2 + (40 * 0.7) ** 2 + (10 * 2.5) ** 2)
    assert ruler.length_mm == pytest.approx(expected, abs=1e-9)
    assert abs(ruler.length_mm - math.sqrt(30**2 + 40**2 + 10**2)) > 5  # not a voxel count
    assert ruler.label == f"{expected:.1f} mm"


def test_ruler_on_a_rotated_volume_measures_the_same() -> None:
    vol = Volume(np.zeros((20, 64, 64), np.int16), _affine(rotation=OBLIQUE_ROT))
    ruler = Ruler(vol.index_to_lps((5, 5, 2)), vol.index_to_lps((8, 9, 6)))
    # (3, 4, 4) voxels -> (2.1, 2.8, 10.0) mm whatever the rotation
    assert ruler.length_mm == pytest.approx(math.sqrt(2.1**2 + 2.8**2 + 10.0**2), abs=1e-9)


def test_ruler_moved_keeps_uid_and_other_end() -> None:
    ruler = Ruler((0, 0, 0), (3, 4, 0))
    moved = ruler.moved(1, (6, 8, 0))
    assert (moved.uid, moved.a, moved.length_mm) == (ruler.uid, (0.0, 0.0, 0.0), 10.0)
    assert ruler.moved(0, (3, 4, 12)).length_mm == 12.0
    assert ruler.length_mm == 5.0  # the original is untouched


# --- EllipseRoi geometry --------------------------------------------------------------------------


def test_ellipse_from_corners_on_an_oblique_plane() -> None:
    right, up = OBLIQUE_ROT[:, 0], OBLIQUE_ROT[:, 1]
    p0 = np.array([10.0, 20.0, 30.0])
    p1 = p0 + 8.0 * right - 6.0 * up  # dragged right and down
    roi = EllipseRoi.from_corners(p0, p1, right, up)
    assert roi.semi_axes_mm == pytest.approx((4.0, 3.0))
    assert roi.area_mm2 == pytest.approx(math.pi * 12.0)
    assert np.allclose(roi.center, p0 + 4.0 * right - 3.0 * up)
    assert np.allclose(roi.normal, np.cross(right, up))
    inside = [roi.center, np.add(roi.center, 3.9 * right), np.add(roi.center, 2.9 * up)]
    outside = [np.add(roi.center, 4.1 * right), np.add(roi.center, 2.9 * right + 2.9 * up)]
    assert roi.contains(np.array(inside)).tolist() == [True, True, True]
    assert roi.contains(np.array(outside)).tolist() == [False, False]
    off_plane = np.add(roi.center, 2.0 * roi.normal)
    assert roi.contains(off_plane) and not roi.contains(off_plane, tolerance_mm=1.0)


# --- roi_stats ------------------------------------------------------------------------------------


def test_uniform_disc_on_an_axial_slice() -> None:
    shape = (10, 128, 128)
    arr = np.full(shape, -500.0, np.float32)
    k, j, i = np.indices(shape)
    arr[(k == 5) & (np.hypot((i - 64) * 0.7, (j - 60) * 0.7) <= 25.0)] = 100.0
    vol = Volume(arr, _affine())
    c = vol.index_to_lps((64, 60, 5))
    roi = EllipseRoi(c, (20.0, 0, 0), (0, 15.0, 0))
    stats = roi_stats(vol, roi)
    assert (stats.mean, stats.sd, stats.min, stats.max) == (100.0, 0.0, 100.0, 100.0)
    # exactly the voxels of slice 5 whose centres lie inside
    ii, jj = np.meshgrid(np.arange(128), np.arange(128))
    expected = np.count_nonzero(((ii - 64) * 0.7 / 20) ** 2 + ((jj - 60) * 0.7 / 15) ** 2 <= 1)
    assert stats.n_voxels == expected
    assert stats.area_mm2 == pytest.approx(expected * 0.49)
    assert stats.area_mm2 == pytest.approx(math.pi * 20 * 15, rel=0.03)


def test_plane_between_slices_uses_the_nearest_slice() -> None:
    vol = _ramp_volume()
    roi = EllipseRoi(vol.index_to_lps((25, 20, 4.6)), (3.0, 0, 0), (0, 3.0, 0))
    assert roi_stats(vol, roi).mean == pytest.approx(50000 + 2000 + 25)


def test_coronal_roi_picks_the_right_voxels() -> None:
    # a volume stored feet first (k -> -z) and with rows running anterior (j -> -y)
    flip = np.diag([1.0, -1.0, -1.0])
    vol = _ramp_volume(affine=_affine(rotation=flip))
    centre = vol.index_to_lps((20, 15, 6))
    roi = EllipseRoi(centre, (7.0, 0, 0), (0, 0, 10.0))  # in the coronal plane (x, z)
    stats = roi_stats(vol, roi)
    assert stats.mean == pytest.approx(60000 + 1500 + 20)  # symmetric region: the centre's value
    assert stats.sd > 0
    kk, ii = np.meshgrid(np.arange(12), np.arange(50), indexing="ij")
    expected = np.count_nonzero(((ii - 20) * 0.7 / 7) ** 2 + ((kk - 6) * 2.5 / 10) ** 2 <= 1)
    assert stats.n_voxels == expected
    assert stats.area_mm2 == pytest.approx(expected * 0.7 * 2.5)
    # the same ellipse one row further along y is on a neighbouring coronal slice
    shifted = EllipseRoi(np.add(centre, (0, 0.7, 0)), roi.u, roi.v)
    assert roi_stats(vol, shifted).mean == pytest.approx(60000 + 1400 + 20)


def _two_spheres(rotation: np.ndarray) -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray]:
    shape = (30, 90, 90)
    vol = Volume(np.zeros(shape, np.float32), _affine(rotation=rotation))
    centre = vol.index_to_lps((45, 45, 15))
    normal = np.array([1.0, 1.0, 1.0]) / math.sqrt(3)
    u = np.cross(normal, (0, 0, 1.0))
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    k, j, i = np.indices(shape)
    lps = vol.index_to_lps(np.stack([i, j, k], axis=-1))
    for sign, value in ((1, 100.0), (-1, 300.0)):
        vol.array[np.linalg.norm(lps - (centre + sign * 8 * u), axis=-1) <= 7.0] = value
    return vol, centre, u, v


@pytest.mark.parametrize("rotation", [np.eye(3), OBLIQUE_ROT], ids=["axial", "rotated"])
def test_oblique_roi_picks_the_right_sphere(rotation) -> None:
    vol, centre, u, v = _two_spheres(rotation)
    roi = EllipseRoi(centre + 8 * u, 5 * u, 4 * v)
    stats = roi_stats(vol, roi)
    assert (stats.mean, stats.sd) == (100.0, 0.0)  # the other sphere would give 300
    assert stats.area_mm2 == pytest.approx(math.pi * 20, rel=0.03)
    assert stats.n_voxels > 0
    other = roi_stats(vol, EllipseRoi(centre - 8 * u, 5 * u, 4 * v))
    assert other.mean == 300.0


def test_oblique_and_slice_paths_agree_on_a_smooth_volume() -> None:
    vol = _ramp_volume()
    centre = vol.index_to_lps((25, 20, 6))
    flat = roi_stats(vol, EllipseRoi(centre, (6.0, 0, 0), (0, 6.0, 0)))
    tilt = math.radians(0.5)  # 6 mm x sin(0.5 deg) = 0.05 mm > 0.01 voxel: oblique sampling
    tilted = roi_stats(vol, EllipseRoi(centre, (6 * math.cos(tilt), 0, 6 * math.sin(tilt)),
                                       (0, 6.0, 0)))
    assert tilted.mean == pytest.approx(flat.mean, abs=5)
    assert tilted.area_mm2 == pytest.approx(flat.area_mm2, rel=0.05)


@pytest.mark.parametrize("oblique", [False, True])
def test_half_outside_roi(oblique: bool) -> None:
    arr = np.full((10, 64, 64), 50.0, np.float32)
    vol = Volume(arr, _affine())
    centre = vol.index_to_lps((0, 32, 5))  # on the first column: the left half is outside
    u, v = np.array([10.0, 0, 0]), np.array([0, 10.0, 0])
    if oblique:
        rot = _rotation((0, 1, 0), 20.0)  # tilt about y: the edge x = const is still halfway
        u = rot @ u
    stats = roi_stats(vol, EllipseRoi(centre, u, v))
    assert (stats.mean, stats.sd) == (50.0, 0.0)
    assert stats.area_mm2 == pytest.approx(math.pi * 100 / 2, rel=0.06)


@pytest.mark.parametrize("roi", [
    EllipseRoi((500.0, 500.0, 500.0), (5.0, 0, 0), (0, 5.0, 0)),  # far away, axial
    EllipseRoi((500.0, 500.0, 500.0), (3.0, 4.0, 0), (0, 0, 5.0)),  # far away, oblique
    EllipseRoi((-100.0, -80.0, 30.0 + 10 * 2.5), (5.0, 0, 0), (0, 5.0, 0)),  # past the last slice
    EllipseRoi((-100.0 + 0.35, -80.0 + 0.35, 30.0), (0.1, 0, 0), (0, 0.1, 0)),  # between centres
], ids=["far", "far-oblique", "past-last-slice", "between-centres"])
def test_empty_roi_gives_nan_not_an_exception(roi: EllipseRoi) -> None:
    vol = Volume(np.ones((10, 32, 32), np.int16), _affine())
    stats = roi_stats(vol, roi)
    assert stats.n_voxels == 0 and stats.area_mm2 == 0.0
    assert all(math.isnan(x) for x in (stats.mean, stats.sd, stats.min, stats.max))
    assert stats.label() == "no voxels"


def test_roi_stats_reads_only_the_bounding_box() -> None:
    big = np.broadcast_to(np.arange(512, dtype=np.int16), (300, 512, 512))  # no memory behind it
    vol = Volume(big, _affine())
    roi = EllipseRoi(vol.index_to_lps((256, 256, 150)), (15.0, 0, 0), (0, 10.0, 0))
    tracemalloc.start()
    start = time.perf_counter()
    stats = roi_stats(vol, roi)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert stats.mean == pytest.approx(256, abs=0.01)
    assert peak < 5_000_000  # a full-volume copy would be 150+ MB
    assert elapsed < 0.5


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "name"), [
    (lambda: Ruler((1.0, 2.0), (0, 0, 0)), "a"),
    (lambda: Ruler((0, 0, 0), (0, float("nan"), 0)), "b"),
    (lambda: Ruler((0, 0, 0), (1, 1, 1), uid="not a uid"), "uid"),
    (lambda: Ruler((0, 0, 0), (1, 1, 1)).moved(2, (0, 0, 0)), "end"),
    (lambda: Ruler((0, 0, 0), (1, 1, 1)).moved(0, "x"), "point"),
    (lambda: EllipseRoi(("a", 0, 0), (1, 0, 0), (0, 1, 0)), "center"),
    (lambda: EllipseRoi((0, 0, 0), (0, 0, 0), (0, 1, 0)), "u"),
    (lambda: EllipseRoi((0, 0, 0), (1, 0, 0), (0.1, 1, 0)), "v"),
    (lambda: EllipseRoi.from_corners((0, 0, 0), (5, 0, 0), (1, 0, 0), (0, 1, 0)), "p0"),
    (lambda: EllipseRoi.from_corners((0, 0, 0), (5, 5, 0), (1, 0, 0), (1, 1, 0)), "up"),
    (lambda: EllipseRoi.from_corners((0, 0, 0), (5, 5, 0), (0, 0, 0), (0, 1, 0)), "right"),
])
def test_validation_names_the_argument(build, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        build()


def test_annotations_are_immutable_and_hashable() -> None:
    ruler = Ruler((0, 0, 0), (1, 0, 0))
    with pytest.raises(AttributeError):
        ruler.a = (2.0, 0.0, 0.0)  # type: ignore[misc]
    assert ruler == Ruler((0, 0, 0), (1, 0, 0), uid=ruler.uid) and hash(ruler)


# --- AnnotationList -------------------------------------------------------------------------------


def test_list_events_fire_once_each() -> None:
    events: list[tuple[str, object]] = []
    items = AnnotationList()
    for name in ("added", "removed", "changed"):
        getattr(items, name).connect(lambda a, name=name: events.append((name, a)))
    ruler = Ruler((0, 0, 0), (1, 0, 0))
    items.add(ruler)
    longer = ruler.moved(1, (2, 0, 0))
    items.replace(longer)
    items.replace(longer)  # no change, no event
    assert items.remove(ruler.uid) == longer
    assert events == [("added", ruler), ("changed", longer), ("removed", longer)]
    assert len(items) == 0


def test_list_refuses_duplicates_and_unknown_uids() -> None:
    items = AnnotationList()
    ruler = Ruler((0, 0, 0), (1, 0, 0))
    items.add(ruler)
    with pytest.raises(ValueError, match="already"):
        items.add(ruler)
    with pytest.raises(KeyError):
        items.remove("1.2.3")
    with pytest.raises(KeyError):
        items.replace(Ruler((0, 0, 0), (1, 0, 0)))
    with pytest.raises(ValueError, match="stay a Ruler"):
        items.replace(EllipseRoi((0, 0, 0), (1, 0, 0), (0, 1, 0), uid=ruler.uid))
    assert items.items == (ruler,)


def test_on_slice_shows_only_what_lies_on_the_plane() -> None:
    items = AnnotationList()
    on_ruler = Ruler((0, 0, 10.0), (30, 5, 10.2))
    off_ruler = Ruler((0, 0, 12.5), (30, 5, 12.5))  # the next axial slice
    crossing_ruler = Ruler((0, 0, 0.0), (0, 0, 20.0))
    on_roi = EllipseRoi((5, 5, 10.0), (4, 3, 0), (-3, 4, 0))
    coronal_roi = EllipseRoi((5, 5, 10.0), (4, 0, 0), (0, 0, 3))  # crosses the plane
    for a in (on_ruler, off_ruler, crossing_ruler, on_roi, coronal_roi):
        items.add(a)
    assert items.on_slice((0, 0, 10.0), (0, 0, 1), 1.25) == (on_ruler, on_roi)
    assert items.on_slice((0, 0, 10.0), (0, 0, -2), 1.25) == (on_ruler, on_roi)
    assert items.on_slice((0, 5.0, 0), (0, 1, 0), 0.5) == (coronal_roi,)
    with pytest.raises(ValueError, match="^plane_normal "):
        items.on_slice((0, 0, 0), (0, 0, 0), 1.0)
