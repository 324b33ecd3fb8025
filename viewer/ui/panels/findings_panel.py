"""The findings the model proposed: one row each, click to go to the middle of its long axis."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from viewer.core.findings import Finding
from viewer.core.volume import Volume

COLUMNS = ["#", "Finding", "Long axis mm", "Short axis mm", "Volume mL", "Score", "Status"]


class FindingsTable(QTableWidget):
    """Lists findings; emits the LPS point to move the crosshair to when a row is chosen."""

    point_requested = Signal(object)  # np.ndarray, LPS mm

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self._points: list[np.ndarray] = []
        self.cellClicked.connect(lambda row, _col: self.point_requested.emit(self._points[row]))

    def set_findings(self, findings: tuple[Finding, ...], volume: Volume) -> None:
        """Show ``findings`` of ``volume``."""
        self._points = [long_axis_centre(f) for f in findings]  # before rows exist: setItem can emit
        self.setRowCount(len(findings))
        for row, f in enumerate(findings):
            m = f.measurements
            values = [str(row + 1), f.kind, f"{m.long_axis_mm:.1f}", f"{m.short_axis_mm:.1f}",
                      f"{m.volume_ml:.2f}", f"{f.provenance.score:.2f}" if f.provenance.score is not None else "",
                      f.status.value]
            for col, text in enumerate(values):
                self.setItem(row, col, QTableWidgetItem(text))
        self.resizeColumnsToContents()



def long_axis_centre(finding: Finding) -> np.ndarray:
    """LPS middle of the finding's RECIST long axis (on the slice where it was measured)."""
    a, b = finding.measurements.long_axis_lps
    return (np.asarray(a, float) + np.asarray(b, float)) / 2
