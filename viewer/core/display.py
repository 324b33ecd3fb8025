"""Texts a reader sees about positions, values and slices; one definition for every view and panel."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from viewer.core.geometry import orientation_letters
from viewer.core.mpr import Frame, MprState, Plane, aligned_axis
from viewer.core.volume import Volume

_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def axis_text(value: float, axis: int) -> str:
    """An LPS coordinate with its patient letter, e.g. ``"L 12.3"`` for x = +12.3 mm."""
    return f"{_AXIS_LETTERS[axis][int(value >= 0)]} {abs(value):.1f}"


def lps_text(point: ArrayLike) -> str:
    """A patient position in words the reader checks at a glance: ``"L 12.3  P 4.5  S 67.0 mm"``."""
    p = np.asarray(point, dtype=np.float64)
    return "  ".join(axis_text(float(p[a]), a) for a in range(3)) + " mm"


def position_text(cursor: ArrayLike, normal: ArrayLike) -> str:
    """The cursor's coordinate along the patient axis closest to ``normal``, e.g. ``"S 36.0 mm"``."""
    c, n = np.asarray(cursor, float), np.asarray(normal, float)
    axis = int(np.argmax(np.abs(n)))
    return axis_text(float(c[axis]), axis) + " mm"


def value_text(value: float | None, volume: Volume) -> str:
    """A voxel value with its units: whole numbers for integer data (HU), 4 significant digits for floats."""
    if value is None:
        return "outside"
    shown = f"{value:.0f}" if np.issubdtype(volume.array.dtype, np.integer) else f"{value:.4g}"
    return f"{shown} {volume.meta.units}".strip()


def window_text(center: float, width: float, volume: Volume) -> str:
    """``"W 400  L 40"``, with decimals where the data are floats."""
    if np.issubdtype(volume.array.dtype, np.integer):
        return f"W {width:.0f}  L {center:.0f}"
    return f"W {width:.4g}  L {center:.4g}"


def slice_text(state: MprState, plane: Plane) -> str:
    """Where ``plane`` cuts: ``"Im 57/200  S 36.0 mm"``, ``"Oblique  A 12.0 mm"`` or ``"Im 3/12 (2-D ...)"``.

    Along the acquisition axis, when every slice has a distinct DICOM InstanceNumber (what PACS
    shows) that differs from the position in the sorted stack, both are given: ``"Im 144 (57/200)"``.
    """
    vol = state.volume
    normal = state.frames[plane].normal
    index, count = state.slice_position(plane)
    if index is None:
        return "Oblique  " + position_text(state.cursor, normal)
    where = f"{index + 1}/{count}"
    numbers = [ref.instance_number if ref is not None else None for ref in vol.instances]
    distinct = len(numbers) == count and None not in numbers and len(set(numbers)) == count
    if aligned_axis(vol, normal) == 2 and distinct and numbers[index] != index + 1:
        where = f"{numbers[index]} ({where})"  # PACS's number first, then where it sits in the stack
    if state.stack_only:
        return f"Im {where} (2-D: no 3-D position)"
    return f"Im {where}  " + position_text(state.cursor, normal)


def edge_letters(frame: Frame) -> tuple[str, str, str, str]:
    """Orientation letters of a view's (left, right, top, bottom) edges, e.g. ``("R", "L", "A", "P")``."""
    r, u = np.asarray(frame.right), np.asarray(frame.up)
    return orientation_letters(-r), orientation_letters(r), orientation_letters(u), orientation_letters(-u)


def corner_texts(state: MprState, plane: Plane, chars: int, preview: bool = False) -> tuple[str, str, str, str]:
    """Corner overlay of a view: (top-left, top-right, bottom-left, bottom-right).

    Who (patient), what (series, plane), where (slice, slab) and how (window, zoom, resampled).
    Names and descriptions are cut to ``chars`` characters a line so the top corners never meet.
    """
    m, vol, slab = state.volume.meta, state.volume, state.slab
    where = "Preview (loading)" if preview else slice_text(state, plane)
    if slab.thickness_mm > 0:
        where += f"\n{slab.mode.value.upper()} {slab.thickness_mm:.0f} mm"
    name = "Image plane" if state.stack_only else plane.value.capitalize() + (" (oblique)" if state.oblique else "")
    top_left = f"{m.patient_name}\n{m.patient_id}  {m.patient_sex}  {m.patient_birth_date}\n{m.study_date}"
    top_right = f"{m.series_description}\n{m.modality}  {name}"
    bottom_right = (f"{window_text(state.window.center, state.window.width, vol)}\n"
                    f"Zoom {state.cameras[plane].zoom:.2f}x" + ("\nRESAMPLED" if vol.resampled else ""))
    return _fit(top_left, chars), _fit(top_right, chars), where, bottom_right


def _fit(text: str, chars: int) -> str:
    """Each line cut to ``chars`` characters, with an ellipsis where cut."""
    return "\n".join(line if len(line) <= chars else line[: chars - 1] + "\u2026" for line in text.split("\n"))
