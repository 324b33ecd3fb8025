"""Series browser and problems list."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QTreeWidget, QTreeWidgetItem, QWidget

from viewer.core.problems import Problem, Severity, worst
from viewer.io.series import SeriesCandidate
from viewer.io.study import StudyScan

_BADGE = {Severity.WARNING: "\u26a0 ", Severity.ERROR: "\u26d4 ", Severity.INFO: "", None: ""}


class SeriesList(QListWidget):
    """One row per series: badge, description, modality, image count, spacing."""

    series_chosen = Signal(object)  # SeriesCandidate

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.itemDoubleClicked.connect(lambda item: self.series_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))

    def set_study(self, study: StudyScan) -> None:
        """Show the series of ``study``."""
        self.clear()
        for s in study.series:
            self.addItem(self._item(s))

    @staticmethod
    def _item(s: SeriesCandidate) -> QListWidgetItem:
        k, j, i = s.shape
        badge = _BADGE[worst(s.problems)]
        text = (f"{badge}{s.description}\n{s.meta.modality}  {len(s.frames) or k} images  "
                f"{i}x{j}  {s.spacing[2]:.2f} mm  {s.mode.value}")
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, s)
        tips = [f"{p.severity.value}: {p.message}" for p in s.problems]
        item.setToolTip("\n".join(tips) if tips else "No problems found")
        return item


class ProblemsPanel(QTreeWidget):
    """Unreadable files and geometry warnings, one row each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Severity", "Problem", "Where", "Reason"])
        self.setRootIsDecorated(False)

    def set_study(self, study: StudyScan) -> None:
        """List every series and file problem of ``study``."""
        self.clear()
        for s in study.series:
            for p in s.problems:
                self._add(p, s.description)
        for p in study.file_problems:
            self._add(p, p.path or "")
        if self.topLevelItemCount() == 0:
            self.addTopLevelItem(QTreeWidgetItem(["", "", "", f"No problems found in {study.files_seen} files"]))
        for col in range(3):
            self.resizeColumnToContents(col)

    def _add(self, p: Problem, where: str) -> None:
        row = QTreeWidgetItem([p.severity.value, p.code.value, where, p.message])
        row.setToolTip(3, p.message)
        self.addTopLevelItem(row)
