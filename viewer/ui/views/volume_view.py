"""The 3-D view of the 2x2 layout: the three MPR planes through the cursor and the findings as surfaces."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QWidget
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPlane
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkImageProperty,
    vtkImageSlice,
    vtkPolyDataMapper,
    vtkRenderer,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from viewer.core.findings import Finding
from viewer.core.mpr import MprState, Plane
from viewer.ui.views.vtk_convert import frame_rgb, placement

_FINDING_RGB = (1.0, 0.45, 0.2)


class VolumeView(QVTKRenderWindowInteractor):
    """Rotatable 3-D scene (left drag rotates, wheel zooms); follows the cursor and the planes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: MprState | None = None
        self._renderer = vtkRenderer()
        self._renderer.SetBackground(0.05, 0.05, 0.07)
        self.GetRenderWindow().SetMultiSamples(0)  # MSAA is 4x slower in software GL
        self.GetRenderWindow().AddRenderer(self._renderer)
        self.GetRenderWindow().GetInteractor().SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._planes: dict[Plane, vtkPlane] = {}
        self._slices: dict[Plane, vtkImageSlice] = {}
        self._property = vtkImageProperty()
        self._property.SetInterpolationTypeToLinear()
        for p in Plane:
            plane, mapper, prop = vtkPlane(), vtkImageResliceMapper(), vtkImageSlice()
            mapper.SetSlicePlane(plane)
            prop.SetMapper(mapper)
            prop.SetProperty(self._property)
            prop.VisibilityOff()
            self._renderer.AddViewProp(prop)
            self._planes[p], self._slices[p] = plane, prop
        self._surfaces: list[vtkActor] = []
        self._fresh_camera = True
        self._marker = _orientation_marker(self.GetRenderWindow().GetInteractor())

    @property
    def surfaces(self) -> list[vtkActor]:
        """One actor per finding shown."""
        return list(self._surfaces)

    def set_state(self, state: MprState, image: vtkImageData) -> None:
        """Show ``state``'s volume and follow its cursor, planes and window (no findings until set)."""
        if self.state is not None:
            for sig in (self.state.cursor_changed, self.state.frames_changed, self.state.window_changed):
                sig.disconnect(self._on_change)
        self.state = state
        matrix = placement(state.volume)
        for p, prop in self._slices.items():
            prop.GetMapper().SetInputData(image)
            prop.SetUserMatrix(matrix)
            prop.VisibilityOn()
        for sig in (state.cursor_changed, state.frames_changed, state.window_changed):
            sig.connect(self._on_change)
        self._fresh_camera = True
        self.set_findings(())

    def _on_change(self, *_: object) -> None:
        self.refresh()

    def set_findings(self, findings: tuple[Finding, ...]) -> None:
        """One surface per finding mask, in patient space."""
        for actor in self._surfaces:
            self._renderer.RemoveActor(actor)
        self._surfaces = [self._surface(f) for f in findings if self.state is not None]
        for actor in self._surfaces:
            self._renderer.AddActor(actor)
        self.refresh()

    def _surface(self, finding: Finding) -> vtkActor:
        assert self.state is not None
        vol = self.state.volume
        mask = np.pad(finding.region.mask.astype(np.uint8), 1)  # closed surfaces at the box edges
        img = vtkImageData()
        img.SetDimensions(mask.shape[2], mask.shape[1], mask.shape[0])
        img.SetSpacing(*vol.spacing)
        k, j, i = (o - 1 for o in finding.region.offset)
        img.SetOrigin(*(np.array([i, j, k], float) * np.array(vol.spacing)))
        img.GetPointData().SetScalars(numpy_support.numpy_to_vtk(mask.reshape(-1), deep=True))
        surface = vtkFlyingEdges3D()
        surface.SetInputData(img)
        surface.SetValue(0, 0.5)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(surface.GetOutputPort())
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.SetUserMatrix(placement(vol))
        actor.GetProperty().SetColor(*_FINDING_RGB)
        return actor

    def refresh(self) -> None:
        """Move the planes to the cursor, apply the window, render."""
        state = self.state
        if state is None or not self.isVisible():
            return
        for p, plane in self._planes.items():  # the mapper's slice plane is in world (LPS) coordinates
            plane.SetOrigin(*state.cursor)
            plane.SetNormal(*state.frames[p].normal)
        self._property.SetColorWindow(state.window.width)
        self._property.SetColorLevel(state.window.center)
        if self._fresh_camera:
            self._fresh_camera = False
            cam = self._renderer.GetActiveCamera()
            cam.SetFocalPoint(0, 0, 0)
            cam.SetPosition(-1, -1.5, 0.6)  # from the patient's front right (-x, -y in LPS), slightly above
            cam.SetViewUp(0, 0, 1)
            self._renderer.ResetCamera()
        self.GetRenderWindow().Render()

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def frame_rgb(self) -> np.ndarray:
        """The last rendered frame, top row first."""
        return frame_rgb(self.GetRenderWindow())

    def keyPressEvent(self, event: object) -> None:  # noqa: N802
        QWidget.keyPressEvent(self, event)  # type: ignore[arg-type]  # VTK's style would quit on 'e'/'q'

    def keyReleaseEvent(self, event: object) -> None:  # noqa: N802
        QWidget.keyReleaseEvent(self, event)  # type: ignore[arg-type]


def _orientation_marker(interactor: object) -> vtkOrientationMarkerWidget:
    """A corner cube labelled with patient directions (world is LPS: +x is the patient's left)."""
    cube = vtkAnnotatedCubeActor()
    for face, text in (("XPlus", "L"), ("XMinus", "R"), ("YPlus", "P"), ("YMinus", "A"), ("ZPlus", "S"),
                       ("ZMinus", "I")):
        getattr(cube, f"Set{face}FaceText")(text)
    cube.GetCubeProperty().SetColor(0.25, 0.25, 0.3)
    cube.GetTextEdgesProperty().SetColor(0.9, 0.75, 0.3)
    widget = vtkOrientationMarkerWidget()
    widget.SetOrientationMarker(cube)
    widget.SetInteractor(interactor)
    widget.SetViewport(0.0, 0.0, 0.18, 0.18)
    widget.SetEnabled(True)
    widget.InteractiveOff()
    return widget
