"""The view area: three MPR views (and a 3-D view) in a 1x1, 1x3 or 2x2 layout around one shared state."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QFrame, QGridLayout, QVBoxLayout, QWidget

from viewer.core.annotations import AnnotationList
from viewer.core.findings import Finding
from viewer.core.mpr import MprState, Plane
from viewer.core.volume import SeriesMeta, Volume
from viewer.ui.views.mpr_view import MprView
from viewer.ui.views.vtk_convert import image_data

if TYPE_CHECKING:  # the 3-D view loads only when the 2x2 layout is first shown
    from viewer.ui.views.volume_view import VolumeView


class Layout(str, Enum):
    """Arrangements of the view area."""

    ONE = "1x1"
    THREE = "1x3"
    FOUR = "2x2"


class _Border(QFrame):
    """A thin frame around a view; blue on the active one."""

    def __init__(self, view: QWidget) -> None:
        super().__init__()
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(view)
        self.set_active(False)

    def set_active(self, active: bool) -> None:
        self.setStyleSheet(f"_Border {{ background: {'#3a8ee6' if active else '#202020'}; }}")


class ViewGrid(QWidget):
    """Owns the views and the reading state of the shown volume."""

    state_changed = Signal(object)  # the new MprState (or None)
    layout_changed = Signal(object)  # Layout

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = {p: MprView(p) for p in Plane}
        self.borders = {p: _Border(v) for p, v in self.views.items()}
        self.volume_view: VolumeView | None = None
        self.state: MprState | None = None
        self.findings: tuple[Finding, ...] = ()
        self._annotations: dict[tuple[object, ...], AnnotationList] = {}  # per volume: kept across switches
        self.preview = False
        self.layout_mode = Layout.THREE
        self.chosen_layout = Layout.THREE  # what the reader chose; a stack forces 1x1 only while shown
        self._arranged: tuple[Layout, Plane] | None = None  # (layout, active plane) the widgets are in
        self.active = Plane.AXIAL
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(0)
        self._before_maximise: Layout | None = None
        self.hovered: Plane | None = None  # the view the mouse last moved over
        for view in self.views.values():
            view.activated.connect(self.set_active)
            view.probed.connect(lambda *_, p=view.plane: setattr(self, "hovered", p))
            view.maximise_requested.connect(self.toggle_maximise)
        self.set_layout(Layout.THREE)
        self.set_active(Plane.AXIAL)

    @property
    def active_view(self) -> MprView:
        """The view keys and tools act on."""
        return self.views[self.active]

    def set_volume(self, volume: Volume, preview: bool = False) -> MprState:
        """Show ``volume`` in every view with a fresh reading state."""
        self.preview = preview
        # Stacks split from one series share its UID: the grid and shape tell them apart.
        key = (volume.meta.series_uid, volume.meta.source, volume.shape, volume.affine.tobytes())
        notes = None if preview else self._annotations.setdefault(key, AnnotationList())
        self.state = MprState(volume, annotations=notes)
        self.findings = ()
        image = image_data(volume)
        for view in self.views.values():
            view.preview = preview
            view.set_state(self.state, image)
        if self.volume_view is not None:
            self.volume_view.set_state(self.state, image)
        if self.state.stack_only:
            self.set_active(Plane.AXIAL)  # a stack has one view: its own image plane
        self.set_layout(self.chosen_layout)  # forced to 1x1 for a stack, the reader's choice otherwise
        self.state_changed.emit(self.state)
        return self.state

    def set_preview(self, image: NDArray[np.generic]) -> None:
        """Show a first decoded image (no geometry yet) while the series loads."""
        if self.state is None or self.preview:
            self.set_volume(Volume(np.ascontiguousarray(image)[None], np.eye(4),
                                   SeriesMeta(series_description="Loading...")), preview=True)

    def set_findings(self, findings: tuple[Finding, ...]) -> None:
        """Draw ``findings`` in every view."""
        self.findings = findings
        for view in self.views.values():
            view.set_findings(findings)
        if self.volume_view is not None:
            self.volume_view.set_findings(findings)

    def set_active(self, plane: Plane) -> None:
        """Make ``plane``'s view the one keys act on (and the one 1x1 shows)."""
        if self.state is not None and self.state.stack_only and plane is not Plane.AXIAL:
            return  # a stack has only its own image plane
        changed = plane is not self.active
        if not changed and self.views[plane].active:
            return  # every wheel turn and click activates its view: redraw nothing when nothing changes
        self.active = plane
        for p, view in self.views.items():
            self.borders[p].set_active(p is plane)
            view.set_active(p is plane)
        if changed and self.layout_mode is Layout.ONE:
            self.set_layout(Layout.ONE, chosen=False)  # another plane in 1x1: the layout choice is unchanged

    def toggle_maximise(self, plane: Plane) -> None:
        """Show only ``plane``'s view, or go back to the layout before (double-click, as in most viewers)."""
        if self.layout_mode is Layout.ONE and self._before_maximise is not None:
            layout, self._before_maximise = self._before_maximise, None
            self.set_layout(layout)
            return
        self._before_maximise = self.layout_mode if self.layout_mode is not Layout.ONE else None
        self.set_active(plane)
        self.set_layout(Layout.ONE, chosen=False)  # a moment's close look, not the reader's layout

    def set_layout(self, layout: Layout | str, chosen: bool = True) -> None:
        """Arrange the views: 1x1 (active plane), 1x3 (three planes), 2x2 (three planes + 3-D).

        A stack without 3-D geometry always gets 1x1: there are no other planes to show.
        """
        stack = self.state is not None and self.state.stack_only
        if not stack and chosen:
            self.chosen_layout = Layout(layout)
        mode = Layout.ONE if stack else Layout(layout)
        if (mode, self.active) == self._arranged:
            return  # already so: re-adding the widgets would resize the views for nothing
        self._arranged = (mode, self.active)
        self.layout_mode = mode
        had_focus = self.isAncestorOf(QApplication.focusWidget()) if QApplication.focusWidget() else False
        for w in list(self.borders.values()) + ([self.volume_view] if self.volume_view else []):
            self._grid.removeWidget(w)
            w.hide()
        if self.layout_mode is Layout.ONE:
            shown = [(self.borders[self.active], 0, 0)]
        elif self.layout_mode is Layout.THREE:
            shown = [(self.borders[p], 0, n) for n, p in enumerate(Plane)]
        else:
            shown = [(self.borders[Plane.AXIAL], 0, 0), (self.borders[Plane.CORONAL], 0, 1),
                     (self.borders[Plane.SAGITTAL], 1, 0), (self._volume_view(), 1, 1)]
        for w, r, c in shown:
            self._grid.addWidget(w, r, c)
            w.show()
        if had_focus:  # keep the keys working when the focused view was just hidden
            self.active_view.setFocus()
        self.layout_changed.emit(self.layout_mode)
        for r in range(2):
            self._grid.setRowStretch(r, 1 if (r == 0 or self.layout_mode is Layout.FOUR) else 0)
        for c in range(3):
            used = {Layout.ONE: 1, Layout.THREE: 3, Layout.FOUR: 2}[self.layout_mode]
            self._grid.setColumnStretch(c, 1 if c < used else 0)

    def _volume_view(self) -> VolumeView:
        if self.volume_view is None:
            from viewer.ui.views.volume_view import VolumeView

            self.volume_view = VolumeView()
            image = self.views[Plane.AXIAL].image
            if self.state is not None and image is not None:
                self.volume_view.set_state(self.state, image)
                self.volume_view.set_findings(self.findings)  # found before 2x2 was first chosen
        return self.volume_view
