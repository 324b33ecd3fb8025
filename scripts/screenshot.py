"""Open the viewer on a folder under Xvfb, wait until the series is shown, save a screenshot.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py FOLDER OUT.png [ai] [LAYOUT]

With "ai", the shipped lesion model runs first and the crosshair goes to its first finding.
LAYOUT is 1x1, 1x3 or 2x2 (default 2x2). Settings go to a throw-away file, never the user's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QSettings, QTimer
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget

from viewer.core.mpr import Plane
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import Settings
from viewer.ui.style import apply_dark_theme


def grab_with_views(window: MainWindow) -> QImage:
    """The window as Qt draws it, with each VTK view's own frame painted in (Qt grabs those black)."""
    image = window.grab().toImage()
    painter = QPainter(image)
    views: list[QWidget] = [v for v in window.grid.views.values() if v.isVisible()]
    if window.grid.volume_view is not None and window.grid.volume_view.isVisible():
        views.append(window.grid.volume_view)
    for view in views:
        rgb = np.ascontiguousarray(view.frame_rgb())  # type: ignore[attr-defined]
        frame = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
        painter.drawImage(view.mapTo(window, QPoint(0, 0)), frame)
    painter.end()
    return image


def main(folder: str, out: str, ai: bool = False, layout: str = "2x2") -> int:
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    store = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=Settings(store))
    window.resize(1500, 950)
    window.show()

    def save(*_: object) -> None:
        window.grid.set_layout(layout)
        QTimer.singleShot(500, lambda: (grab_with_views(window).save(out), app.quit()))

    def after_findings(*_: object) -> None:
        if window.findings_table.rowCount():
            window.findings_table.selectRow(0)
            window.findings_table.cellClicked.emit(0, 0)  # crosshair on the finding, views centred
            for plane in Plane:
                window.grid.state.zoom_by(plane, 2.5)
        save()

    def loaded(*_: object) -> None:
        if not ai:
            save()
            return
        window.findings_shown.connect(after_findings)
        window.run_model()

    window.loader.loaded.connect(loaded)
    window.loader.failed.connect(save)
    window.open_path(folder)
    return int(app.exec())


if __name__ == "__main__":
    args = sys.argv[3:]
    layouts = [a for a in args if "x" in a]
    raise SystemExit(main(sys.argv[1], sys.argv[2], "ai" in args, layouts[0] if layouts else "2x2"))
