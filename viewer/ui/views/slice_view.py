"""A plain 2-D slice view (QPainter): scroll, window/level, correct aspect and overlay text.

The foundation's minimal view; the VTK MPR views of the reading window replace it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from viewer.core.findings import Finding
from viewer.core.geometry import orientation_letters
from viewer.core.volume import Volume


def to_grey8(img: NDArray[np.generic], center: float, width: float) -> NDArray[np.uint8]:
    """Map values through a linear window to 0..255."""
    lo = center - width / 2.0
    scaled = (img.astype(np.float32) - lo) * (255.0 / max(width, 1e-6))
    return np.clip(scaled, 0, 255).astype(np.uint8)


class SliceView(QWidget):
    """Shows slice k of a volume (or a lone preview image)."""

    slice_changed = Signal(int)
    window_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 320)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.volume: Volume | None = None
        self.preview: NDArray[np.generic] | None = None
        self.slice = 0
        self.window_center, self.window_width = 40.0, 400.0
        self._drag: QPoint | None = None
        self.findings: tuple[Finding, ...] = ()
        self.setAutoFillBackground(True)
        pal = self.palette()
        pal.setColor(self.backgroundRole(), QColor(0, 0, 0))
        self.setPalette(pal)

    # Model side -----------------------------------------------------------------------
    def set_volume(self, volume: Volume) -> None:
        """Show ``volume`` at its middle slice with its first stored window (or a CT default)."""
        self.volume, self.preview = volume, None
        if volume.meta.windows:
            self.window_center, self.window_width = volume.meta.windows[0].center, volume.meta.windows[0].width
        self.set_slice(volume.shape[0] // 2)

    def set_findings(self, findings: tuple[Finding, ...]) -> None:
        """Findings whose RECIST axes are drawn on the slices they cross."""
        self.findings = findings
        self.update()

    def set_preview(self, image: NDArray[np.generic]) -> None:
        """Show a single image while the volume is still loading."""
        if self.volume is None:
            self.preview = image
            self.update()

    def set_slice(self, k: int) -> None:
        """Go to slice ``k`` (clamped)."""
        if self.volume is None:
            return
        k = int(np.clip(k, 0, self.volume.shape[0] - 1))
        self.slice = k
        self.slice_changed.emit(k)
        self.update()

    def set_window(self, center: float, width: float) -> None:
        """Window/level in the volume's units."""
        self.window_center, self.window_width = float(center), max(1.0, float(width))
        self.window_changed.emit(self.window_center, self.window_width)
        self.update()

    # Drawing --------------------------------------------------------------------------
    def _image(self) -> tuple[QImage, float] | None:
        if self.volume is not None:
            img = self.volume.array[self.slice]
            si, sj, _ = self.volume.spacing
            aspect = sj / si
        elif self.preview is not None:
            img, aspect = self.preview, 1.0
        else:
            return None
        grey = np.ascontiguousarray(to_grey8(img, self.window_center, self.window_width))
        qimg = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0],
                      QImage.Format.Format_Grayscale8)
        return qimg.copy(), aspect

    def image_rect(self) -> QRectF:
        """Where the slice is drawn in widget coordinates (aspect-correct, centred)."""
        got = self._image()
        if got is None:
            return QRectF()
        qimg, aspect = got
        w, h = qimg.width(), qimg.height() * aspect
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2,
                      w * scale, h * scale)

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        got = self._image()
        if got is not None:
            painter.drawImage(self.image_rect(), got[0])
            self._draw_findings(painter)
        self._draw_text(painter)
        painter.end()

    def to_widget(self, lps: tuple[float, float, float]) -> tuple[QPointF, float]:
        """Widget position of an LPS point on this view, and its slice coordinate k."""
        assert self.volume is not None
        i, j, k = self.volume.lps_to_index(lps)
        rect = self.image_rect()
        cols, rows = self.volume.shape[2], self.volume.shape[1]
        x = rect.left() + (i + 0.5) * rect.width() / cols
        y = rect.top() + (j + 0.5) * rect.height() / rows
        return QPointF(x, y), float(k)

    def _draw_findings(self, painter: QPainter) -> None:
        if self.volume is None:
            return
        for n, f in enumerate(self.findings, 1):
            m = f.measurements
            for (a, b), colour in ((m.long_axis_lps, QColor(255, 90, 60)), (m.short_axis_lps, QColor(80, 200, 255))):
                (pa, ka), (pb, _) = self.to_widget(a), self.to_widget(b)
                if abs(ka - self.slice) > 0.5:
                    continue
                painter.setPen(QPen(colour, 2))
                painter.drawLine(pa, pb)
                if colour == QColor(255, 90, 60):
                    painter.drawText(pb + QPointF(6, -6), f"{n}: {m.long_axis_mm:.1f} x {m.short_axis_mm:.1f} mm")

    def _draw_text(self, painter: QPainter) -> None:
        painter.setPen(QColor(230, 230, 120))
        w, h = self.width(), self.height()
        if self.volume is None:
            if self.preview is not None:
                painter.drawText(10, 20, "Loading...")
            return
        v = self.volume
        m = v.meta
        painter.drawText(10, 20, f"{m.patient_name}  {m.patient_id}")
        painter.drawText(10, 38, f"{m.study_date}  {m.series_description}")
        pos = v.index_to_lps([0, 0, self.slice])
        painter.drawText(10, h - 28, f"Slice {self.slice + 1}/{v.shape[0]}  z {pos[2]:.1f} mm")
        painter.drawText(10, h - 10, f"W {self.window_width:.0f}  L {self.window_center:.0f}"
                         + ("   RESAMPLED" if v.resampled else ""))
        d = v.direction
        rect = self.image_rect()
        painter.drawText(int(rect.left()) + 4, h // 2, orientation_letters(-d[:, 0]))
        painter.drawText(int(rect.right()) - 24, h // 2, orientation_letters(d[:, 0]))
        painter.drawText(w // 2, int(rect.top()) + 16, orientation_letters(-d[:, 1]))
        painter.drawText(w // 2, int(rect.bottom()) - 6, orientation_letters(d[:, 1]))

    # Interaction ----------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        step = 1 if event.angleDelta().y() > 0 else -1
        self.set_slice(self.slice + step)

    def keyPressEvent(self, event: object) -> None:  # noqa: N802
        key = event.key()  # type: ignore[attr-defined]
        moves = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}
        if key in moves:
            self.set_slice(self.slice + moves[key])
        else:
            super().keyPressEvent(event)  # type: ignore[arg-type]

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self._drag = event.position().toPoint()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return
        p = event.position().toPoint()
        dx, dy = p.x() - self._drag.x(), p.y() - self._drag.y()
        self._drag = p
        self.set_window(self.window_center - dy * 2.0, self.window_width + dx * 4.0)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag = None
