"""One MPR view (axial, coronal or sagittal; oblique when rotated) drawing an :class:`MprState`.

The view keeps no reading state: it reslices the shared volume along its plane through the cursor
(vtkImageResliceMapper, which also does thick slabs), places the camera from the core
:class:`Viewport`, and writes mouse input back to the state. Overlay text is rebuilt only when it
changes: a VTK text update costs milliseconds per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QWidget
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser
from vtkmodules.vtkRenderingCore import vtkImageProperty, vtkImageSlice, vtkImageSliceMapper, vtkRenderer
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper, vtkImageStack

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL backend)
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text)
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from viewer.core.annotations import Annotation
from viewer.core.findings import Finding
from viewer.core.display import corner_texts, edge_letters
from viewer.core.mpr import MprState, Plane, Viewport, aligned_axis, slice_step_mm
from viewer.ui.views.mask_overlay import MaskOverlay
from viewer.ui.views.measure_tool import MeasureTool, annotation_at
from viewer.ui.views.overlays import AnnotationActor, CrosshairActor, FindingAxesActor, OverlayText, ScaleBar
from viewer.ui.views.vtk_convert import frame_rgb, placement

PLANE_COLOURS = {Plane.AXIAL: (0.95, 0.3, 0.3), Plane.CORONAL: (0.3, 0.85, 0.3), Plane.SAGITTAL: (0.95, 0.85, 0.25)}
_DISTANCE = 1000.0  # camera distance from the plane, mm (parallel projection: only clipping cares)


class Tool(str, Enum):
    """What the left mouse button does."""

    CROSSHAIR = "crosshair"
    ROTATE = "rotate"
    PAN = "pan"
    ZOOM = "zoom"
    WINDOW = "window"
    RULER = "ruler"
    ELLIPSE = "ellipse"


class MprView(QVTKRenderWindowInteractor):
    """A VTK reslice view of one plane of the shared state."""

    activated = Signal(object)  # Plane: this view was clicked
    maximise_requested = Signal(object)  # Plane: double-clicked, to fill the view area (or go back)
    probed = Signal(object, object)  # LPS point (ndarray, None where unknown) and value (float | None) under the mouse

    def __init__(self, plane: Plane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plane = plane
        self.state: MprState | None = None
        self.tool = Tool.CROSSHAIR
        self.findings: tuple[Finding, ...] = ()
        self.image: vtkImageData | None = None
        self.preview = False  # a first image without geometry: no orientation letters
        self._drag: tuple[Qt.MouseButton, QPointF, Qt.KeyboardModifier] | None = None
        self.setMinimumSize(160, 160)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._renderer = vtkRenderer()
        self._renderer.SetBackground(0.0, 0.0, 0.0)
        window = self.GetRenderWindow()
        window.SetMultiSamples(0)  # MSAA costs 4x per frame in software GL and slices need none
        window.AddRenderer(self._renderer)
        self.GetRenderWindow().GetInteractor().SetInteractorStyle(vtkInteractorStyleUser())
        # Two ways to cut the volume: an aligned thin slice straight from the voxels (fast: no CPU
        # reslice), anything else (oblique planes, slabs) through the reslice mapper.
        self._mapper = vtkImageResliceMapper()
        self._mapper.SetSlabSampleFactor(2)
        self._aligned_mapper = vtkImageSliceMapper()
        for mapper in (self._mapper, self._aligned_mapper):
            mapper.SliceFacesCameraOn()
            mapper.SliceAtFocalPointOn()
        self._property = vtkImageProperty()
        self._property.SetInterpolationTypeToLinear()
        self._slice = vtkImageSlice()
        self._slice.SetMapper(self._mapper)
        self._slice.SetProperty(self._property)
        self._crosshair = CrosshairActor()
        self._axes = FindingAxesActor()
        self._text = OverlayText(self._renderer)
        self._scale = ScaleBar(self._renderer)
        self._notes = AnnotationActor(self._renderer)
        self._measure = MeasureTool(lambda: self.state.annotations if self.state is not None else None)
        self._mouse = QPointF(-1, -1)  # last position, for "delete the measurement under the mouse"
        self._wheel = 0  # wheel delta not yet turned into whole slices
        self._stack = vtkImageStack()  # the image at layer 0, finding masks over it
        self._stack.AddImage(self._slice)
        self._masks = MaskOverlay(self._stack)
        self._renderer.AddViewProp(self._stack)
        self._renderer.AddActor(self._crosshair.actor)
        self._renderer.AddActor(self._axes.actor)
        self._renderer.AddActor(self._notes.actor)
        self._slice.VisibilityOff()
        self.active = False

    # Model side ---------------------------------------------------------------------------
    def set_state(self, state: MprState, image: vtkImageData) -> None:
        """Show ``state``'s volume (``image`` is its shared VTK copy) and follow its changes."""
        if self.state is not None:
            self._disconnect(self.state)
        self.state, self.image = state, image
        self.findings = ()
        self._masks.set((), None)  # masks and ROI statistics belong to the previous volume
        self._notes.forget_statistics()
        self._mapper.SetInputData(image)
        self._aligned_mapper.SetInputData(image)
        self._slice.SetUserMatrix(placement(state.volume))
        self._slice.VisibilityOn()
        for signal, slot in self._subscriptions(state):
            signal.connect(slot)
        self.refresh()

    def _subscriptions(self, state: MprState) -> list[tuple[Any, Callable[..., None]]]:
        """What this view follows: everything it draws, and its own camera."""
        notes = state.annotations
        redraw = [state.cursor_changed, state.frames_changed, state.window_changed, state.slab_changed,
                  notes.added, notes.removed, notes.changed]
        return [(signal, self._on_change) for signal in redraw] + [(state.camera_changed, self._on_camera)]

    def _disconnect(self, state: MprState) -> None:
        for signal, slot in self._subscriptions(state):
            signal.disconnect(slot)

    def set_findings(self, findings: tuple[Finding, ...]) -> None:
        """Findings whose masks and RECIST axes are drawn where they cross this view's plane."""
        self.findings = findings
        self._masks.set(findings, self.state.volume if self.state is not None else None)
        self.refresh()

    def set_masks_visible(self, visible: bool) -> None:
        """Show or hide the finding masks (the axes stay)."""
        self._masks.set_visible(visible)
        self.render_now()

    def set_active(self, active: bool) -> None:
        """Highlight the view that keys act on."""
        if active == self.active:
            return
        self.active = active
        self._text.set_active(active)
        self.render_now()

    def viewport(self) -> Viewport:
        """The current pixel <-> LPS mapping of this view."""
        assert self.state is not None
        return Viewport.of(self.state, self.plane, self.width(), self.height())

    def _on_change(self, *_: object) -> None:
        self.refresh()

    def _on_camera(self, plane: Plane) -> None:
        if plane is self.plane:
            self.refresh()

    def refresh(self) -> None:
        """Bring every actor in line with the state, then render."""
        state = self.state
        if state is None or not self.isVisible():
            return
        vp = self.viewport()
        frame = state.frames[self.plane]
        normal = frame.normal
        cam = self._renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        cam.SetFocalPoint(*vp.centre)
        cam.SetPosition(*(np.asarray(vp.centre) - normal * _DISTANCE))
        cam.SetViewUp(*frame.up)
        cam.SetParallelScale(vp.height_px / 2 * vp.mm_per_px)
        cam.SetClippingRange(_DISTANCE - 600.0, _DISTANCE + 600.0)
        self._property.SetColorWindow(state.window.width)
        self._property.SetColorLevel(state.window.center)
        self._apply_slab(state)
        others = [] if state.stack_only else [p for p in Plane if p is not self.plane]
        lines = [(np.cross(normal, state.frames[p].normal), PLANE_COLOURS[p]) for p in others]
        self._crosshair.update(state.cursor, normal, lines, vp.mm_per_px)
        self._axes.update(self.findings, state.cursor, normal, state.volume.spacing)
        dpr = self.devicePixelRatioF()  # VTK draws in device pixels, Qt measures in logical ones
        self._scale.update(vp.mm_per_px / dpr, round(vp.height_px * dpr), self.measurable)
        self._notes.update(self.visible_annotations(), normal, state.volume,
                           lambda p: tuple(c * dpr for c in vp.to_px(p)),  # type: ignore[arg-type, return-value]
                           "\n(centre plane, not the slab)" if state.slab.thickness_mm > 0 else "")
        letters = edge_letters(frame) if self.orientation_known else ("", "", "", "")
        chars = max(8, int((self.width() / 2 - 20) / 7.5))  # ~7.5 px glyphs: the top corners never collide
        self._text.update(corner_texts(state, self.plane, chars, self.preview), letters)
        self.render_now()

    @property
    def orientation_known(self) -> bool:
        """False for a preview or a series without orientation: no letters then."""
        return self.state is not None and not self.preview and self.state.geometry_known

    @property
    def measurable(self) -> bool:
        """True when millimetres on this view are real (not a preview, pixel spacing known)."""
        return self.orientation_known

    @property
    def position_known(self) -> bool:
        """True when the LPS position under the mouse is real in all three coordinates."""
        return self.measurable and self.state is not None and not self.state.stack_only

    def visible_annotations(self) -> list[Annotation]:
        """Rulers and ROIs on this view's current plane (and the one being drawn)."""
        assert self.state is not None
        n = self.state.frames[self.plane].normal
        tolerance = slice_tolerance(self.state, n)
        shown = list(self.state.annotations.on_slice(self.state.cursor, n, tolerance))
        pending = self._measure.pending
        return shown + ([pending] if pending is not None else [])

    @property
    def drawing(self) -> bool:
        """True while a ruler or ROI is being drawn or edited on this view."""
        return self._measure.busy

    def annotation_under_mouse(self) -> Annotation | None:
        """The ruler or ROI under the mouse on this view, if any."""
        if self.state is None:
            return None
        return annotation_at(self.visible_annotations(), self.viewport(), self._mouse.x(), self._mouse.y())

    def _apply_slab(self, state: MprState) -> None:
        slab = state.slab
        aligned = slab.thickness_mm == 0 and aligned_axis(state.volume, state.frames[self.plane].normal) is not None
        mapper = self._aligned_mapper if aligned else self._mapper
        if self._slice.GetMapper() is not mapper:
            self._slice.SetMapper(mapper)
        self._mapper.SetSlabThickness(slab.thickness_mm)
        {"mip": self._mapper.SetSlabTypeToMax, "minip": self._mapper.SetSlabTypeToMin,
         "mean": self._mapper.SetSlabTypeToMean}[slab.mode.value]()

    def render_now(self) -> None:
        """Render synchronously (tests and benchmarks time exactly this)."""
        if self.isVisible():
            self.GetRenderWindow().Render()

    # Overlay text -------------------------------------------------------------------------
    def annotation_labels(self) -> list[str]:
        """The texts shown beside this view's rulers and ROIs."""
        return [label.GetInput() for label in self._notes.labels if label.GetVisibility()]

    def overlay_texts(self) -> list[str]:
        """The corner texts (top-left, top-right, bottom-left, bottom-right), then the edge letters."""
        return self._text.texts()

    def edge_letters(self) -> tuple[str, str, str, str]:
        """Orientation letters shown on the (left, right, top, bottom) edges."""
        assert self.state is not None
        return edge_letters(self.state.frames[self.plane])

    # Interaction --------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.state is None:
            return
        self.activated.emit(self.plane)
        self._drag = (event.button(), event.position(), event.modifiers())
        vp, pos = self.viewport(), event.position()
        tool = self._left_tool(event.modifiers())
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if tool == Tool.CROSSHAIR:
            self.state.set_cursor(vp.to_lps(pos.x(), pos.y()))
        elif tool in (Tool.RULER, Tool.ELLIPSE) and self.measurable:
            self._measure.press(tool.value, vp, self.visible_annotations(), pos.x(), pos.y())

    def _left_tool(self, mods: Qt.KeyboardModifier) -> str:
        if mods & Qt.KeyboardModifier.ShiftModifier:
            return Tool.PAN
        if mods & Qt.KeyboardModifier.ControlModifier:
            return Tool.ZOOM
        return self.tool

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.state is None:
            return
        pos = self._mouse = event.position()
        vp = self.viewport()
        point = vp.to_lps(pos.x(), pos.y())
        self.probed.emit(point if self.position_known else None, self.state.value_at(point))
        if self._drag is None:
            return
        button, last, mods = self._drag
        self._drag = (button, pos, mods)
        dx, dy = pos.x() - last.x(), pos.y() - last.y()
        action = {Qt.MouseButton.RightButton: Tool.WINDOW, Qt.MouseButton.MiddleButton: Tool.PAN}.get(
            button, self._left_tool(mods))
        self._drag_action(action, vp, last, pos, dx, dy)

    def _drag_action(self, action: str, vp: Viewport, last: QPointF, pos: QPointF, dx: float, dy: float) -> None:
        state = self.state
        assert state is not None
        if action == Tool.CROSSHAIR:
            state.set_cursor(vp.to_lps(pos.x(), pos.y()))
        elif action == Tool.WINDOW:
            from viewer.core.windowing import drag_window

            state.set_window(*drag_window(state.window.center, state.window.width, dx, dy,
                                          _window_sensitivity(state), state.min_width))
        elif action == Tool.PAN:
            state.pan_by(self.plane, -dx * vp.mm_per_px, dy * vp.mm_per_px)
        elif action == Tool.ZOOM:
            state.zoom_by(self.plane, math.exp(-dy / 150.0))
        elif action in (Tool.RULER, Tool.ELLIPSE):
            if self._measure.move(vp, state.frames[self.plane], pos.x(), pos.y()):
                self.refresh()
        elif action == Tool.ROTATE:
            cx, cy = vp.to_px(state.cursor)
            a0 = math.atan2(last.y() - cy, last.x() - cx)
            a1 = math.atan2(pos.y() - cy, pos.x() - cx)
            state.rotate(self.plane, math.degrees(a1 - a0))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag = None
        if self._measure.release():
            self.refresh()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.tool == Tool.CROSSHAIR:
            self.maximise_requested.emit(self.plane)
        else:
            self.mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self.state is None:
            return
        self.activated.emit(self.plane)
        dy = event.angleDelta().y()
        if dy == 0:
            return  # a sideways wheel or trackpad swipe is not a slice change
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.state.zoom_by(self.plane, 1.15 ** (dy / 120.0))
            return
        self._wheel += dy  # trackpads send many small deltas: one slice per notch's worth (120)
        steps = int(self._wheel / 120)
        if steps:
            self._wheel -= steps * 120
            self.state.scroll(self.plane, steps)

    def keyPressEvent(self, event: object) -> None:  # noqa: N802
        # Never forward keys to VTK: its default style quits on 'e'/'q'. The window's actions handle keys.
        QWidget.keyPressEvent(self, event)  # type: ignore[arg-type]

    def keyReleaseEvent(self, event: object) -> None:  # noqa: N802
        QWidget.keyReleaseEvent(self, event)  # type: ignore[arg-type]

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.refresh()

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def frame_rgb(self) -> np.ndarray:
        """The last rendered frame as an (h, w, 3) uint8 array, top row first (tests, reports)."""
        return frame_rgb(self.GetRenderWindow())


def slice_tolerance(state: MprState, normal: np.ndarray) -> float:
    """How far (mm) from a view's plane a drawing may lie and still be shown on it: half a slice."""
    return slice_step_mm(state.volume, normal) / 2 + 1e-6


def _window_sensitivity(state: MprState) -> float:
    """Window change per pixel of drag: larger for CT's wide range than for a narrow MR or SUV range."""
    return max(state.min_width, state.window.width / 200.0)

