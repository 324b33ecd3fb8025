"""The reading actions of the view area: scrolling, presets, layouts, tools, slab, cine; one shortcut each.

Shortcuts act while the focus is in the view area (so typing in a spin box never changes the
window); the same actions sit in the menus, where they work from anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from viewer.core.mpr import Plane, Slab, SlabMode
from viewer.core.windowing import PRESETS, auto_window
from viewer.ui.views.mpr_view import Tool
from viewer.ui.views.view_grid import Layout, ViewGrid

SLAB_STEPS_MM = (0.0, 5.0, 10.0, 20.0, 40.0)


class ReadingActions(QObject):
    """Creates the actions, adds them to ``grid`` (for shortcuts) and to menus."""

    def __init__(self, grid: ViewGrid, parent: QWidget) -> None:
        super().__init__(parent)
        self.grid = grid
        self.all: list[QAction] = []
        self.cine = QTimer(self)
        self.cine.setInterval(100)  # 10 images per second
        self.cine.timeout.connect(self._cine_step)

    def _action(self, menu: QMenu, text: str, keys: str | list[str], slot: Callable[[], None],
                checkable: bool = False) -> QAction:
        action = QAction(text, self.grid)
        seqs = [QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys) if k]
        action.setShortcuts(seqs)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(lambda _=False: slot())
        self.grid.addAction(action)
        menu.addAction(action)
        self.all.append(action)
        return action

    def build(self, bar: QMenuBar) -> None:
        """Add the View, Window and Tools menus to ``bar``."""
        self._view_menu(bar.addMenu("&View"))
        self.window_menu = bar.addMenu("&Window")
        self._window_menu(self.window_menu)
        self._tools_menu(bar.addMenu("&Tools"))

    def _view_menu(self, menu: QMenu) -> None:
        for text, keys, steps in (("Next slice", ["Up", "Right"], 1), ("Previous slice", ["Down", "Left"], -1),
                                  ("Forward 10 slices", "PgUp", 10), ("Back 10 slices", "PgDown", -10),
                                  ("Last slice", "End", 10_000), ("First slice", "Home", -10_000)):
            self._action(menu, text, keys, lambda s=steps: self._scroll(s))
        menu.addSeparator()
        group = QActionGroup(self)
        self.layout_actions: dict[Layout, QAction] = {}
        for layout, key in ((Layout.ONE, "Ctrl+1"), (Layout.THREE, "Ctrl+3"), (Layout.FOUR, "Ctrl+4")):
            a = self._action(menu, f"Layout {layout.value}", key, lambda l=layout: self.grid.set_layout(l), True)
            a.setIconText(layout.value)
            group.addAction(a)
            self.layout_actions[layout] = a
        self.layout_actions[self.grid.layout_mode].setChecked(True)
        self.grid.layout_changed.connect(lambda layout: self.layout_actions[layout].setChecked(True))
        for plane, key in ((Plane.AXIAL, "Alt+1"), (Plane.CORONAL, "Alt+2"), (Plane.SAGITTAL, "Alt+3")):
            self._action(menu, f"Activate {plane.value} view", key, lambda p=plane: self.grid.set_active(p))
        menu.addSeparator()
        self._action(menu, "Reset zoom and pan", "R", self._reset_cameras)
        self._action(menu, "Reset oblique planes", "O", lambda: self._with_state(lambda s: s.reset_planes()))
        self.masks_action = self._action(menu, "Show finding masks", "H", self._toggle_masks, True)
        self.masks_action.setChecked(True)
        self.cine_action = self._action(menu, "Cine (play through slices)", "C", self.toggle_cine, True)
        self.cine_action.setIconText("Cine")
        menu.addSeparator()
        for mode, key in ((SlabMode.MIP, "M"), (SlabMode.MINIP, "N"), (SlabMode.MEAN, "V")):
            self._action(menu, f"Thick slab: {mode.value.upper()} (repeat: thicker)", key,
                         lambda m=mode: self._cycle_slab(m))
        self._action(menu, "Thin slice (slab off)", "T", lambda: self._with_state(lambda s: s.set_slab(Slab())))

    def _window_menu(self, menu: QMenu) -> None:
        for n, preset in enumerate(PRESETS, 1):
            self._action(menu, f"{preset.name} (W {preset.width:.0f} L {preset.center:.0f})", str(n),
                         lambda p=preset: self._with_state(lambda s: s.set_window(p.center, p.width)))
        self._action(menu, "Series window (from the DICOM files; repeat: the next one)", "0", self._series_window)
        self._action(menu, "Auto window (histogram)", "A", self._auto_window)

    def _tools_menu(self, menu: QMenu) -> None:
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, short, key in ((Tool.CROSSHAIR, "Crosshair (left drag)", "Crosshair", "X"),
                                       (Tool.ROTATE, "Rotate crosshair: oblique planes", "Oblique", "Shift+O"),
                                       (Tool.WINDOW, "Window/level (also right drag)", "W/L", "W"),
                                       (Tool.PAN, "Pan (also middle or Shift+left drag)", "Pan", "P"),
                                       (Tool.ZOOM, "Zoom (also Ctrl+wheel or Ctrl+left drag)", "Zoom", "Z"),
                                       (Tool.RULER, "Ruler (length in mm)", "Ruler", "L"),
                                       (Tool.ELLIPSE, "Ellipse ROI (HU statistics)", "Ellipse", "E")):
            a = self._action(menu, text, key, lambda t=tool: self.set_tool(t), True)
            a.setIconText(short)  # the toolbar's label; the menu keeps the long text
            a.setToolTip(f"{text}  [{key}]")
            group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions[Tool.CROSSHAIR].setChecked(True)
        menu.addSeparator()
        self._action(menu, "Delete the measurement under the mouse (else the last)", ["Delete", "Backspace"],
                     self.delete_measurement)

    # Slots ------------------------------------------------------------------------------
    def _with_state(self, fn: Callable[..., object]) -> None:
        if self.grid.state is not None:
            fn(self.grid.state)

    def _scroll(self, steps: int) -> None:
        self._with_state(lambda s: s.scroll(self.grid.active, steps))

    def _reset_cameras(self) -> None:
        self._with_state(lambda s: s.reset_cameras())

    def _series_window(self) -> None:
        """The window the DICOM files give; a series may give several (e.g. lung and mediastinum)."""
        state = self.grid.state
        if state is None or not state.volume.meta.windows:
            return
        windows = state.volume.meta.windows
        now = [n for n, w in enumerate(windows) if (w.center, w.width) == (state.window.center, state.window.width)]
        w = windows[(now[0] + 1) % len(windows)] if now else windows[0]
        state.set_window(w.center, w.width)

    def _auto_window(self) -> None:
        state = self.grid.state
        if state is not None:
            w = auto_window(state.volume.array)
            state.set_window(w.center, w.width)

    def _cycle_slab(self, mode: SlabMode) -> None:
        state = self.grid.state
        if state is None:
            return
        current = state.slab.thickness_mm if state.slab.mode is mode else 0.0
        bigger = [t for t in SLAB_STEPS_MM if t > current]
        state.set_slab(Slab(bigger[0] if bigger else 0.0, mode))

    def set_tool(self, tool: str) -> None:
        """What the left button does in every MPR view."""
        for view in self.grid.views.values():
            view.tool = tool
        self.tool_actions[tool].setChecked(True)

    def delete_measurement(self) -> None:
        """Remove the ruler or ROI under the mouse (where it last moved over a view), else the newest one."""
        state = self.grid.state
        if state is None or not len(state.annotations) or any(v.drawing for v in self.grid.views.values()):
            return  # nothing to delete, or a drawing is under way: finish it first
        hovered = self.grid.views[self.grid.hovered] if self.grid.hovered is not None else None
        hit = hovered.annotation_under_mouse() if hovered is not None and hovered.isVisible() else None
        target = hit if hit is not None and hit.uid in state.annotations else state.annotations.items[-1]
        state.annotations.remove(target.uid)

    def _toggle_masks(self) -> None:
        for view in self.grid.views.values():
            view.set_masks_visible(self.masks_action.isChecked())

    def toggle_cine(self) -> None:
        """Start or stop playing through the active view's slices."""
        if self.cine.isActive():
            self.cine.stop()
        elif self.grid.state is not None:
            self.cine.start()
        self.cine_action.setChecked(self.cine.isActive())

    def _cine_step(self) -> None:
        state = self.grid.state
        if state is None:
            self.toggle_cine()
            return
        before = state.cursor.copy()
        state.scroll(self.grid.active, 1)
        if (state.cursor == before).all():  # at the end: loop to the first slice
            state.scroll(self.grid.active, -100_000)

