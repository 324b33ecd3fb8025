"""VTK overlay actors of an MPR view: crosshair, RECIST axes, corner text, orientation letters, scale bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from vtkmodules.vtkCommonCore import vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from viewer.core.annotations import Annotation, EllipseRoi, Ruler, roi_stats
from viewer.core.findings import Finding
from viewer.core.volume import Volume

_LIFT = 0.5  # mm towards the camera, so lines are not hidden by the slice they lie on


def _lines(segments: Sequence[tuple[ArrayLike, ArrayLike, tuple[float, float, float]]]) -> vtkPolyData:
    points, cells, colours = vtkPoints(), vtkCellArray(), vtkUnsignedCharArray()
    colours.SetNumberOfComponents(3)
    for n, (a, b, rgb) in enumerate(segments):
        points.InsertNextPoint(*np.asarray(a, float))
        points.InsertNextPoint(*np.asarray(b, float))
        cells.InsertNextCell(2)
        cells.InsertCellPoint(2 * n)
        cells.InsertCellPoint(2 * n + 1)
        colours.InsertNextTuple3(*(int(255 * c) for c in rgb))
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetLines(cells)
    poly.GetCellData().SetScalars(colours)
    return poly


class _LineActor:
    def __init__(self, width: float) -> None:
        self.mapper = vtkPolyDataMapper()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetLineWidth(width)
        self.actor.GetProperty().LightingOff()
        self.actor.PickableOff()

    def set(self, segments: Sequence[tuple[ArrayLike, ArrayLike, tuple[float, float, float]]]) -> None:
        if not segments and not self.actor.GetVisibility():
            return  # nothing drawn before or now: skip building an empty polydata every frame
        self.mapper.SetInputData(_lines(segments))
        self.actor.SetVisibility(bool(segments))


class CrosshairActor(_LineActor):
    """The other planes' traces through the cursor, with a gap so the voxel under it stays visible."""

    def __init__(self) -> None:
        super().__init__(1.5)

    def update(self, cursor: ArrayLike, normal: ArrayLike, lines: Sequence[tuple[ArrayLike, tuple[float, float, float]]],
               mm_per_px: float) -> None:
        """``lines``: (direction, colour) of each other plane's intersection with this one."""
        c = np.asarray(cursor, float) - _LIFT * np.asarray(normal, float)
        gap, reach = 12 * mm_per_px, 5000.0
        segments = []
        for direction, rgb in lines:
            d = np.asarray(direction, float)
            if np.linalg.norm(d) < 1e-9:
                continue
            d = d / np.linalg.norm(d)
            segments += [(c + gap * d, c + reach * d, rgb), (c - gap * d, c - reach * d, rgb)]
        self.set(segments)


class FindingAxesActor(_LineActor):
    """RECIST long (orange-red) and short (light blue) axes of findings lying on this view's plane."""

    LONG, SHORT = (1.0, 0.35, 0.24), (0.31, 0.78, 1.0)

    def __init__(self) -> None:
        super().__init__(2.0)

    def update(self, findings: Sequence[Finding], cursor: ArrayLike, normal: ArrayLike,
               spacing: tuple[float, float, float]) -> None:
        """Draw axes whose endpoints lie within half a slice of the plane through ``cursor``."""
        n = np.asarray(normal, float)
        plane = float(np.asarray(cursor, float) @ n)
        tolerance = min(spacing) / 2 + 1e-6
        segments = []
        for f in findings:
            m = f.measurements
            for (a, b), rgb in ((m.long_axis_lps, self.LONG), (m.short_axis_lps, self.SHORT)):
                pa, pb = np.asarray(a, float), np.asarray(b, float)
                if abs(pa @ n - plane) <= max(tolerance, 1.25) and abs(pb @ n - plane) <= max(tolerance, 1.25):
                    lift = (plane - pa @ n - _LIFT) * n  # onto the plane, then towards the camera
                    segments.append((pa + lift, pb + lift, rgb))
        self.set(segments)


def _text_actor(renderer: vtkRenderer, x: float, y: float, h: str, v: str, size: int = 13) -> vtkTextActor:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(0.92, 0.92, 0.75)
    prop.ShadowOn()
    {"left": prop.SetJustificationToLeft, "right": prop.SetJustificationToRight,
     "centre": prop.SetJustificationToCentered}[h]()
    {"top": prop.SetVerticalJustificationToTop, "bottom": prop.SetVerticalJustificationToBottom,
     "centre": prop.SetVerticalJustificationToCentered}[v]()
    coord = actor.GetPositionCoordinate()
    coord.SetCoordinateSystemToNormalizedViewport()
    coord.SetValue(x, y)
    renderer.AddViewProp(actor)
    return actor


class OverlayText:
    """Four corner texts and four orientation letters; VTK is touched only when a text changes."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.corners = [_text_actor(renderer, 0.01, 0.99, "left", "top"),
                        _text_actor(renderer, 0.99, 0.99, "right", "top"),
                        _text_actor(renderer, 0.01, 0.01, "left", "bottom"),
                        _text_actor(renderer, 0.99, 0.01, "right", "bottom")]
        self.letters = [_text_actor(renderer, 0.01, 0.5, "left", "centre", 16),
                        _text_actor(renderer, 0.99, 0.5, "right", "centre", 16),
                        _text_actor(renderer, 0.5, 0.99, "centre", "top", 16),
                        _text_actor(renderer, 0.5, 0.045, "centre", "bottom", 16)]
        for a in self.letters:
            a.GetTextProperty().SetColor(1.0, 0.75, 0.3)
            a.GetTextProperty().BoldOn()
        self._shown: list[str] = [""] * 8

    def update(self, corners: Sequence[str], letters: Sequence[str]) -> None:
        """Set the texts (top-left, top-right, bottom-left, bottom-right) and letters (left, right, top, bottom)."""
        for n, (actor, text) in enumerate(zip(self.corners + self.letters, list(corners) + list(letters))):
            if self._shown[n] != text:
                actor.SetInput(text)
                self._shown[n] = text

    def texts(self) -> list[str]:
        """What is shown now (corners, then letters)."""
        return list(self._shown)

    def set_active(self, active: bool) -> None:
        """Brighter top-right text on the view that keys act on."""
        self.corners[1].GetTextProperty().SetColor(*((0.45, 0.8, 1.0) if active else (0.92, 0.92, 0.75)))


def nice_length(mm: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above ``mm``."""
    if mm <= 0:
        return 0.0
    base = 10.0 ** np.floor(np.log10(mm))
    return float(max(m * base for m in (1, 2, 5) if m * base <= mm))


class ScaleBar:
    """A vertical bar of a round length in mm on the left edge, below the middle letter.

    The bottom and top edges are taken by corner text and letters; the left edge has room in
    views of any width.
    """

    X_PX, Y0_FRACTION = 10.0, 0.16  # from the left edge; bottom end above the bottom-left text

    def __init__(self, renderer: vtkRenderer) -> None:
        self.mapper = vtkPolyDataMapper2D()
        self.actor = vtkActor2D()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetColor(0.92, 0.92, 0.75)
        self.actor.GetProperty().SetLineWidth(2)
        self.mapper.SetInputData(vtkPolyData())  # something to draw before the first update
        self.mapper.ScalarVisibilityOff()
        renderer.AddViewProp(self.actor)
        self.label = vtkTextActor()
        self.label.GetTextProperty().SetFontSize(11)
        self.label.GetTextProperty().SetColor(0.92, 0.92, 0.75)
        self.label.GetTextProperty().SetVerticalJustificationToCentered()
        renderer.AddViewProp(self.label)
        self._key: tuple[float, int, bool] = (0.0, 0, True)
        self.length_mm = 0.0

    def update(self, mm_per_px: float, height_px: int, shown: bool = True) -> None:
        """Redraw for ``mm_per_px`` in a view ``height_px`` high (both in device pixels); hide if not ``shown``."""
        key = (round(mm_per_px, 6), height_px, shown)
        if key == self._key:
            return
        self._key = key
        self.actor.SetVisibility(shown)
        self.label.SetVisibility(shown)
        self.length_mm = nice_length(height_px * mm_per_px / 4)
        px = self.length_mm / mm_per_px
        x, y0 = self.X_PX, height_px * self.Y0_FRACTION
        self.mapper.SetInputData(_lines([((x, y0, 0), (x, y0 + px, 0), (1, 1, 1)),
                                         ((x - 4, y0, 0), (x + 4, y0, 0), (1, 1, 1)),
                                         ((x - 4, y0 + px, 0), (x + 4, y0 + px, 0), (1, 1, 1))]))
        self.label.SetInput(f"{self.length_mm / 10:g} cm" if self.length_mm >= 10 else f"{self.length_mm:g} mm")
        self.label.SetDisplayPosition(int(x + 7), int(y0 + px / 2))


class AnnotationActor(_LineActor):
    """Rulers and ellipse ROIs lying on this view's plane, with their labels beside them."""

    RGB = (0.35, 1.0, 0.55)

    def __init__(self, renderer: vtkRenderer) -> None:
        super().__init__(1.5)
        self.renderer = renderer
        self.labels: list[vtkTextActor] = []
        self._stats: dict[str, tuple[object, str]] = {}  # uid -> (annotation, label), recomputed on edit

    def update(self, annotations: Sequence[Annotation], normal: ArrayLike, volume: Volume,
               to_px: Callable[[ArrayLike], tuple[float, float]], roi_note: str = "") -> None:
        """Draw ``annotations`` (already filtered to this plane) and place their labels (device px).

        ``roi_note`` is added to ROI statistics, e.g. to say they come from the plane, not a slab.
        """
        lift = -_LIFT * np.asarray(normal, float)
        segments: list[tuple[ArrayLike, ArrayLike, tuple[float, float, float]]] = []
        texts: list[tuple[str, tuple[float, float]]] = []
        for a in annotations:
            if isinstance(a, Ruler):
                segments.append((np.asarray(a.a) + lift, np.asarray(a.b) + lift, self.RGB))
                texts.append((a.label, to_px(a.b)))
            else:
                t = np.linspace(0, 2 * np.pi, 65)
                ring = np.asarray(a.center) + np.outer(np.cos(t), a.u) + np.outer(np.sin(t), a.v) + lift
                segments += [(ring[n], ring[n + 1], self.RGB) for n in range(64)]
                x, y = to_px(np.asarray(a.center) + np.asarray(a.u))
                texts.append((self._roi_label(a, volume) + roi_note, (x + 6, y)))
        self.set(segments)
        self._place_labels(texts)

    def forget_statistics(self) -> None:
        """Drop cached ROI statistics (another volume is shown: same ROI, other voxels)."""
        self._stats.clear()

    def _roi_label(self, roi: EllipseRoi, volume: Volume) -> str:
        cached = self._stats.get(roi.uid)
        if cached is None or cached[0] != roi:
            units = volume.meta.units or ("HU" if volume.meta.modality == "CT" else "")
            text = roi_stats(volume, roi).label(units).replace(", min", "\nmin")
            self._stats[roi.uid] = cached = (roi, text)
        return cached[1]

    def _place_labels(self, texts: Sequence[tuple[str, tuple[float, float]]]) -> None:
        while len(self.labels) < len(texts):
            label = vtkTextActor()
            label.GetTextProperty().SetFontSize(12)
            label.GetTextProperty().SetColor(*self.RGB)
            label.GetTextProperty().ShadowOn()
            self.renderer.AddViewProp(label)
            self.labels.append(label)
        height = self.renderer.GetSize()[1]
        for n, label in enumerate(self.labels):
            if n < len(texts):
                text, (x, y) = texts[n]
                label.SetInput(text)
                label.SetDisplayPosition(int(x) + 6, int(height - y))
            label.SetVisibility(n < len(texts))
