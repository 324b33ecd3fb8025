"""One axial slice being painted: tissue classes on the grid, coordinates in the anatomical frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.synth.anatomy import Level
from viewer.synth.grid import F32
from viewer.synth.labels import Tissue

Window = tuple[slice, slice]
BoolArr = NDArray[np.bool_]


@dataclass
class Canvas:
    """Tissue classes of one slice plus what its painters share.

    ``u`` is a (1, nx) row and ``v`` a (ny, 1) column, so expressions in them broadcast to the
    slice (or to a window of it) without building coordinate images.
    """

    tissue: NDArray[np.uint8]
    u: F32
    v: F32
    lv: Level
    above: BoolArr        # above the diaphragm (the lungs' side)
    below: BoolArr        # below the diaphragm muscle (the abdomen's side)
    wobble: F32           # smooth noise (SD ~1, features ~3 cm) to make boundaries irregular

    @property
    def w(self) -> float:
        """The slice's level."""
        return self.lv.w

    def window(self, u0: float, u1: float, v0: float, v1: float) -> Window:
        """Index window of the slice covering the in-plane box [u0, u1] x [v0, v1] mm."""
        cols = np.searchsorted(self.u[0], [u0, u1])
        rows = np.searchsorted(self.v[:, 0], [v0, v1])
        return slice(int(rows[0]), int(rows[1])), slice(int(cols[0]), int(cols[1]))

    def around(self, cu: float, cv: float, half: float) -> Window:
        """Index window of a square of half side ``half`` mm centred on (cu, cv)."""
        return self.window(cu - half, cu + half, cv - half, cv + half)

    def uv(self, win: Window) -> tuple[F32, F32]:
        """Coordinates of a window, as a broadcastable row and column."""
        return self.u[:, win[1]], self.v[win[0], :]

    def paint(self, tissue: Tissue, mask: BoolArr, win: Window = (slice(None), slice(None))) -> None:
        """Set ``tissue`` where ``mask`` holds inside window ``win``."""
        np.copyto(self.tissue[win], np.uint8(tissue), where=mask)

    def where(self, tissue: Tissue, win: Window = (slice(None), slice(None))) -> BoolArr:
        """Where the window currently holds ``tissue``."""
        return np.asarray(self.tissue[win] == tissue)


def ellipse(u: F32, v: F32, cu: float, cv: float, a: float, b: float, angle: float = 0.0) -> F32:
    """Squared normalised radius of an (optionally rotated) ellipse: inside where it is <= 1."""
    du, dv = u - np.float32(cu), v - np.float32(cv)
    if angle == 0.0:
        return np.asarray((du / np.float32(a)) ** 2 + (dv / np.float32(b)) ** 2, dtype=np.float32)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return np.asarray(((du * c + dv * s) / np.float32(a)) ** 2 + ((dv * c - du * s) / np.float32(b)) ** 2,
                      dtype=np.float32)


def disc(cv: Canvas, cu: float, cvv: float, r: float, tissue: Tissue, extra: BoolArr | None = None) -> None:
    """Paint a circle of radius ``r`` mm (restricted to ``extra``, a full-slice mask, if given)."""
    if r <= 0:
        return
    win = cv.around(cu, cvv, r + 1.0)
    u, v = cv.uv(win)
    mask = ellipse(u, v, cu, cvv, r, r) <= 1.0
    if extra is not None:
        mask &= extra[win]
    cv.paint(tissue, mask, win)


def section(w: float, centre: float, half_height: float) -> float:
    """Cross-section scale of an ellipsoid-like organ at level ``w`` (0 outside its extent)."""
    t = (w - centre) / half_height
    return float(np.sqrt(1.0 - t * t)) if abs(t) < 1.0 else 0.0
