"""Mouse gestures for GUI tests, delivered as Qt events straight to a widget.

qtbot.mouseMove also warps the X pointer; on a virtual screen with no window manager the server
then reports motion at offset positions, which races with the test's own event. Sending the
events directly keeps every position exact and every test deterministic.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget


def _send(widget: QWidget, kind: QEvent.Type, x: float, y: float, button: Qt.MouseButton,
          buttons: Qt.MouseButton) -> None:
    pos = QPointF(x, y)
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def move(widget: QWidget, x: float, y: float, held: Qt.MouseButton = Qt.MouseButton.NoButton) -> None:
    """The mouse moves to (x, y) with ``held`` buttons down."""
    _send(widget, QEvent.Type.MouseMove, x, y, Qt.MouseButton.NoButton, held)


def drag(widget: QWidget, a: tuple[float, float], b: tuple[float, float],
         button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    """Press ``button`` at ``a``, move to ``b`` with it held, release there."""
    _send(widget, QEvent.Type.MouseButtonPress, *a, button, button)
    move(widget, *b, held=button)
    _send(widget, QEvent.Type.MouseButtonRelease, *b, button, Qt.MouseButton.NoButton)
