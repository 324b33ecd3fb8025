"""Open the viewer on a folder under Xvfb, wait until the series is shown, save a screenshot.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py FOLDER OUT.png [SLICE|ai]

With "ai", the shipped lesion model runs first and the view shows its first finding.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from viewer.ui.main_window import MainWindow
from viewer.ui.style import apply_dark_theme


def main(folder: str, out: str, slice_index: int | None = None, ai: bool = False) -> int:
    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    window = MainWindow()
    window.resize(1400, 900)
    window.show()

    def save(*_: object) -> None:
        if slice_index is not None:
            window.view.set_slice(slice_index)
        QTimer.singleShot(300, lambda: (window.grab().save(out), app.quit()))

    def after_findings(*_: object) -> None:
        if window.findings_table.rowCount():
            window.findings_table.selectRow(0)
            window.findings_table.cellClicked.emit(0, 0)
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
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(arg) if arg and arg.isdigit() else None, arg == "ai"))
