"""The reading state without Qt: planes, cursor, scrolling, rotation, cameras and pixel mapping."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.mpr import BASE_FRAMES, Camera, Frame, MprState, Plane, Slab, Viewport, aligned_axis, slice_step_mm
from viewer.core.volume import Volume


def volume(shape: tuple[int, int, int] = (20, 30, 40), spacing: tuple[float, float, float] = (0.7, 0.8, 2.5),
           rotation_deg: float = 0.0) -> Volume:
    """A volume with (i, j, k) spacing, optionally rotated about z (an oblique acquisition)."""
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    a = np.eye(4)
    a[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag(spacing)
    a[:3, 3] = (-10.0, 5.0, -30.0)
    return Volume(np.arange(np.prod(shape), dtype=np.int32).reshape(shape), a)


def test_base_frames_look_the_radiological_way() -> None:
    assert np.allclose(BASE_FRAMES[Plane.AXIAL].normal, (0, 0, 1))  # from the feet
    assert np.allclose(BASE_FRAMES[Plane.CORONAL].normal, (0, 1, 0))  # from the front
    assert np.allclose(BASE_FRAMES[Plane.SAGITTAL].normal, (-1, 0, 0))  # from the patient's left
    assert BASE_FRAMES[Plane.AXIAL].right == (1.0, 0.0, 0.0)  # patient left on the screen's right


def test_frame_and_camera_and_slab_validate() -> None:
    with pytest.raises(ValueError, match="orthonormal"):
        Frame((1.0, 0.0, 0.0), (1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="zoom"):
        Camera(zoom=0.0)
    with pytest.raises(ValueError, match="thickness_mm"):
        Slab(-1.0)
    assert Slab(5.0, "minip").mode.value == "minip"


def test_cursor_starts_centred_snaps_to_voxel_centres_and_clamps() -> None:
    vol = volume()
    state = MprState(vol)
    assert np.allclose(vol.lps_to_index(state.cursor), (19, 14, 9))
    state.set_cursor(vol.index_to_lps([3.4, 7.6, 2.2]))
    assert np.allclose(vol.lps_to_index(state.cursor), (3, 8, 2))
    state.set_cursor((1e6, -1e6, 1e6))
    assert np.allclose(vol.lps_to_index(state.cursor), (39, 0, 19))


def test_cursor_event_fires_once_per_real_change() -> None:
    state = MprState(volume())
    seen: list[object] = []
    state.cursor_changed.connect(seen.append)
    state.set_cursor(state.cursor)
    assert seen == []
    state.scroll(Plane.AXIAL, 1)
    assert len(seen) == 1


@pytest.mark.parametrize("plane, axis", [(Plane.AXIAL, 2), (Plane.CORONAL, 1), (Plane.SAGITTAL, 0)])
def test_scroll_moves_exactly_one_slice_at_anisotropic_spacing(plane: Plane, axis: int) -> None:
    vol = volume()
    state = MprState(vol)
    before = vol.lps_to_index(state.cursor)
    state.scroll(plane, 1)
    moved = vol.lps_to_index(state.cursor) - before
    assert abs(moved[axis]) == pytest.approx(1.0)
    assert np.allclose(np.delete(moved, axis), 0.0)
    assert slice_step_mm(vol, state.frames[plane].normal) == pytest.approx(vol.spacing[axis])
    index, count = state.slice_position(plane)
    assert count == vol.shape[::-1][axis] and index == round(float(vol.lps_to_index(state.cursor)[axis]))


def test_oblique_acquisition_has_no_slice_index_on_patient_planes_except_the_native_one() -> None:
    vol = volume(rotation_deg=30.0)
    state = MprState(vol)
    assert aligned_axis(vol, state.frames[Plane.AXIAL].normal) == 2  # rotation about z keeps axial native
    assert state.slice_position(Plane.CORONAL)[0] is None
    before = state.cursor.copy()
    state.scroll(Plane.CORONAL, 1)
    assert not np.allclose(state.cursor, before)  # scrolling an oblique reformat never gets stuck


def test_rotating_one_view_turns_the_other_planes_and_keeps_them_orthogonal() -> None:
    state = MprState(volume())
    state.rotate(Plane.AXIAL, 30.0)
    assert state.frames[Plane.AXIAL] == BASE_FRAMES[Plane.AXIAL]
    assert state.oblique
    normals = [state.frames[p].normal for p in Plane]
    assert np.allclose(np.abs(np.array(normals) @ np.array(normals).T), np.eye(3), atol=1e-9)
    coronal = state.frames[Plane.CORONAL].normal
    assert np.degrees(np.arccos(coronal @ np.array([0, 1, 0]))) == pytest.approx(30.0)
    state.reset_planes()
    assert not state.oblique


@pytest.mark.parametrize("plane", list(Plane))
def test_viewport_maps_pixels_to_lps_and_back_and_fits_the_volume(plane: Plane) -> None:
    vol = volume()
    state = MprState(vol)
    state.rotate(Plane.SAGITTAL, 20.0)
    vp = Viewport.of(state, plane, 400, 300)
    p = vp.to_lps(123.0, 45.0)
    assert vp.to_px(p) == pytest.approx((123.0, 45.0))
    assert abs(float((p - state.cursor) @ state.frames[plane].normal)) < 1e-9  # on the plane through the cursor
    corners = vol.index_to_lps([[i, j, k] for i in (0, 39) for j in (0, 29) for k in (0, 19)])
    xs, ys = zip(*(vp.to_px(c) for c in corners))
    assert min(xs) >= 0 and max(xs) <= 400 and min(ys) >= 0 and max(ys) <= 300


def test_zoom_and_pan_move_what_is_under_a_pixel() -> None:
    state = MprState(volume())
    centre = Viewport.of(state, Plane.AXIAL, 400, 400).to_lps(200, 200)
    state.zoom_by(Plane.AXIAL, 2.0)
    zoomed = Viewport.of(state, Plane.AXIAL, 400, 400)
    assert zoomed.to_lps(200, 200) == pytest.approx(centre)  # zoom about the view centre
    state.pan_by(Plane.AXIAL, 10.0, 0.0)
    assert Viewport.of(state, Plane.AXIAL, 400, 400).to_lps(200, 200) == pytest.approx(centre + (10, 0, 0))
    state.zoom_by(Plane.AXIAL, 1e9)
    assert state.cameras[Plane.AXIAL].zoom == 100.0
    state.reset_cameras()
    assert state.cameras[Plane.AXIAL] == Camera()


def test_value_at_reads_the_nearest_voxel_and_none_outside() -> None:
    vol = volume()
    state = MprState(vol)
    assert state.value_at(vol.index_to_lps([5, 6, 7])) == float(vol.array[7, 6, 5])
    assert state.value_at(vol.index_to_lps([-3, 0, 0])) is None


def test_window_width_never_drops_below_one() -> None:
    state = MprState(volume())
    state.set_window(10.0, -50.0)
    assert (state.window.center, state.window.width) == (10.0, 1.0)


def test_scrolling_an_oblique_plane_does_not_drift_sideways() -> None:
    state = MprState(volume())
    state.rotate(Plane.AXIAL, 30.0)
    start, n = state.cursor.copy(), state.frames[Plane.CORONAL].normal
    for _ in range(10):
        state.scroll(Plane.CORONAL, 1)
    moved = state.cursor - start
    assert np.linalg.norm(moved - (moved @ n) * n) < 1e-6  # only along the plane's normal
    assert moved @ n > 0


def test_rotating_back_by_hand_is_not_oblique() -> None:
    state = MprState(volume())
    state.rotate(Plane.AXIAL, 10.0)
    state.rotate(Plane.AXIAL, -10.0)
    assert not state.oblique


def test_a_stack_without_3d_geometry_is_read_in_its_own_plane_only() -> None:
    from viewer.core.display import slice_text
    from viewer.core.problems import Problem, ProblemCode, Severity

    vol = volume()
    flat = Volume(vol.array, vol.affine, problems=(Problem(ProblemCode.LOADED_2D, Severity.WARNING, "gaps"),))
    state = MprState(flat)
    assert state.stack_only and state.geometry_known
    before = state.frames[Plane.CORONAL]
    state.rotate(Plane.AXIAL, 20.0)
    assert state.frames[Plane.CORONAL] == before  # nothing to rotate
    assert slice_text(state, Plane.AXIAL) == "Im 10/20 (2-D: no 3-D position)"  # never a made-up mm position
    blind = Volume(vol.array, vol.affine, problems=(Problem(ProblemCode.MISSING_GEOMETRY, Severity.WARNING, "none"),))
    assert not MprState(blind).geometry_known


def test_float_data_get_fine_windows_and_values() -> None:
    from viewer.core.display import value_text, window_text

    fa = Volume(np.linspace(0, 1, 20 * 30 * 40, dtype=np.float32).reshape(20, 30, 40), np.eye(4))
    state = MprState(fa)
    state.set_window(0.5, 0.2)
    assert state.window.width == pytest.approx(0.2)  # not widened to 1
    assert value_text(0.6021, fa) == "0.6021" and window_text(0.5, 0.2, fa) == "W 0.2  L 0.5"
    assert value_text(40.4, volume()) == "40"


def test_slice_number_is_the_instance_number_along_the_acquisition() -> None:
    from viewer.core.display import slice_text
    from viewer.core.volume import InstanceRef

    vol = volume()
    refs = tuple(InstanceRef("1.2", f"1.2.{k}", 0, 20 - k) for k in range(20))  # head-first: numbers run down
    state = MprState(Volume(vol.array, vol.affine, instances=refs))
    assert slice_text(state, Plane.AXIAL).startswith("Im 11 (10/20)  ")  # sorted index 9 is instance 11
    assert slice_text(state, Plane.CORONAL).startswith("Im 15/30  ")  # reformat: position in the stack


def test_centre_on_cursor_puts_it_in_the_middle_of_every_view() -> None:
    state = MprState(volume())
    state.zoom_by(Plane.CORONAL, 3.0)
    state.set_cursor(state.volume.index_to_lps([2, 3, 4]))
    state.centre_on_cursor()
    for plane in Plane:
        vp = Viewport.of(state, plane, 300, 200)
        assert vp.to_px(state.cursor) == pytest.approx((150.0, 100.0))
    assert state.cameras[Plane.CORONAL].zoom == 3.0


def test_corner_texts_say_who_what_where_and_cut_long_names() -> None:
    from viewer.core.display import corner_texts, edge_letters
    from viewer.core.volume import SeriesMeta

    vol = volume()
    meta = SeriesMeta(patient_name="VERY^LONG^PATIENT^NAME^INDEED", patient_id="ID7", series_description="Thorax",
                      modality="CT")
    state = MprState(Volume(vol.array, vol.affine, meta))
    state.set_slab(Slab(10.0, "mip"))
    top_left, top_right, bottom_left, bottom_right = corner_texts(state, Plane.CORONAL, chars=12)
    assert top_left.split("\n")[0] == "VERY^LONG^P\u2026" and "ID7" in top_left
    assert top_right == "Thorax\nCT  Coronal"
    assert bottom_left.startswith("Im 15/30  ") and bottom_left.endswith("\nMIP 10 mm")
    assert bottom_right.startswith("W 400  L 40\nZoom 1.00x")
    assert edge_letters(state.frames[Plane.SAGITTAL]) == ("A", "P", "S", "I")
    assert corner_texts(state, Plane.AXIAL, 40, preview=True)[2].startswith("Preview")


def test_near_aligned_is_aligned_only_if_the_plane_stays_within_a_tenth_of_a_voxel() -> None:
    def tilted(deg: float) -> Volume:
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        a = np.eye(4)
        a[:3, :3] = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.diag([0.8, 0.8, 1.0])
        return Volume(np.zeros((40, 500, 500), np.int16), a)

    axial = BASE_FRAMES[Plane.AXIAL].normal
    assert aligned_axis(tilted(0.0), axial) == 2
    assert aligned_axis(tilted(1e-4), axial) == 2  # rounding in ImageOrientationPatient
    assert aligned_axis(tilted(0.45), axial) is None  # crosses several slices over a 400 mm field


def test_a_stack_gets_no_slab() -> None:
    from viewer.core.problems import Problem, ProblemCode, Severity

    vol = volume()
    state = MprState(Volume(vol.array, vol.affine, problems=(Problem(ProblemCode.LOADED_2D, Severity.WARNING, "gap"),)))
    state.set_slab(Slab(10.0, "mip"))
    assert state.slab.thickness_mm == 0.0
    assert MprState(Volume(vol.array[:1], vol.affine)).stack_only  # a single image too
