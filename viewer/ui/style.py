"""Dark reading-room theme."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def apply_dark_theme(app: QApplication) -> None:
    """A low-glare dark palette (Fusion style) suited to a dimmed reading room."""
    app.setStyle("Fusion")
    pal = QPalette()
    colours = {
        QPalette.ColorRole.Window: (37, 37, 38), QPalette.ColorRole.WindowText: (210, 210, 210),
        QPalette.ColorRole.Base: (24, 24, 24), QPalette.ColorRole.AlternateBase: (40, 40, 40),
        QPalette.ColorRole.Text: (210, 210, 210), QPalette.ColorRole.Button: (45, 45, 48),
        QPalette.ColorRole.ButtonText: (210, 210, 210), QPalette.ColorRole.Highlight: (38, 79, 120),
        QPalette.ColorRole.HighlightedText: (255, 255, 255), QPalette.ColorRole.ToolTipBase: (50, 50, 50),
        QPalette.ColorRole.ToolTipText: (220, 220, 220),
    }
    for role, rgb in colours.items():
        pal.setColor(role, QColor(*rgb))
    app.setPalette(pal)
