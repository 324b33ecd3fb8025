"""Multiplanar reading state: one crosshair cursor in LPS, three view planes, window, slab, cameras.

The views hold no state of their own: they draw what :class:`MprState` says and write user input
back to it (napari's model/view split). Everything is in patient millimetres (LPS), never in array
axes, so axial/coronal/sagittal are true patient planes whatever the acquisition orientation.

A view plane is a :class:`Frame`: the patient directions of the screen's right and up. The viewer
looks along ``normal = up x right``; for the base frames this gives the radiological convention
(axial seen from the feet with the patient's left on the screen's right, coronal from the front,
sagittal from the patient's left with anterior on the screen's left).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from psygnal import Signal

from viewer.core import geometry
from viewer.core.annotations import AnnotationList
from viewer.core.problems import ProblemCode
from viewer.core.volume import Volume, WindowPreset
from viewer.core.windowing import sample_values

Vec = NDArray[np.float64]


class Plane(str, Enum):
    """The three reading planes."""

    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"


class SlabMode(str, Enum):
    """How voxels across a thick slab combine into one pixel."""

    MIP = "mip"
    MINIP = "minip"
    MEAN = "mean"


@dataclass(frozen=True)
class Frame:
    """Patient (LPS) directions of the screen's right and up for one view; orthonormal."""

    right: tuple[float, float, float]
    up: tuple[float, float, float]

    def __post_init__(self) -> None:
        r, u = np.asarray(self.right, float), np.asarray(self.up, float)
        if abs(np.linalg.norm(r) - 1) > 1e-6 or abs(np.linalg.norm(u) - 1) > 1e-6 or abs(r @ u) > 1e-6:
            raise ValueError(f"frame axes must be orthonormal; got right={self.right}, up={self.up}")
        object.__setattr__(self, "_normal", np.cross(u, r))  # once: views ask for it many times a frame

    @property
    def normal(self) -> Vec:
        """Viewing direction (into the screen)."""
        return np.array(self._normal)  # type: ignore[attr-defined]

    def rotated(self, axis: ArrayLike, angle_deg: float) -> Frame:
        """This frame rotated by ``angle_deg`` about the unit ``axis`` (right-hand rule)."""
        rot = rotation(axis, angle_deg)
        return Frame(_t(rot @ np.asarray(self.right)), _t(rot @ np.asarray(self.up)))


BASE_FRAMES: dict[Plane, Frame] = {
    Plane.AXIAL: Frame((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    Plane.CORONAL: Frame((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    Plane.SAGITTAL: Frame((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}


def _t(v: ArrayLike) -> tuple[float, float, float]:
    """``v`` normalised, as a tuple (frames hold unit vectors)."""
    return _tuple(geometry.unit(v))


def rotation(axis: ArrayLike, angle_deg: float) -> Vec:
    """3x3 rotation matrix about the unit ``axis`` (Rodrigues)."""
    k = geometry.unit(axis)
    a = np.radians(angle_deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.asarray(np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx, dtype=np.float64)


@dataclass(frozen=True)
class Slab:
    """Thick-slab rendering: ``thickness_mm`` 0 shows the plain slice."""

    thickness_mm: float = 0.0
    mode: SlabMode = SlabMode.MIP

    def __post_init__(self) -> None:
        if not 0.0 <= self.thickness_mm <= 500.0:
            raise ValueError(f"slab thickness_mm must be within [0, 500]; got {self.thickness_mm}")
        object.__setattr__(self, "mode", SlabMode(self.mode))


@dataclass(frozen=True)
class Camera:
    """Per-view zoom (1 = the volume fits the view) and pan in mm along the view's right/up."""

    zoom: float = 1.0
    pan: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not 0.05 <= self.zoom <= 100.0:
            raise ValueError(f"zoom must be within [0.05, 100]; got {self.zoom}")


def native_frame(volume: Volume) -> Frame:
    """The acquired image plane as stored: columns to the right, rows downwards."""
    d = volume.direction
    right, down = d[:, 0], d[:, 1]
    up = -(down - (down @ right) * right)  # orthogonalised: a sheared grid still gets a valid frame
    return Frame(_t(right), _t(up))


def slice_step_mm(volume: Volume, normal: ArrayLike) -> float:
    """Distance along ``normal`` that moves one voxel: the slice spacing for aligned planes."""
    n = geometry.unit(normal)
    d, s = volume.direction, np.asarray(volume.spacing)
    return float(1.0 / np.max(np.abs(n @ d) / s))


def aligned_axis(volume: Volume, normal: ArrayLike) -> int | None:
    """The volume axis (0=i, 1=j, 2=k) parallel to ``normal``, or None for an oblique plane.

    Parallel means: across the whole volume, the plane strays less than a tenth of a voxel from
    one slice, so drawing that slice shows what the plane cuts (a 0.5 degree tilt over 400 mm
    would cross three 1-mm slices).
    """
    n = geometry.unit(normal)
    cosines = np.abs(n @ volume.direction)
    axis = int(np.argmax(cosines))
    extent = float(np.linalg.norm(np.array(volume.shape[::-1]) * np.array(volume.spacing)))
    sine = float(np.sqrt(max(0.0, 1.0 - cosines[axis] ** 2)))
    return axis if sine * extent <= 0.1 * volume.spacing[axis] else None


def _nearest(index: NDArray[np.float64]) -> NDArray[np.float64]:
    """Round half up, as VTK picks a slice (numpy's rint rounds half to even)."""
    return np.floor(index + 0.5)


class MprState:
    """The reading state of one volume; every setter validates, stores, then emits.

    Signals: ``cursor_changed(point)``, ``frames_changed()``, ``window_changed(center, width)``,
    ``slab_changed(slab)``, ``camera_changed(plane)``.
    """

    cursor_changed = Signal(object)
    frames_changed = Signal()
    window_changed = Signal(float, float)
    slab_changed = Signal(object)
    camera_changed = Signal(object)

    def __init__(self, volume: Volume, window: WindowPreset | None = None,
                 annotations: AnnotationList | None = None) -> None:
        self.volume = volume
        codes = {p.code for p in volume.problems}
        # A stack without 3-D geometry (gaps, localizers, no positions) is shown image by image in its
        # own plane: its slice step is nominal, so reformats and positions along it would be made up.
        self.stack_only = bool(codes & {ProblemCode.LOADED_2D, ProblemCode.MISSING_GEOMETRY}) or volume.shape[0] == 1
        self.geometry_known = ProblemCode.MISSING_GEOMETRY not in codes  # orientation and pixel spacing
        k, j, i = volume.shape
        self._corners = volume.index_to_lps(
            np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], float))
        self.cursor: Vec = volume.index_to_lps([(i - 1) // 2, (j - 1) // 2, (k - 1) // 2])
        self.frames: dict[Plane, Frame] = self._base_frames()
        self.min_width = _min_width(volume)
        self.window = window or (volume.meta.windows[0] if volume.meta.windows else WindowPreset(40.0, 400.0))
        self.slab = Slab()
        self.cameras: dict[Plane, Camera] = {p: Camera() for p in Plane}
        self.annotations = annotations if annotations is not None else AnnotationList()  # rulers and ROIs

    def _base_frames(self) -> dict[Plane, Frame]:
        frames = dict(BASE_FRAMES)
        if self.stack_only:
            frames[Plane.AXIAL] = native_frame(self.volume)  # the one view a stack gets
        return frames

    # Cursor -----------------------------------------------------------------------------
    def set_cursor(self, point: ArrayLike) -> None:
        """Move the crosshair to ``point`` (LPS mm), kept inside the volume.

        While every view plane lies along a volume axis the cursor snaps to the nearest voxel
        centre, so views show acquired slices, never a blend of two. With an oblique plane it does
        not: snapping would push the cursor off that plane and make scrolling drift sideways.
        """
        ijk = self.volume.lps_to_index(point)
        for axis in self._aligned_axes():
            ijk[axis] = _nearest(ijk[axis])
        hi = np.array(self.volume.shape[::-1], float) - 1
        clamped = self.volume.index_to_lps(np.clip(ijk, 0, hi))
        if np.allclose(clamped, self.cursor, atol=1e-9):
            return
        self.cursor = clamped
        self.cursor_changed.emit(clamped.copy())

    def _aligned_axes(self) -> set[int]:
        """Volume axes some view looks along: the cursor sits on whole slices along those."""
        planes = [Plane.AXIAL] if self.stack_only else list(Plane)
        axes = {aligned_axis(self.volume, self.frames[p].normal) for p in planes}
        return {a for a in axes if a is not None}

    def scroll(self, plane: Plane, steps: float) -> None:
        """Move the cursor ``steps`` slices along ``plane``'s viewing direction."""
        n = self.frames[plane].normal
        self.set_cursor(self.cursor + steps * slice_step_mm(self.volume, n) * n)

    def slice_position(self, plane: Plane) -> tuple[int | None, int]:
        """(slice index, or None when the plane is oblique; slice count along that axis)."""
        axis = aligned_axis(self.volume, self.frames[plane].normal)
        if axis is None:
            return None, 0
        index = int(_nearest(self.volume.lps_to_index(self.cursor))[axis])
        return index, self.volume.shape[::-1][axis]

    def value_at(self, point: ArrayLike) -> float | None:
        """Voxel value nearest to ``point``, or None outside the volume."""
        ijk = _nearest(self.volume.lps_to_index(point)).astype(int)
        if np.any(ijk < 0) or np.any(ijk >= np.array(self.volume.shape[::-1])):
            return None
        return float(self.volume.array[ijk[2], ijk[1], ijk[0]])

    # Planes -----------------------------------------------------------------------------
    def rotate(self, plane: Plane, angle_deg: float) -> None:
        """Oblique mode: turn the crosshair in ``plane``, i.e. rotate the two other planes about its normal."""
        if self.stack_only:
            return  # a stack has no other planes to turn
        axis = self.frames[plane].normal
        for other in Plane:
            if other is not plane:
                self.frames[other] = self.frames[other].rotated(axis, angle_deg)
        self.frames_changed.emit()

    def reset_planes(self) -> None:
        """Back to true axial, coronal and sagittal."""
        self.frames = self._base_frames()
        self.frames_changed.emit()

    @property
    def oblique(self) -> bool:
        """True when any plane is rotated away from its base orientation (rounding ignored)."""
        base = self._base_frames()
        return any(not np.allclose(self.frames[p].normal, base[p].normal, atol=1e-6) for p in Plane)

    # Display ----------------------------------------------------------------------------
    def set_window(self, center: float, width: float) -> None:
        """Window/level in the volume's units; width is kept >= ``min_width`` (1 for integer data)."""
        w = WindowPreset(float(center), max(self.min_width, float(width)), self.window.name)
        if (w.center, w.width) == (self.window.center, self.window.width):
            return
        self.window = w
        self.window_changed.emit(w.center, w.width)

    def set_slab(self, slab: Slab) -> None:
        """Thick-slab thickness and mode, shared by all views (none for a stack: its gaps are unknown)."""
        if self.stack_only and slab.thickness_mm > 0:
            return
        if slab != self.slab:
            self.slab = slab
            self.slab_changed.emit(slab)

    def set_camera(self, plane: Plane, camera: Camera) -> None:
        """Zoom and pan of one view."""
        if camera != self.cameras[plane]:
            self.cameras[plane] = camera
            self.camera_changed.emit(plane)

    def zoom_by(self, plane: Plane, factor: float) -> None:
        """Multiply the zoom of ``plane`` by ``factor`` (clamped to the allowed range)."""
        cam = self.cameras[plane]
        self.set_camera(plane, replace(cam, zoom=float(np.clip(cam.zoom * factor, 0.05, 100.0))))

    def pan_by(self, plane: Plane, right_mm: float, up_mm: float) -> None:
        """Move the view's centre by (right_mm, up_mm) in its own plane."""
        cam = self.cameras[plane]
        self.set_camera(plane, replace(cam, pan=(cam.pan[0] + right_mm, cam.pan[1] + up_mm)))

    def centre_on_cursor(self) -> None:
        """Pan every view so the cursor sits in its middle (zoom kept): going to a finding shows it."""
        for p in Plane:
            centre, _, _ = self.extent(p)
            f = self.frames[p]
            d = self.cursor - centre
            self.set_camera(p, replace(self.cameras[p], pan=(float(d @ np.asarray(f.right)),
                                                             float(d @ np.asarray(f.up)))))

    def reset_cameras(self) -> None:
        """Zoom 1 and no pan in every view."""
        for p in Plane:
            self.set_camera(p, Camera())

    def extent(self, plane: Plane) -> tuple[Vec, float, float]:
        """Centre (LPS, on the plane through the cursor) and width/height in mm of the volume seen in ``plane``."""
        f = self.frames[plane]
        r, u, n = np.asarray(f.right), np.asarray(f.up), f.normal
        pr, pu = self._corners @ r, self._corners @ u
        s = self.volume.spacing
        pad = max(s)  # voxel centres to voxel edges, roughly
        centre = (pr.max() + pr.min()) / 2 * r + (pu.max() + pu.min()) / 2 * u + float(self.cursor @ n) * n
        return centre, float(pr.max() - pr.min()) + pad, float(pu.max() - pu.min()) + pad


def _min_width(volume: Volume) -> float:
    """Narrowest useful window: 1 for integer data (HU), a ten-thousandth of the range for floats (SUV, FA)."""
    if np.issubdtype(volume.array.dtype, np.integer):
        return 1.0
    values = sample_values(volume.array)
    span = float(values.max() - values.min()) if values.size else 1.0
    return max(span * 1e-4, 1e-6)


@dataclass(frozen=True)
class Viewport:
    """Maps a view's pixels (x right, y down, logical px) to LPS on its plane and back."""

    centre: tuple[float, float, float]
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    width_px: int
    height_px: int
    mm_per_px: float

    @staticmethod
    def of(state: MprState, plane: Plane, width_px: int, height_px: int) -> Viewport:
        """The viewport of ``plane`` in a widget of the given size: fit at zoom 1, then zoom and pan."""
        w, h = max(1, width_px), max(1, height_px)
        centre, ew, eh = state.extent(plane)
        cam, f = state.cameras[plane], state.frames[plane]
        mm = max(ew / w, eh / h) / cam.zoom
        c = centre + cam.pan[0] * np.asarray(f.right) + cam.pan[1] * np.asarray(f.up)
        return Viewport(_tuple(c), f.right, f.up, w, h, float(mm))

    def to_lps(self, x: float, y: float) -> Vec:
        """LPS point under pixel (x, y)."""
        dx, dy = (x - self.width_px / 2) * self.mm_per_px, (self.height_px / 2 - y) * self.mm_per_px
        return np.asarray(self.centre) + dx * np.asarray(self.right) + dy * np.asarray(self.up)

    def to_px(self, point: ArrayLike) -> tuple[float, float]:
        """Pixel (x, y) where the LPS ``point`` projects onto this view."""
        d = np.asarray(point, float) - np.asarray(self.centre)
        x = float(d @ np.asarray(self.right)) / self.mm_per_px + self.width_px / 2
        y = self.height_px / 2 - float(d @ np.asarray(self.up)) / self.mm_per_px
        return x, y


def _tuple(v: ArrayLike) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    return float(a[0]), float(a[1]), float(a[2])
