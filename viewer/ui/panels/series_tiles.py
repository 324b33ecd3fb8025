"""Drawing for the series browser: thumbnail tiles with a problem badge, and the row delegate."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from viewer.core.problems import Severity

BADGE_COLOUR = {Severity.WARNING: QColor(232, 160, 32), Severity.ERROR: QColor(220, 55, 55)}
_PAD = 4


def tile_icon(size: int, ratio: float, image: NDArray[np.uint8] | None, label: str,
              severity: Severity | None) -> QIcon:
    """The row's icon: the thumbnail (or a labelled placeholder) with the problem badge on top.

    The same pixmap serves every icon mode, so a selected row keeps its true greys.
    """
    pix = tile(size, ratio, image, label, severity)
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(pix, mode)
    return icon


def tile(size: int, ratio: float, image: NDArray[np.uint8] | None, label: str,
         severity: Severity | None) -> QPixmap:
    """A ``size`` (device pixels) square: image or placeholder text, frame, badge."""
    pix = QPixmap(size, size)
    pix.fill(QColor(0, 0, 0))
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if image is not None:
        grey = np.ascontiguousarray(image)
        qimg = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0], QImage.Format.Format_Grayscale8)
        painter.drawImage(pix.rect(), qimg)
    else:
        painter.setPen(QColor(105, 105, 105))
        font = QFont(painter.font())
        font.setPixelSize(max(8, size // 6))
        painter.setFont(font)
        painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, label)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(70, 70, 70), 1))
    painter.drawRect(0, 0, size - 1, size - 1)
    if severity in BADGE_COLOUR:
        _badge(painter, size, BADGE_COLOUR[severity])
    painter.end()
    pix.setDevicePixelRatio(ratio)
    return pix


def _badge(painter: QPainter, size: int, colour: QColor) -> None:
    """A warning triangle with '!' in the top-right corner, outlined so it shows on any image."""
    b = max(12.0, size * 0.3)
    x0, y0 = size - b - 3.0, 3.0
    painter.setPen(QPen(QColor(0, 0, 0), max(1.0, b / 12)))
    painter.setBrush(QBrush(colour))
    painter.drawPolygon(QPolygonF([QPointF(x0 + b / 2, y0), QPointF(x0 + b, y0 + b * 0.9),
                                   QPointF(x0, y0 + b * 0.9)]))
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(int(b * 0.6))
    painter.setFont(font)
    painter.drawText(int(x0), int(y0 + b * 0.22), int(b), int(b * 0.7), Qt.AlignmentFlag.AlignCenter, "!")


class SeriesDelegate(QStyledItemDelegate):
    """Thumbnail on the left; the first text line bold, the others dimmer, like a PACS strip."""

    def __init__(self, icon_size: int, parent: object = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.icon_size = icon_size

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802 (Qt naming)
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        """Tall enough for the thumbnail and three lines of text."""
        lines = max(3, len(str(index.data() or "").splitlines()))
        text_h = option.fontMetrics.lineSpacing() * lines
        return QSize(self.icon_size * 3, max(self.icon_size, text_h) + 2 * _PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Selection background, icon, then the text lines."""
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        r = option.rect
        icon_rect = QRect(r.left() + _PAD, r.top() + (r.height() - self.icon_size) // 2,
                          self.icon_size, self.icon_size)
        option.icon.paint(painter, icon_rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        bright = pal.highlightedText().color() if selected else pal.text().color()
        dim = QColor(bright)
        dim.setAlpha(175)
        lines = str(index.data() or "").splitlines()
        fm = option.fontMetrics
        x = icon_rect.right() + 2 * _PAD
        y = r.top() + (r.height() - fm.lineSpacing() * len(lines)) // 2
        width = r.right() - x - _PAD
        painter.save()
        for n, line in enumerate(lines):
            font = QFont(option.font)
            font.setBold(n == 0)
            painter.setFont(font)
            painter.setPen(bright if n == 0 else dim)
            text = painter.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, width)
            painter.drawText(QRect(x, y, width, fm.lineSpacing()), Qt.AlignmentFlag.AlignVCenter, text)
            y += fm.lineSpacing()
        painter.restore()
