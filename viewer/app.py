"""Composition root of the GUI: builds the application and opens a study (the demo by default)."""

from __future__ import annotations

import sys

from viewer import PRODUCT_NAME


def run(path: str | None = None) -> int:
    """Start the viewer on ``path``, or on the demo study (generated on first run)."""
    from PySide6.QtWidgets import QApplication

    from viewer.ui.main_window import MainWindow
    from viewer.ui.style import apply_dark_theme

    import threading

    from viewer.io.pool import warm_up

    # Start the decoding workers while the window comes up, so the first study does not wait.
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(PRODUCT_NAME)
    app.setOrganizationName(PRODUCT_NAME)
    apply_dark_theme(app)  # type: ignore[arg-type]
    window = MainWindow()
    window.show()
    if path is None:
        window.open_demo()
    else:
        window.open_path(path)
    return int(app.exec())
