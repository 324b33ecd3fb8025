"""Series browser (thumbnail, description, geometry, problem badge per series) and problems list."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QMimeData, QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from viewer.core.problems import Problem, Severity, worst
from viewer.io.series import LoadMode, SeriesCandidate
from viewer.io.study import StudyScan
from viewer.io.thumbnails import ThumbnailError, thumbnail
from viewer.ui.panels.series_tiles import SeriesDelegate, tile_icon

SERIES_MIME = "application/x-lumen-series"  # payload: the row index as ASCII digits
THUMB_SIZE = 80  # logical pixels; rendered at the screen's device pixel ratio
SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 1  # worst severity's value ('warning', ...), or None
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def series_row(mime: QMimeData) -> int | None:
    """The row index a series drag carries, or None if ``mime`` is not a series drag."""
    if not mime.hasFormat(SERIES_MIME):
        return None
    text = bytes(mime.data(SERIES_MIME).data()).decode("ascii", "replace")
    return int(text) if text.isdigit() else None


def describe(s: SeriesCandidate) -> str:
    """Three lines: description; modality, images, slice spacing; matrix and how it loads."""
    k, rows, cols = s.shape
    images = len(s.frames) or k
    step = "2-D" if s.mode is LoadMode.PLANES else f"{s.spacing[2]:.2f} mm"
    note = {LoadMode.RESAMPLED: "  \u00b7  resampled", LoadMode.PLANES: "  \u00b7  2-D only"}.get(s.mode, "")
    return (f"{s.description}\n{s.meta.modality or '?'}  \u00b7  {images} image{'s' * (images != 1)}"
            f"  \u00b7  {step}\n{cols} \u00d7 {rows}{note}")


def _tooltip(problems: Sequence[Problem], extra: str = "") -> str:
    ordered = sorted(problems, key=lambda p: _RANK[p.severity])
    lines = [f"{p.severity.value.upper()}: {p.message}" for p in ordered] or ["No problems found"]
    return "\n".join(lines + ([extra] if extra else []))


class _Relay(QObject):
    """Carries results from pool threads to the list; queued because it lives in the GUI thread."""

    done = Signal(int, int, object, str)  # generation, row, uint8 image or None, error


class _ThumbnailJob(QRunnable):
    """Computes one thumbnail in a pool thread; does nothing once its study is superseded."""

    def __init__(self, relay: _Relay, generation: int, row: int, candidate: SeriesCandidate,
                 size: int, stop: threading.Event) -> None:
        super().__init__()
        self._args = relay, generation, row, candidate, size, stop

    def run(self) -> None:
        relay, generation, row, candidate, size, stop = self._args
        if stop.is_set():
            return
        image, error = None, ""
        try:
            image = thumbnail(candidate, size)
        except ThumbnailError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a preview must never take the browser down
            error = f"{type(exc).__name__}: {exc}"
        if not stop.is_set():
            try:
                relay.done.emit(generation, row, image, error)
            except RuntimeError:  # the list was deleted while this ran
                pass


class SeriesList(QListWidget):
    """One row per series: thumbnail with problem badge, description, modality, images, spacing.

    Thumbnails are computed in a private thread pool after :meth:`set_study` and arrive one by
    one; a newer study supersedes older jobs, whose results are dropped. Rows can be dragged
    (mime type :data:`SERIES_MIME`, payload the row index; see :func:`series_row`).
    """

    series_chosen = Signal(object)  # SeriesCandidate, on double-click or Enter
    thumbnail_ready = Signal(int)  # row whose icon just changed
    thumbnails_finished = Signal()  # every row of the current study has its thumbnail (or failed)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.setSpacing(2)
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setItemDelegate(SeriesDelegate(THUMB_SIZE, self))
        self.setStyleSheet("QListWidget::item { border-bottom: 1px solid #2c2c2c; }"
                           "QListWidget::item:selected { background: #264f78; }"
                           "QListWidget::item:hover:!selected { background: #2a2d2e; }")
        self.itemDoubleClicked.connect(self._choose)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # decoding competes with the main load; one is plenty
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_thumbnail)
        self._generation = 0
        self._stop = threading.Event()
        self._pending: set[int] = set()
        self._images: dict[int, NDArray[np.uint8]] = {}

    def set_study(self, study: StudyScan, thumbnails: bool = True) -> None:
        """Show the series of ``study`` and, unless told not to, start computing thumbnails."""
        self.stop_thumbnails()
        self.clear()
        for s in study.series:
            self.addItem(self._item(s))
        if thumbnails:
            self.load_thumbnails()

    def load_thumbnails(self) -> None:
        """Compute every row's thumbnail in the background, top row first."""
        self.stop_thumbnails()
        ratio = self.devicePixelRatioF()
        size = max(8, round(THUMB_SIZE * ratio))
        self._pending = set(range(self.count()))
        for row in range(self.count()):
            job = _ThumbnailJob(self._relay, self._generation, row, self.candidate(row), size, self._stop)
            self._pool.start(job)
        if not self._pending:
            self.thumbnails_finished.emit()

    def stop_thumbnails(self) -> None:
        """Drop queued thumbnail jobs and ignore results still in flight (does not block)."""
        self._stop.set()
        self._pool.clear()
        self._stop = threading.Event()
        self._generation += 1
        self._pending = set()
        self._images = {}

    def wait_thumbnails(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (for shutdown); True if it is."""
        return bool(self._pool.waitForDone(msecs))

    def candidate(self, row: int) -> SeriesCandidate:
        """The series shown in ``row``."""
        item = self.item(row)
        if item is None:
            raise IndexError(f"no row {row}; the list has {self.count()}")
        value: SeriesCandidate = item.data(Qt.ItemDataRole.UserRole)
        return value

    def thumbnail_image(self, row: int) -> NDArray[np.uint8] | None:
        """The computed thumbnail of ``row``, or None while it is pending or if it failed."""
        return self._images.get(row)

    def severity(self, row: int) -> Severity | None:
        """The worst severity among ``row``'s problems (None when it has none)."""
        value = self.item(row).data(SEVERITY_ROLE)
        return None if value is None else Severity(value)

    def pending_thumbnails(self) -> int:
        """Rows still waiting for their thumbnail."""
        return len(self._pending)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt naming)
        """The one drag format this list offers."""
        return [SERIES_MIME]

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:  # noqa: N802
        """Drag payload: the row of the first dragged item."""
        mime = QMimeData()
        if items:
            mime.setData(SERIES_MIME, str(self.row(items[0])).encode("ascii"))
            mime.setText(items[0].text().splitlines()[0])
        return mime

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Enter opens the current series, as a double-click does."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self._choose(self.currentItem())
            return
        super().keyPressEvent(event)

    def _choose(self, item: QListWidgetItem) -> None:
        self.series_chosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def _item(self, s: SeriesCandidate) -> QListWidgetItem:
        severity = worst(s.problems)
        item = QListWidgetItem(describe(s))
        item.setData(Qt.ItemDataRole.UserRole, s)
        item.setData(SEVERITY_ROLE, None if severity is None else severity.value)
        item.setToolTip(_tooltip(s.problems))
        item.setIcon(self._tile(None, s, severity))
        return item

    def _tile(self, image: NDArray[np.uint8] | None, s: SeriesCandidate, severity: Severity | None,
              label: str = "") -> QIcon:
        ratio = self.devicePixelRatioF()
        return tile_icon(max(8, round(THUMB_SIZE * ratio)), ratio, image, label or s.meta.modality or "\u2026",
                     severity)

    def _on_thumbnail(self, generation: int, row: int, image: object, error: str) -> None:
        if generation != self._generation or row not in self._pending:
            return  # a superseded study's result: its rows are gone
        self._pending.discard(row)
        item, s, severity = self.item(row), self.candidate(row), self.severity(row)
        if isinstance(image, np.ndarray):
            self._images[row] = image
            item.setIcon(self._tile(image, s, severity))
        else:
            item.setIcon(self._tile(None, s, severity, "no image"))
            item.setToolTip(_tooltip(s.problems, f"Thumbnail: {error}"))
        self.thumbnail_ready.emit(row)
        if not self._pending:
            self.thumbnails_finished.emit()


class ProblemsPanel(QTreeWidget):
    """Unreadable files and geometry warnings, one row each, the most severe first."""

    _COLOUR = {Severity.ERROR: QColor(235, 95, 95), Severity.WARNING: QColor(235, 175, 60),
               Severity.INFO: QColor(150, 150, 150)}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Severity", "Problem", "Where", "Reason"])
        self.setRootIsDecorated(False)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 110)  # a few rows: the images get the height

    def set_study(self, study: StudyScan) -> None:
        """List every series and file problem of ``study``, errors first, then warnings, then notes."""
        self.clear()
        rows = [(p, s.description) for s in study.series for p in s.problems]
        rows += [(p, p.path or "") for p in study.file_problems]
        for p, where in sorted(rows, key=lambda r: _RANK[r[0].severity]):
            self._add(p, where)
        if self.topLevelItemCount() == 0:
            self.addTopLevelItem(QTreeWidgetItem(["", "", "", f"No problems found in {study.files_seen} files"]))
        for col in range(3):
            self.resizeColumnToContents(col)

    def _add(self, p: Problem, where: str) -> None:
        row = QTreeWidgetItem([p.severity.value, p.code.value, where, p.message])
        row.setForeground(0, self._COLOUR[p.severity])
        row.setToolTip(2, where)
        row.setToolTip(3, p.message)
        self.addTopLevelItem(row)
