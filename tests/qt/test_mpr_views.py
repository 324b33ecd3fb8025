"""MPR views in a real window under Xvfb: geometry on screen, orientation letters, interaction.

Volumes are built in code with a known affine; a bright marker is planted at a known LPS
position, and the rendered frames (read back from VTK) must show it where patient geometry says.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from PySide6.QtCore import QPoint, QPointF, Qt

from tests.gui_events import drag, move
from viewer.core.annotations import Ruler
from viewer.core.mpr import Plane, Viewport
from viewer.core.volume import SeriesMeta, Volume
from viewer.ui.views.view_grid import Layout, ViewGrid

pytestmark = pytest.mark.qt

AIR, TISSUE, MARKER = -1000, 40, 1500


def grey_blob_centre(rgb: NDArray[np.uint8], threshold: int = 200) -> tuple[float, float]:
    """(x, y) centroid of bright grey pixels (overlays are coloured, so they don't count)."""
    r, g, b = (rgb[..., c].astype(int) for c in range(3))
    grey = (abs(r - g) < 12) & (abs(g - b) < 12) & (g > threshold)
    ys, xs = np.nonzero(grey)
    assert xs.size > 0, "no bright marker on screen"
    return float(xs.mean()), float(ys.mean())


def marker_volume(affine: NDArray[np.float64], shape: tuple[int, int, int], marker_lps: tuple[float, float, float],
                  half_mm: float = 4.0) -> Volume:
    """Tissue block with a bright cube of side 2 * half_mm (mm, in LPS) around ``marker_lps``."""
    k, j, i = shape
    arr = np.full(shape, TISSUE, np.int16)
    arr[[0, -1]], arr[:, [0, -1]], arr[:, :, [0, -1]] = AIR, AIR, AIR
    ii, jj, kk = np.meshgrid(np.arange(i), np.arange(j), np.arange(k), indexing="ij")
    lps = np.stack([ii, jj, kk], -1) @ affine[:3, :3].T + affine[:3, 3]
    inside = np.all(np.abs(lps - np.asarray(marker_lps)) <= half_mm, axis=-1)
    arr[np.transpose(inside, (2, 1, 0))] = MARKER
    return Volume(arr, affine, SeriesMeta(patient_name="GEOMETRY^TEST", series_description="marker", modality="CT",
                                          units="HU"))


def affine_of(right: tuple[float, ...], down: tuple[float, ...], slice_dir: tuple[float, ...],
              spacing: tuple[float, float, float], origin: tuple[float, ...]) -> NDArray[np.float64]:
    a = np.eye(4)
    for col, (d, s) in enumerate(zip((right, down, slice_dir), spacing)):
        a[:3, col] = np.asarray(d, float) / np.linalg.norm(d) * s
    a[:3, 3] = origin
    return a


@pytest.fixture
def grid(qtbot) -> ViewGrid:  # type: ignore[no-untyped-def]
    g = ViewGrid()
    qtbot.addWidget(g)
    g.resize(1200, 420)
    g.show()
    qtbot.waitExposed(g)
    return g


def show(grid: ViewGrid, volume: Volume, cursor: tuple[float, float, float]) -> None:
    grid.set_volume(volume)
    assert grid.state is not None
    grid.state.set_window(40, 400)
    grid.state.set_cursor(cursor)


def marker_centre(volume: Volume) -> NDArray[np.float64]:
    """LPS centroid of the marker's voxel centres (the cube as sampled, not as asked for)."""
    kji = np.argwhere(volume.array == MARKER)
    return np.asarray(volume.index_to_lps(kji[:, ::-1]).mean(axis=0))


def assert_marker_where_geometry_says(grid: ViewGrid, tol_px: float = 2.5) -> None:
    assert grid.state is not None
    marker = marker_centre(grid.state.volume)
    for plane, view in grid.views.items():
        view.refresh()
        expected = view.viewport().to_px(marker)
        x, y = grey_blob_centre(view.frame_rgb())
        assert abs(x - expected[0]) <= tol_px and abs(y - expected[1]) <= tol_px, (plane, (x, y), expected)


def left_drag(qtbot, view: object, a: tuple[float, float], b: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    """Press the left button at pixel ``a``, move to ``b``, release there."""
    drag(view, a, b)  # type: ignore[arg-type]


def pixel(view: object, x: float, y: float) -> int:
    """Brightest channel of the rendered pixel at (x, y)."""
    return int(view.frame_rgb()[round(y), round(x)].max())  # type: ignore[attr-defined]


# Geometry -----------------------------------------------------------------------------------
AXIAL_AFFINE = affine_of((1, 0, 0), (0, 1, 0), (0, 0, 1), (1.0, 1.0, 2.0), (-40.0, -40.0, -30.0))
LEFT_ANTERIOR_SUPERIOR = (20.0, -20.0, 10.0)  # x > 0 is the patient's left, y < 0 anterior, z > 0 superior


def test_patient_left_is_on_the_viewers_right_and_anterior_up(grid: ViewGrid) -> None:
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, LEFT_ANTERIOR_SUPERIOR)
    axial = grid.views[Plane.AXIAL]
    rgb = axial.frame_rgb()
    x, y = grey_blob_centre(rgb)
    assert x > rgb.shape[1] / 2 and y < rgb.shape[0] / 2  # left -> right half, anterior -> top half
    assert axial.edge_letters() == ("R", "L", "A", "P")
    assert grid.views[Plane.CORONAL].edge_letters() == ("R", "L", "S", "I")
    assert grid.views[Plane.SAGITTAL].edge_letters() == ("A", "P", "S", "I")
    assert_marker_where_geometry_says(grid)


def test_sagittal_acquisition_is_shown_in_patient_planes(grid: ViewGrid) -> None:
    # Rows run posterior, columns inferior, slices to the left: what a sagittal DICOM stack gives.
    affine = affine_of((0, 1, 0), (0, 0, -1), (1, 0, 0), (0.8, 0.8, 3.0), (-36.0, -40.0, 40.0))
    vol = marker_volume(affine, (25, 101, 101), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, LEFT_ANTERIOR_SUPERIOR)
    assert grid.views[Plane.AXIAL].edge_letters() == ("R", "L", "A", "P")
    assert_marker_where_geometry_says(grid)
    bottom_left = grid.views[Plane.SAGITTAL].overlay_texts()[2]
    # Slices lie at x = -36 + 3k mm: the acquired slice nearest the marker (x = 20) is k = 19, at L 21.
    assert bottom_left.startswith("Im 20/25  L 21.0 mm")


def test_oblique_acquisition_and_left_handed_grid_keep_left_on_the_right(grid: ViewGrid) -> None:
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    oblique = affine_of((c, s, 0), (-s, c, 0), (0, 0, -1), (0.9, 0.9, 2.5), (-20.0, -60.0, 30.0))  # k runs inferior
    vol = marker_volume(oblique, (30, 90, 90), (15.0, -5.0, 0.0))
    show(grid, vol, (15.0, -5.0, 0.0))
    assert_marker_where_geometry_says(grid)


def bright_run(profile: NDArray[np.uint8], centre: int) -> int:
    """Length in pixels of the run of values >= 128 through ``centre``."""
    lo = hi = centre
    while lo > 0 and profile[lo - 1] >= 128:
        lo -= 1
    while hi < profile.size - 1 and profile[hi + 1] >= 128:
        hi += 1
    return hi - lo + 1


def test_anisotropic_voxels_keep_their_aspect(grid: ViewGrid) -> None:
    # 0.5 mm columns, 4 mm slices: a 16 mm cube must look square on the coronal view, not 8:1.
    affine = affine_of((1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5, 0.5, 4.0), (-30.0, -30.0, -40.0))
    vol = marker_volume(affine, (21, 121, 121), (0.0, 0.0, 0.0), half_mm=8.0)
    show(grid, vol, (20.0, 0.0, 20.0))  # crosshair away from the marker
    assert grid.state is not None
    grid.state.set_window(750, 1500)  # grey 128 halfway between tissue and marker: edges midway between voxels
    coronal = grid.views[Plane.CORONAL]
    vp = coronal.viewport()
    x, y = (round(c) for c in vp.to_px((0.0, 0.0, 0.0)))
    green = coronal.frame_rgb()[..., 1]
    width_mm = bright_run(green[y, :], x) * vp.mm_per_px
    height_mm = bright_run(green[:, x], y) * vp.mm_per_px
    # The sampled cube: 33 columns (16 mm of centres + 0.5 mm), 5 slices (16 mm of centres + 4 mm).
    assert width_mm == pytest.approx(16.5, abs=2 * vp.mm_per_px)
    assert height_mm == pytest.approx(20.0, abs=2 * vp.mm_per_px)


def test_probe_reads_value_and_lps_of_the_marker(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, LEFT_ANTERIOR_SUPERIOR)
    axial = grid.views[Plane.AXIAL]
    x, y = axial.viewport().to_px(LEFT_ANTERIOR_SUPERIOR)
    with qtbot.waitSignal(axial.probed) as probe:
        move(axial, x, y)
    point, value = probe.args
    assert value == MARKER
    assert np.allclose(point, LEFT_ANTERIOR_SUPERIOR, atol=1.0)


# Interaction --------------------------------------------------------------------------------
def test_click_in_one_view_moves_the_other_views(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    axial = grid.views[Plane.AXIAL]
    x, y = axial.viewport().to_px(LEFT_ANTERIOR_SUPERIOR)
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    assert grid.state is not None
    assert np.allclose(grid.state.cursor[:2], LEFT_ANTERIOR_SUPERIOR[:2], atol=1.0)
    assert grid.state.cursor[2] == 0.0  # an axial click never changes the axial slice
    assert grid.views[Plane.SAGITTAL].overlay_texts()[2].startswith("Im 61/81  L 20.0 mm")


def test_wheel_scrolls_the_view_under_the_mouse_by_one_slice(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    assert grid.state is not None
    coronal = grid.views[Plane.CORONAL]
    y0 = grid.state.cursor[1]
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(coronal.width() / 2, coronal.height() / 2)
    event = QWheelEvent(centre, coronal.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    coronal.wheelEvent(event)
    assert grid.state.cursor[1] == pytest.approx(y0 + 1.0)  # one 1-mm row, towards posterior (into the screen)
    assert grid.active is Plane.CORONAL


def test_right_drag_changes_window_and_histogram_follows(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.ui.panels.histogram_panel import HistogramPanel

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    assert grid.state is not None
    hist = HistogramPanel()
    qtbot.addWidget(hist)
    hist.set_state(grid.state)
    axial = grid.views[Plane.AXIAL]
    before = pixel(axial, *axial.viewport().to_px(grid.state.cursor))
    drag(axial, (100, 100), (180, 60), Qt.MouseButton.RightButton)  # right: wider; up: lower level, brighter
    w = grid.state.window
    assert w.width > 400 and w.center < 40
    lo, hi = hist.region.getRegion()
    assert lo == pytest.approx(w.center - w.width / 2) and hi == pytest.approx(w.center + w.width / 2)
    assert pixel(axial, *axial.viewport().to_px(grid.state.cursor)) > before  # tissue rendered brighter
    hist.region.setRegion((-100.0, 100.0))  # dragging the histogram handles drives the views
    assert (grid.state.window.center, grid.state.window.width) == pytest.approx((0.0, 200.0))


def test_layouts_show_one_three_or_four_views(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, LEFT_ANTERIOR_SUPERIOR)
    grid.set_active(Plane.SAGITTAL)
    grid.set_layout(Layout.ONE)
    assert [p for p, v in grid.views.items() if v.isVisible()] == [Plane.SAGITTAL]
    grid.set_layout(Layout.FOUR)
    assert all(v.isVisible() for v in grid.views.values())
    assert grid.volume_view is not None and grid.volume_view.isVisible()
    grid.set_layout(Layout.THREE)
    assert not grid.volume_view.isVisible() and all(v.isVisible() for v in grid.views.values())


def test_rotating_the_crosshair_makes_the_other_planes_oblique(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    assert grid.state is not None
    grid.state.rotate(Plane.AXIAL, 45.0)
    assert grid.views[Plane.AXIAL].edge_letters() == ("R", "L", "A", "P")  # the rotated view itself stays
    left, right, top, bottom = grid.views[Plane.CORONAL].edge_letters()
    assert {left, right} == {"RA", "LP"} or {left, right} == {"RP", "LA"} or {left, right} == {"AR", "PL"} \
        or {left, right} == {"PR", "AL"}
    assert (top, bottom) == ("S", "I")
    assert "Oblique" in grid.views[Plane.CORONAL].overlay_texts()[2]
    grid.state.reset_planes()
    assert grid.views[Plane.CORONAL].edge_letters() == ("R", "L", "S", "I")


def test_thick_slab_mip_shows_a_marker_off_the_slice(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.core.mpr import Slab

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR, half_mm=2.0)
    show(grid, vol, (20.0, -20.0, 0.0))  # 10 mm below the marker
    axial = grid.views[Plane.AXIAL]
    x, y = axial.viewport().to_px(LEFT_ANTERIOR_SUPERIOR)
    assert axial.frame_rgb()[round(y), round(x) + 6].max() < 150  # thin slice: not there
    assert grid.state is not None
    grid.state.set_slab(Slab(30.0, "mip"))
    assert pixel(axial, x + 6, y) > 200  # a 30 mm MIP reaches it
    assert "MIP 30 mm" in axial.overlay_texts()[2]


def test_ruler_drag_measures_millimetres_on_the_view(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.ui.views.mpr_view import Tool

    affine = affine_of((1, 0, 0), (0, 1, 0), (0, 0, 1), (0.7, 0.7, 2.5), (-28.0, -28.0, -20.0))
    vol = marker_volume(affine, (17, 81, 81), (0.0, 0.0, 0.0))
    show(grid, vol, (0.0, 0.0, 0.0))
    coronal = grid.views[Plane.CORONAL]
    coronal.tool = Tool.RULER
    vp: Viewport = coronal.viewport()
    a, b = (-10.0, 0.0, -10.0), (10.0, 0.0, 10.0)
    left_drag(qtbot, coronal, vp.to_px(a), vp.to_px(b))
    assert grid.state is not None
    (ruler,) = grid.state.annotations.items
    assert isinstance(ruler, Ruler)
    assert ruler.length_mm == pytest.approx(np.hypot(20, 20), abs=2 * vp.mm_per_px)
    assert coronal.visible_annotations() == [ruler]
    assert grid.views[Plane.AXIAL].visible_annotations() == []  # a coronal ruler is not on the axial slice


def test_3d_view_shows_findings_as_surfaces_where_they_are(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
    from viewer.core.region_measure import measure_region

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    kji = np.argwhere(vol.array == MARKER)
    lo, hi = kji.min(0), kji.max(0) + 1
    region = RegionMask(tuple(int(v) for v in lo), np.ones(tuple(hi - lo), bool))  # type: ignore[arg-type]
    finding = Finding(new_uid(), "lesion", region, measure_region(region, vol), Provenance(Origin.MANUAL))
    grid.set_layout(Layout.FOUR)
    grid.set_findings((finding,))
    assert grid.volume_view is not None
    (surface,) = grid.volume_view.surfaces
    surface.GetMapper().Update()
    b = surface.GetBounds()  # world = LPS mm
    centre = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
    assert np.allclose(centre, marker_centre(vol), atol=1.0)


def test_first_image_preview_has_no_orientation_letters(grid: ViewGrid) -> None:
    image = np.zeros((64, 64), np.int16)
    image[20:40, 20:40] = 300
    grid.set_preview(image)
    axial = grid.views[Plane.AXIAL]
    assert grid.preview and axial.edge_letters() and axial.overlay_texts()[4:] == ["", "", "", ""]
    assert "Loading" in axial.overlay_texts()[1]
    grid.set_volume(marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR))
    assert axial.overlay_texts()[4:] == ["R", "L", "A", "P"]  # real geometry: letters are back


def test_ellipse_roi_on_the_marker_reports_its_hu(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.core.annotations import EllipseRoi
    from viewer.ui.views.mpr_view import Tool

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR, half_mm=8.0)
    show(grid, vol, LEFT_ANTERIOR_SUPERIOR)
    sagittal = grid.views[Plane.SAGITTAL]
    sagittal.tool = Tool.ELLIPSE
    vp = sagittal.viewport()
    x, y, z = LEFT_ANTERIOR_SUPERIOR
    left_drag(qtbot, sagittal, vp.to_px((x, y - 4.0, z + 4.0)), vp.to_px((x, y + 4.0, z - 4.0)))  # inside the cube
    assert grid.state is not None
    (roi,) = grid.state.annotations.items
    assert isinstance(roi, EllipseRoi)
    assert roi.area_mm2 == pytest.approx(np.pi * 16, rel=0.2)
    (label,) = sagittal.annotation_labels()
    assert f"mean {MARKER:.1f} HU, SD 0.0" in label
    assert grid.views[Plane.AXIAL].visible_annotations() == []  # drawn on the sagittal plane only


def wheel(view: object, dx: int, dy: int) -> None:
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(50, 50)
    view.wheelEvent(QWheelEvent(centre, centre, QPoint(0, 0), QPoint(dx, dy), Qt.MouseButton.NoButton,  # type: ignore[attr-defined]
                                Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))


def test_trackpad_deltas_add_up_and_sideways_swipes_do_nothing(grid: ViewGrid) -> None:
    show(grid, marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR), (0.0, 0.0, 0.0))
    assert grid.state is not None
    axial = grid.views[Plane.AXIAL]
    wheel(axial, 120, 0)
    assert grid.state.cursor[2] == 0.0
    for _ in range(15):
        wheel(axial, 0, 8)  # one notch's worth in small trackpad steps
    assert grid.state.cursor[2] == pytest.approx(2.0)  # exactly one 2-mm slice


def test_a_stack_without_geometry_gets_one_view_without_letters_or_millimetres(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.core.problems import Problem, ProblemCode, Severity
    from viewer.ui.views.mpr_view import Tool

    base = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    blind = Volume(base.array, base.affine, base.meta,
                   problems=(Problem(ProblemCode.MISSING_GEOMETRY, Severity.WARNING, "no positions"),))
    grid.set_volume(blind)
    assert [p for p, v in grid.views.items() if v.isVisible()] == [Plane.AXIAL]
    grid.set_layout(Layout.THREE)
    assert grid.layout_mode is Layout.ONE  # no reformats of made-up geometry
    axial = grid.views[Plane.AXIAL]
    assert axial.overlay_texts()[4:] == ["", "", "", ""] and "2-D" in axial.overlay_texts()[2]
    with qtbot.waitSignal(axial.probed) as probe:
        move(axial, 200, 200)
    assert probe.args[0] is None  # a value, but no position
    axial.tool = Tool.RULER
    left_drag(qtbot, axial, (100, 100), (200, 200))
    assert grid.state is not None and len(grid.state.annotations) == 0  # no millimetres to measure


def test_findings_reach_the_3d_view_when_2x2_is_chosen_later(grid: ViewGrid) -> None:
    from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
    from viewer.core.region_measure import measure_region

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    region = RegionMask((24, 14, 54), np.ones((5, 9, 9), bool))
    grid.set_findings((Finding(new_uid(), "lesion", region, measure_region(region, vol), Provenance(Origin.MANUAL)),))
    grid.set_layout(Layout.FOUR)
    assert grid.volume_view is not None and len(grid.volume_view.surfaces) == 1


def test_measurements_survive_a_switch_to_another_series_and_back(grid: ViewGrid) -> None:
    from dataclasses import replace

    a = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    a = Volume(a.array, a.affine, replace(a.meta, series_uid="1.2.3"))
    b = Volume(a.array, a.affine, replace(a.meta, series_uid="1.2.4"))
    grid.set_volume(a)
    assert grid.state is not None
    grid.state.annotations.add(Ruler((0.0, 0.0, 0.0), (10.0, 0.0, 0.0)))
    grid.set_volume(b)
    assert len(grid.state.annotations) == 0
    grid.set_volume(a)
    assert len(grid.state.annotations) == 1


def test_dragging_a_ruler_end_edits_it_and_delete_removes_the_one_under_the_mouse(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    from viewer.ui.reading_actions import ReadingActions
    from viewer.ui.views.mpr_view import Tool

    show(grid, marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR), (0.0, 0.0, 0.0))
    assert grid.state is not None
    axial = grid.views[Plane.AXIAL]
    axial.tool = Tool.RULER
    vp = axial.viewport()
    first, second = Ruler((-20.0, -20.0, 0.0), (-10.0, -20.0, 0.0)), Ruler((0.0, 10.0, 0.0), (20.0, 10.0, 0.0))
    grid.state.annotations.add(first)
    grid.state.annotations.add(second)
    left_drag(qtbot, axial, vp.to_px(first.b), vp.to_px((0.0, -20.0, 0.0)))  # pull the end 10 mm further
    edited = grid.state.annotations.get(first.uid)
    assert edited.length_mm == pytest.approx(20.0, abs=2 * vp.mm_per_px) and len(grid.state.annotations) == 2
    actions = ReadingActions(grid, grid)
    x, y = vp.to_px((-15.0, -20.0, 0.0))  # on the first ruler, not the newest
    move(axial, x, y)
    assert axial.annotation_under_mouse() == edited
    actions.delete_measurement()
    assert [a.uid for a in grid.state.annotations] == [second.uid]


def test_finding_masks_tint_the_planes_that_cross_them_only(grid: ViewGrid) -> None:
    from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
    from viewer.core.region_measure import measure_region

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (0.0, 0.0, 0.0))
    centre = np.rint(vol.lps_to_index((0.0, 0.0, 0.0))).astype(int)  # (i, j, k)
    region = RegionMask((int(centre[2]) - 2, int(centre[1]) - 6, int(centre[0]) - 6), np.ones((5, 13, 13), bool))
    grid.set_findings((Finding(new_uid(), "lesion", region, measure_region(region, vol), Provenance(Origin.AI)),))
    axial = grid.views[Plane.AXIAL]

    def tint() -> int:
        x, y = axial.viewport().to_px(grid.state.cursor)  # type: ignore[union-attr]
        r, _, b = (int(c) for c in axial.frame_rgb()[round(y) + 5, round(x) + 5])
        return r - b

    assert tint() > 50  # orange over grey tissue: a proposed finding's mask
    assert grid.state is not None
    grid.state.scroll(Plane.AXIAL, 3)  # 6 mm up: past the mask's 5 slices (+-4 mm)
    assert abs(tint()) < 10
    grid.state.scroll(Plane.AXIAL, -2)  # 2 mm up: still inside
    assert tint() > 50
    axial.set_masks_visible(False)
    assert abs(tint()) < 10


def test_double_click_fills_the_area_with_that_view_and_back(qtbot, grid: ViewGrid) -> None:  # type: ignore[no-untyped-def]
    show(grid, marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR), (0.0, 0.0, 0.0))
    coronal = grid.views[Plane.CORONAL]
    qtbot.mouseDClick(coronal, Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    assert grid.layout_mode is Layout.ONE and [p for p, v in grid.views.items() if v.isVisible()] == [Plane.CORONAL]
    assert grid.chosen_layout is Layout.THREE  # what is saved on close stays the reader's layout
    qtbot.mouseDClick(coronal, Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    assert grid.layout_mode is Layout.THREE


def test_a_mask_covers_its_voxels_whole_in_plane(grid: ViewGrid) -> None:
    from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
    from viewer.core.region_measure import measure_region

    vol = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    show(grid, vol, (-15.0, -15.0, 0.0))
    assert grid.state is not None
    i, j, k = (int(v) for v in np.floor(vol.lps_to_index((0.0, 0.0, 0.0)) + 0.5))
    region = RegionMask((k, j, i), np.ones((1, 2, 3), bool))  # 3 columns x 2 rows of 1 mm, one slice
    grid.set_findings((Finding(new_uid(), "lesion", region, measure_region(region, vol), Provenance(Origin.AI)),))
    axial = grid.views[Plane.AXIAL]
    for _ in range(2):
        axial.refresh()
    vp = axial.viewport()
    rgb = axial.frame_rgb().astype(int)
    x, y = (round(c) for c in vp.to_px(vol.index_to_lps([i + 1, j + 0.5, k])))  # middle of the 3 x 2 block
    patch = rgb[y - 40:y + 40, x - 40:x + 40]
    orange_over_tissue = np.array([179, 133, 87])  # 40 % of (255, 140, 25) over tissue grey 128
    ys, xs = np.nonzero(np.all(np.abs(patch - orange_over_tissue) < 25, axis=-1))  # the mask, not the axes
    width_mm, height_mm = (xs.max() - xs.min() + 1) * vp.mm_per_px, (ys.max() - ys.min() + 1) * vp.mm_per_px
    assert width_mm == pytest.approx(3.0, abs=2 * vp.mm_per_px) and height_mm == pytest.approx(2.0, abs=2 * vp.mm_per_px)


def test_after_a_stack_the_readers_layout_comes_back(grid: ViewGrid) -> None:
    from viewer.core.problems import Problem, ProblemCode, Severity

    base = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    grid.set_layout(Layout.FOUR)
    grid.set_volume(Volume(base.array, base.affine, base.meta,
                           problems=(Problem(ProblemCode.LOADED_2D, Severity.WARNING, "gaps"),)))
    assert grid.layout_mode is Layout.ONE
    grid.set_volume(base)
    assert grid.layout_mode is Layout.FOUR and grid.chosen_layout is Layout.FOUR


def test_key_0_steps_through_the_windows_the_dicom_files_give(grid: ViewGrid) -> None:
    from dataclasses import replace

    from viewer.core.volume import WindowPreset
    from viewer.ui.reading_actions import ReadingActions

    base = marker_volume(AXIAL_AFFINE, (31, 81, 81), LEFT_ANTERIOR_SUPERIOR)
    windows = (WindowPreset(40.0, 400.0), WindowPreset(-600.0, 1600.0))
    grid.set_volume(Volume(base.array, base.affine, replace(base.meta, windows=windows)))
    actions = ReadingActions(grid, grid)
    assert grid.state is not None
    grid.state.set_window(0.0, 100.0)
    seen = []
    for _ in range(3):
        actions._series_window()
        seen.append((grid.state.window.center, grid.state.window.width))
    assert seen == [(40.0, 400.0), (-600.0, 1600.0), (40.0, 400.0)]
