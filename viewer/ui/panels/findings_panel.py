"""The findings the model proposed: one row each, click to go to its slice."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from viewer.core.findings import Finding
from viewer.core.volume import Volume

COLUMNS = ["#", "Finding", "Long axis mm", "Short axis mm", "Volume mL", "Score", "Status"]


class FindingsTable(QTableWidget):
    """Lists findings; emits the slice to show when a row is chosen."""

    slice_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self._slices: list[int] = []
        self.cellClicked.connect(lambda row, _col: self.slice_requested.emit(self._slices[row]))

    def set_findings(self, findings: tuple[Finding, ...], volume: Volume) -> None:
        """Show ``findings`` of ``volume``."""
        self._slices = [long_axis_slice(f, volume) for f in findings]  # before rows exist: see below
        self.setRowCount(len(findings))
        for row, f in enumerate(findings):
            m = f.measurements
            values = [str(row + 1), f.kind, f"{m.long_axis_mm:.1f}", f"{m.short_axis_mm:.1f}",
                      f"{m.volume_ml:.2f}", f"{f.provenance.score:.2f}" if f.provenance.score is not None else "",
                      f.status.value]
            for col, text in enumerate(values):
                self.setItem(row, col, QTableWidgetItem(text))
        self.resizeColumnsToContents()


def long_axis_slice(finding: Finding, volume: Volume) -> int:
    """The volume slice through the middle of the finding's long axis."""
    a, b = finding.measurements.long_axis_lps
    mid = [(p + q) / 2 for p, q in zip(a, b)]
    k = int(round(float(volume.lps_to_index(mid)[2])))
    return max(0, min(volume.shape[0] - 1, k))
