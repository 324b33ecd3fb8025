"""Reading-window benchmark (issue: reading window): scroll, crosshair and window/level latency, app start.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/view_bench.py [--events 200] [--markdown]

Latency is from delivering a real Qt event (wheel, mouse move) to the view until every visible
view has rendered its new frame (VTK Render() then WaitForCompletion(), so the GPU or llvmpipe has
finished). The volume is a 512 x 512 x 300 int16 CT-like volume at 0.7 x 0.7 x 1.0 mm.
App start is a fresh process: interpreter start to the main window shown and its first event
loop turn done, with the modules it loaded (torch must not be among them).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

START_SCRIPT = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from viewer.ui.main_window import MainWindow
from viewer.ui.style import apply_dark_theme
app = QApplication(sys.argv[:1]); apply_dark_theme(app)
w = MainWindow(); w.show()
while not w.isVisible() or not w.windowHandle().isExposed():
    app.processEvents()
app.processEvents()
print("READY", time.perf_counter() - t0, "torch" in sys.modules, "pyqtgraph" in sys.modules, flush=True)
"""


def ct_like(shape: tuple[int, int, int] = (300, 512, 512)) -> np.ndarray:
    """An elliptical body of soft tissue with bright and dark spheres, noise and air around it."""
    k, j, i = shape
    rng = np.random.default_rng(0)
    vol = np.full(shape, -1000, np.int16)
    yy, xx = np.ogrid[:j, :i]
    body = ((yy - j / 2) / (j * 0.38)) ** 2 + ((xx - i / 2) / (i * 0.45)) ** 2 <= 1
    vol[:, body] = 40
    zz = np.arange(k)[:, None, None]
    for c, v in (((k / 2, j / 2, i / 3), 300), ((k / 3, j / 2, 2 * i / 3), -600)):
        vol[((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) < 60 ** 2] = v
    vol += rng.integers(-20, 20, size=(1, j, i), dtype=np.int16)
    return vol


def percentiles(ms: list[float]) -> dict[str, float]:
    """Median and 95th percentile in ms."""
    ordered = sorted(ms)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


def time_events(app: object, grid: object, send: object, n: int) -> dict[str, float]:
    """Deliver ``n`` events through ``send(i)`` and time each until all visible views have rendered."""
    views = [v for v in grid.views.values() if v.isVisible()]  # type: ignore[attr-defined]
    times = []
    for n_event in range(n):
        t0 = time.perf_counter()
        send(n_event)  # type: ignore[operator]
        for v in views:
            v.GetRenderWindow().WaitForCompletion()
        times.append((time.perf_counter() - t0) * 1000)
        app.processEvents()  # type: ignore[attr-defined]
    return percentiles(times)


def view_latency(n: int) -> dict[str, dict[str, float]]:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent, QWheelEvent
    from PySide6.QtWidgets import QApplication

    from viewer.core.mpr import Plane
    from viewer.core.volume import SeriesMeta, Volume
    from viewer.ui.views.view_grid import Layout, ViewGrid

    app = QApplication.instance() or QApplication(sys.argv[:1])
    volume = Volume(ct_like(), np.diag([0.7, 0.7, 1.0, 1.0]),
                    SeriesMeta(patient_name="BENCH", series_description="512x512x300", modality="CT", units="HU"))
    grid = ViewGrid()
    grid.resize(1500, 560)
    grid.show()
    while not grid.windowHandle() or not grid.windowHandle().isExposed():
        app.processEvents()
    state = grid.set_volume(volume)
    app.processEvents()

    def wheel(view: object, step: int) -> None:
        centre = QPointF(200, 200)
        delta = QPoint(0, 120 if step % 60 < 30 else -120)  # back and forth through 30 slices
        ev = QWheelEvent(centre, centre, QPoint(0, 0), delta, Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view, ev)

    def drag(view: object, button: Qt.MouseButton) -> object:
        def send(step: int) -> None:
            x = 200 + 60 * np.sin(step / 10)
            y = 200 + 60 * np.cos(step / 13)
            ev = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, y), QPointF(x, y), Qt.MouseButton.NoButton,
                             button, Qt.KeyboardModifier.NoModifier)
            QApplication.sendEvent(view, ev)
        press = QMouseEvent(QMouseEvent.Type.MouseButtonPress, QPointF(200, 200), QPointF(200, 200), button,
                            button, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, press)
        return send

    axial = grid.views[Plane.AXIAL]
    results = {}
    grid.set_layout(Layout.ONE)
    app.processEvents()
    results["scroll, 1 view (1x1)"] = time_events(app, grid, lambda s: wheel(axial, s), n)
    grid.set_layout(Layout.THREE)
    app.processEvents()
    results["scroll, 3 views linked (1x3)"] = time_events(app, grid, lambda s: wheel(axial, s), n)
    results["crosshair drag, 3 views (1x3)"] = time_events(app, grid, drag(axial, Qt.MouseButton.LeftButton), n)
    results["window/level drag, 3 views (1x3)"] = time_events(app, grid, drag(axial, Qt.MouseButton.RightButton), n)
    from viewer.core.mpr import Slab

    state.set_slab(Slab(10.0, "mip"))
    results["scroll, 3 views, 10 mm MIP slab"] = time_events(app, grid, lambda s: wheel(axial, s), n // 2)
    state.set_slab(Slab())
    renderer = axial.GetRenderWindow().ReportCapabilities().splitlines()
    results["_renderer"] = {"opengl": next((line.split(":", 1)[1].strip() for line in renderer
                                            if line.lower().startswith("opengl renderer string")), "?")}  # type: ignore[dict-item]
    return results


def app_start(runs: int = 3) -> dict[str, object]:
    """Fresh-process start to an interactive window, median of ``runs``."""
    seconds, wall, flags = [], [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", START_SCRIPT], capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - t0)
        line = next(x for x in out.stdout.splitlines() if x.startswith("READY"))
        _, s, torch_loaded, pg_loaded = line.split()
        seconds.append(float(s))
        flags = {"torch_loaded": torch_loaded == "True", "pyqtgraph_loaded": pg_loaded == "True"}
    return {"process_to_window_s": round(statistics.median(wall), 2),
            "imports_to_window_s": round(statistics.median(seconds), 2), **(flags or {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    result = {"machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
              "views": view_latency(args.events), "start": app_start()}
    if not args.markdown:
        print(json.dumps(result, indent=2))
        return
    print("| interaction | median | p95 |\n|---|---|---|")
    for name, r in result["views"].items():  # type: ignore[union-attr]
        if not name.startswith("_"):
            print(f"| {name} | {r['median_ms']} ms | {r['p95_ms']} ms |")
    print(f"\nRenderer: {result['views']['_renderer']['opengl']}. Start: {json.dumps(result['start'])}")  # type: ignore[index]


if __name__ == "__main__":
    main()
