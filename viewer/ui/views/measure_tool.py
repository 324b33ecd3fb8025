"""Drawing and editing rulers and ellipse ROIs on one view: press, drag, release; hit testing.

A new drawing is kept aside (``pending``) while the mouse moves and enters the state's
annotation list only on release, as one addition. Pressing on a ruler's end point drags that end
instead (same uid: an edit, not a new measurement).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from viewer.core.annotations import Annotation, AnnotationList, EllipseRoi, Ruler
from viewer.core.mpr import Frame, Viewport

GRAB_PX = 8.0  # how close (logical pixels) a press must be to an end point or a line to pick it


def annotation_at(annotations: Sequence[Annotation], vp: Viewport, x: float, y: float) -> Annotation | None:
    """The annotation under pixel (x, y): a ruler within GRAB_PX of its line, or an ellipse containing it."""
    p = np.array([x, y])
    for a in reversed(annotations):  # the one drawn last is on top
        if isinstance(a, Ruler):
            pa, pb = np.array(vp.to_px(a.a)), np.array(vp.to_px(a.b))
            d = pb - pa
            t = float(np.clip((p - pa) @ d / max(float(d @ d), 1e-9), 0.0, 1.0))
            if np.linalg.norm(pa + t * d - p) <= GRAB_PX:
                return a
        elif bool(a.contains(vp.to_lps(x, y))):
            return a
    return None


class MeasureTool:
    """The ruler/ellipse part of a view's mouse handling."""

    @property
    def busy(self) -> bool:
        """True between press and release of a drawing or an edit."""
        return self._anchor is not None or self._editing is not None

    def __init__(self, annotations: Callable[[], AnnotationList | None]) -> None:
        self._annotations = annotations
        self.pending: Annotation | None = None
        self._tool = "ruler"
        self._anchor: np.ndarray | None = None
        self._editing: tuple[Ruler, int] | None = None  # the ruler and which end is being dragged

    def press(self, tool: str, vp: Viewport, visible: Sequence[Annotation], x: float, y: float) -> None:
        """Start a drawing at (x, y), or, with the ruler tool, grab a ruler end point there."""
        for a in visible if tool == "ruler" else ():
            if isinstance(a, Ruler):
                for end, q in enumerate((a.a, a.b)):
                    qx, qy = vp.to_px(q)
                    if np.hypot(qx - x, qy - y) <= GRAB_PX:
                        self._editing = (a, end)
                        return
        self._anchor = vp.to_lps(x, y)
        self.pending = None
        self._tool = tool

    def move(self, vp: Viewport, frame: Frame, x: float, y: float) -> bool:
        """Follow the mouse; True when something on screen changed."""
        point = vp.to_lps(x, y)
        notes = self._annotations()
        if self._editing is not None and notes is not None:
            ruler, end = self._editing
            moved = ruler.moved(end, point)
            if ruler.uid in notes and moved.length_mm >= 1.0:  # never edited down to a dot
                notes.replace(moved)  # emits changed: the views redraw
            return False
        if self._anchor is None:
            return False
        self.pending = _drawn(self._tool, self._anchor, point, frame)
        return True

    def release(self) -> bool:
        """Finish: a big enough drawing joins the list. True when the view must redraw itself."""
        pending, self.pending, self._anchor, self._editing = self.pending, None, None, None
        notes = self._annotations()
        if pending is None or notes is None:
            return False
        big_enough = pending.length_mm >= 1.0 if isinstance(pending, Ruler) else pending.area_mm2 >= 1.0
        if big_enough:
            notes.add(pending)  # emits added: the views redraw
            return False
        return True


def _drawn(tool: str, a: np.ndarray, b: np.ndarray, frame: Frame) -> Annotation | None:
    if tool == "ruler":
        return Ruler(tuple(a), tuple(b))
    try:
        return EllipseRoi.from_corners(a, b, frame.right, frame.up)
    except ValueError:  # a zero-width drag: nothing to show yet
        return None
