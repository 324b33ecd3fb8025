"""The reading toolbar: open, layouts, tools, window presets, thick slab (mode and thickness), cine."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QMainWindow, QToolBar

from viewer.core.mpr import MprState, Slab, SlabMode
from viewer.core.windowing import PRESETS
from viewer.ui.reading_actions import ReadingActions
from viewer.ui.views.view_grid import Layout

_SLAB_MODES = {"Thin slice": None, "MIP": SlabMode.MIP, "MinIP": SlabMode.MINIP, "Mean": SlabMode.MEAN}


class ReadingToolbar(QToolBar):
    """Buttons for what the menus and keys already do, plus the slab thickness in mm."""

    def __init__(self, window: QMainWindow, open_action: QAction, reading: ReadingActions) -> None:
        super().__init__("Reading", window)
        self.setObjectName("Reading toolbar")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.reading = reading
        self.addAction(open_action)
        self.addSeparator()
        for layout in Layout:
            self.addAction(reading.layout_actions[layout])
        self.addSeparator()
        for action in reading.tool_actions.values():
            self.addAction(action)
        self.addSeparator()
        self.presets = QComboBox()
        self.presets.addItems(["Window preset..."] + [p.name for p in PRESETS])
        self.presets.activated.connect(self._preset)
        self.addWidget(self.presets)
        self.slab_mode = QComboBox()
        self.slab_mode.addItems(list(_SLAB_MODES))
        self.slab_mm = QDoubleSpinBox()
        self.slab_mm.setRange(0.0, 200.0)
        self.slab_mm.setSingleStep(1.0)
        self.slab_mm.setDecimals(1)
        self.slab_mm.setSuffix(" mm")
        self.slab_mm.setValue(10.0)
        self.slab_mode.currentTextChanged.connect(lambda _: self._apply_slab())
        self.slab_mm.valueChanged.connect(lambda _: self._apply_slab())
        self.addWidget(QLabel(" Slab "))
        self.addWidget(self.slab_mode)
        self.addWidget(self.slab_mm)
        self.addSeparator()
        self.addAction(reading.cine_action)
        self._state: MprState | None = None
        reading.grid.state_changed.connect(self._follow)

    def _preset(self, index: int) -> None:
        state = self.reading.grid.state
        if index > 0 and state is not None:
            p = PRESETS[index - 1]
            state.set_window(p.center, p.width)
        self.presets.setCurrentIndex(0)

    def _apply_slab(self) -> None:
        state = self.reading.grid.state
        mode = _SLAB_MODES[self.slab_mode.currentText()]
        if state is not None:
            state.set_slab(Slab() if mode is None else Slab(self.slab_mm.value(), mode))

    def _follow(self, state: MprState) -> None:
        """Keep the slab controls showing what the state says (keys change it too)."""
        if self._state is not None:
            self._state.slab_changed.disconnect(self._show_slab)
        self._state = state
        state.slab_changed.connect(self._show_slab)
        self._show_slab(state.slab)

    def _show_slab(self, slab: Slab) -> None:
        for w in (self.slab_mode, self.slab_mm):
            w.blockSignals(True)
        thin = slab.thickness_mm == 0
        name = "Thin slice" if thin else next(k for k, v in _SLAB_MODES.items() if v is slab.mode)
        self.slab_mode.setCurrentText(name)
        if not thin:
            self.slab_mm.setValue(slab.thickness_mm)
        for w in (self.slab_mode, self.slab_mm):
            w.blockSignals(False)
