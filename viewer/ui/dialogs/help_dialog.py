"""Keyboard and mouse reference, built from the window's actions so it always matches them."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

MOUSE = (
    ("Left click / drag", "Move the crosshair (or the chosen tool: ruler, ellipse, rotate, ...)"),
    ("Right drag", "Window/level: horizontal = width, vertical = level"),
    ("Middle drag, Shift + left drag", "Pan"),
    ("Ctrl + wheel, Ctrl + left drag", "Zoom"),
    ("Wheel", "Next / previous slice in the view under the mouse"),
    ("Double-click", "Fill the view area with this view; double-click again to go back"),
    ("Histogram handles", "Drag the window edges, or the window itself"),
)


def shortcut_rows(actions: Sequence[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for every action that has a shortcut, in menu order."""
    rows = []
    for a in actions:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts())
        if keys:
            rows.append((keys, a.text().replace("&", "")))
    return rows


class HelpDialog(QDialog):
    """A two-column table: keys or mouse gesture, and what it does."""

    def __init__(self, actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse")
        rows = list(MOUSE) + shortcut_rows(actions)
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys / mouse", "Does"])
        self.table.verticalHeader().setVisible(False)
        for r, (keys, what) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(keys))
            self.table.setItem(r, 1, QTableWidgetItem(what))
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 640)
