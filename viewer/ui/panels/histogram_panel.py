"""Histogram of the shown volume with draggable window handles, kept in sync with window/level."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from viewer.core.mpr import MprState
from viewer.core.windowing import sample_values



def histogram(array: np.ndarray, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of a strided sample of ``array`` (never a full copy of a large volume)."""
    sample = sample_values(array)
    if sample.size == 0:
        sample = np.zeros(1)
    lo, hi = float(sample.min()), float(sample.max())
    counts, edges = np.histogram(sample, bins=bins, range=(lo, hi if hi > lo else lo + 1))
    return edges, counts


class HistogramPanel(pg.PlotWidget):  # type: ignore[misc]
    """Log-count histogram; the shaded region is [level - width/2, level + width/2]."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=(24, 24, 24))
        self.setMinimumHeight(120)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().setLabel("bottom", "value")
        self.curve = self.plot(stepMode="center", fillLevel=0, brush=(90, 90, 110, 160), pen=(160, 160, 190))
        self.region = pg.LinearRegionItem(brush=(58, 142, 230, 50))
        self.addItem(self.region)
        self.state: MprState | None = None
        self._echo = False
        self.region.sigRegionChanged.connect(self._on_region)

    def set_state(self, state: MprState) -> None:
        """Show ``state``'s volume and follow (and drive) its window."""
        if self.state is not None:
            self.state.window_changed.disconnect(self._on_window)
        self.state = state
        edges, counts = histogram(state.volume.array)
        self.curve.setData(edges, np.log10(counts + 1.0))
        self.setXRange(float(edges[0]), float(edges[-1]), padding=0.02)
        state.window_changed.connect(self._on_window)
        self._on_window(state.window.center, state.window.width)

    def _on_window(self, center: float, width: float) -> None:
        self._echo = True  # guard: setting the region must not write back a rounded window
        try:
            self.region.setRegion((center - width / 2, center + width / 2))
        finally:
            self._echo = False

    def _on_region(self) -> None:
        if self._echo or self.state is None:
            return
        lo, hi = self.region.getRegion()
        self.state.set_window((lo + hi) / 2, hi - lo)
