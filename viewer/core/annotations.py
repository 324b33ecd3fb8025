"""Manual measurements drawn on a view: rulers and ellipse ROIs, immutable data in patient LPS mm.

Every point and vector is in patient LPS millimetres, never in voxels, so a measurement keeps its
meaning on any view plane (axial, coronal, sagittal or oblique) and at any voxel spacing. Each
annotation has a UID minted once (:func:`viewer.core.findings.new_uid`) that survives edits, so a
later finding can take it over. :class:`AnnotationList` holds them and emits psygnal signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from psygnal import Signal

from viewer.core.findings import new_uid
from viewer.core.volume import Volume

Vec3 = tuple[float, float, float]
FloatArray = NDArray[np.float64]

_PERPENDICULAR_TOL = 1e-4  # |cos| between the semi-axes of an ellipse
_SLICE_TOL_VOXELS = 0.01  # how far (in voxels) an ellipse may leave a slice to count as on it


def _vec3(value: object, name: str, *, nonzero: bool = False) -> Vec3:
    """``value`` as a tuple of 3 finite floats; ValueError naming ``name`` otherwise."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 3 finite numbers (LPS mm); got {value!r}") from None
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be 3 finite numbers (LPS mm); got {value!r}")
    if nonzero and float(np.linalg.norm(a)) < 1e-9:
        raise ValueError(f"{name} must be a non-zero vector; got {a.tolist()}")
    return float(a[0]), float(a[1]), float(a[2])


def _check_uid(uid: object) -> None:
    if not isinstance(uid, str) or not uid or len(uid) > 64 or not uid.replace(".", "").isdigit():
        raise ValueError(f"uid must be a DICOM UID (digits and dots, at most 64); got {uid!r}")


def _plane(origin: ArrayLike, normal: ArrayLike) -> tuple[FloatArray, FloatArray]:
    o = np.asarray(_vec3(origin, "plane_origin"))
    n = np.asarray(_vec3(normal, "plane_normal", nonzero=True))
    return o, n / np.linalg.norm(n)


@dataclass(frozen=True)
class Ruler:
    """A straight line between two LPS points; its length is in millimetres.

    Parameters
    ----------
    a, b
        End points in patient LPS mm. They may coincide (a ruler just started by a click).
    uid
        Identity kept across edits; a new DICOM UID by default.
    """

    a: Vec3
    b: Vec3
    uid: str = field(default_factory=new_uid, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _vec3(self.a, "a"))
        object.__setattr__(self, "b", _vec3(self.b, "b"))
        _check_uid(self.uid)

    @property
    def length_mm(self) -> float:
        """Euclidean distance between the end points in mm."""
        return math.dist(self.a, self.b)

    @property
    def label(self) -> str:
        """Text shown beside the ruler, e.g. ``"23.4 mm"``."""
        return f"{self.length_mm:.1f} mm"

    def moved(self, end: int, point: ArrayLike) -> Ruler:
        """A copy (same uid) with end point ``end`` (0 = a, 1 = b) moved to ``point``."""
        if end not in (0, 1):
            raise ValueError(f"end must be 0 (a) or 1 (b); got {end!r}")
        p = _vec3(point, "point")
        return replace(self, a=p) if end == 0 else replace(self, b=p)

    def max_distance_mm(self, plane_origin: ArrayLike, plane_normal: ArrayLike) -> float:
        """Largest distance in mm of the ruler from a plane (0 when it lies on it)."""
        o, n = _plane(plane_origin, plane_normal)
        return float(max(abs((np.asarray(p) - o) @ n) for p in (self.a, self.b)))


@dataclass(frozen=True)
class EllipseRoi:
    """An ellipse on a view plane: ``center + cos(t) u + sin(t) v``, in LPS mm.

    Parameters
    ----------
    center
        Centre in patient LPS mm.
    u, v
        The two semi-axes (LPS vectors, mm), non-zero and perpendicular; they span the view plane.
    uid
        Identity kept across edits; a new DICOM UID by default.
    """

    center: Vec3
    u: Vec3
    v: Vec3
    uid: str = field(default_factory=new_uid, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", _vec3(self.center, "center"))
        u = _vec3(self.u, "u", nonzero=True)
        v = _vec3(self.v, "v", nonzero=True)
        cos = abs(float(np.dot(u, v))) / (math.hypot(*u) * math.hypot(*v))
        if cos > _PERPENDICULAR_TOL:
            raise ValueError(f"v must be perpendicular to u; got u={list(u)}, v={list(v)} "
                             f"(cos {cos:.2e})")
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "v", v)
        _check_uid(self.uid)

    @classmethod
    def from_corners(cls, p0: ArrayLike, p1: ArrayLike, right: ArrayLike, up: ArrayLike,
                     *, uid: str | None = None) -> EllipseRoi:
        """The ellipse inscribed in the screen rectangle dragged from ``p0`` to ``p1``.

        ``right`` and ``up`` are the view's in-plane directions (normalised here, must be
        perpendicular); the semi-axes run along them, so ``normal = right x up``.
        """
        r = np.asarray(_vec3(right, "right", nonzero=True))
        w = np.asarray(_vec3(up, "up", nonzero=True))
        r, w = r / np.linalg.norm(r), w / np.linalg.norm(w)
        if abs(float(r @ w)) > _PERPENDICULAR_TOL:
            raise ValueError(f"up must be perpendicular to right; got right={r.tolist()}, "
                             f"up={w.tolist()}")
        a, b = np.asarray(_vec3(p0, "p0")), np.asarray(_vec3(p1, "p1"))
        d = b - a
        half_w, half_h = abs(float(d @ r)) / 2, abs(float(d @ w)) / 2
        if min(half_w, half_h) < 1e-6:
            raise ValueError(f"p0 and p1 must span a rectangle along right and up; got "
                             f"p0={a.tolist()}, p1={b.tolist()}")
        center = a + (d @ r) / 2 * r + (d @ w) / 2 * w  # midpoint, kept on p0's plane
        roi = cls(center=_vec3(center, "center"), u=_vec3(half_w * r, "u"),
                  v=_vec3(half_h * w, "v"))
        return roi if uid is None else replace(roi, uid=uid)

    @property
    def semi_axes_mm(self) -> tuple[float, float]:
        """Lengths |u| and |v| in mm."""
        return math.hypot(*self.u), math.hypot(*self.v)

    @property
    def area_mm2(self) -> float:
        """Geometric area pi |u| |v| in mm^2."""
        a, b = self.semi_axes_mm
        return math.pi * a * b

    @property
    def normal(self) -> FloatArray:
        """Unit normal of the ellipse's plane, u x v."""
        n = np.cross(self.u, self.v)
        return np.asarray(n / np.linalg.norm(n), dtype=np.float64)

    @property
    def label(self) -> str:
        """Short text, e.g. ``"area 314.2 mm²"``."""
        return f"area {self.area_mm2:.1f} mm²"

    def plane_coords(self, points: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(s, t, h) of LPS points (..., 3): ``p = center + s u + t v + h normal`` (h in mm)."""
        d = np.asarray(points, dtype=np.float64) - np.asarray(self.center)
        u, v = np.asarray(self.u), np.asarray(self.v)
        return d @ u / (u @ u), d @ v / (v @ v), d @ self.normal

    def contains(self, points: ArrayLike, tolerance_mm: float | None = None) -> NDArray[np.bool_]:
        """Whether points (..., 3) lie inside the ellipse (rim included).

        Points are projected onto the ellipse's plane; with ``tolerance_mm`` those farther than
        that from the plane are outside.
        """
        s, t, h = self.plane_coords(points)
        inside = s * s + t * t <= 1.0 + 1e-12
        if tolerance_mm is not None:
            inside &= np.abs(h) <= tolerance_mm
        return np.asarray(inside, dtype=np.bool_)

    def max_distance_mm(self, plane_origin: ArrayLike, plane_normal: ArrayLike) -> float:
        """Largest distance in mm of any point of the ellipse from a plane."""
        o, n = _plane(plane_origin, plane_normal)
        tilt = math.hypot(float(np.asarray(self.u) @ n), float(np.asarray(self.v) @ n))
        return abs(float((np.asarray(self.center) - o) @ n)) + tilt


Annotation = Ruler | EllipseRoi


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the voxels inside an ROI (units of the volume, HU for CT).

    ``area_mm2`` is the area actually measured (inside the volume), not the geometric one;
    ``sd`` is the population standard deviation. With no voxel inside, the values are NaN.
    """

    mean: float
    sd: float
    min: float
    max: float
    n_voxels: int
    area_mm2: float

    def label(self, units: str = "HU") -> str:
        """Text such as ``"mean 45.0 HU, SD 3.1, min 38, max 52, 314 mm²"``."""
        if self.n_voxels == 0:
            return "no voxels"
        return (f"mean {self.mean:.1f} {units}, SD {self.sd:.1f}, min {self.min:.0f}, "
                f"max {self.max:.0f}, {self.area_mm2:.0f} mm²")


def _stats(values: FloatArray, n_voxels: int, area: float) -> RoiStats:
    if values.size == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0, 0.0)
    return RoiStats(float(values.mean()), float(values.std()), float(values.min()),
                    float(values.max()), n_voxels, area)


def roi_stats(volume: Volume, roi: EllipseRoi) -> RoiStats:
    """Mean, SD, min, max, voxel count and area of ``volume`` inside ``roi`` on its plane.

    If the ROI's plane is parallel to a slice of the volume (within 0.01 voxel over the whole
    ellipse), the statistics are over exactly the voxels of the nearest such slice whose centres,
    projected onto the plane, lie inside the ellipse. Otherwise (oblique plane) the plane is
    sampled on a square, cell-centred grid with a step of half the smallest voxel spacing, each
    sample taking the value of its nearest voxel; samples outside the volume are dropped.
    Nearest voxel rather than trilinear: the values are real measured voxel values (min and max
    are voxels, a uniform region stays exactly uniform, no partial-volume blur is added at a
    lesion's edge), as on a parallel plane. The oblique statistics are area-weighted over
    samples; ``n_voxels`` counts the distinct voxels sampled.
    Only the ellipse's bounding box is read.
    """
    axis = _slice_axis(volume, roi)
    if axis is not None:
        return _on_slice(volume, roi, axis)
    return _oblique(volume, roi)


def _slice_axis(volume: Volume, roi: EllipseRoi) -> int | None:
    """Index axis (0 = i, 1 = j, 2 = k) that stays constant over the ellipse, if any."""
    inv = np.linalg.inv(volume.affine[:3, :3])
    drift = np.abs(inv @ np.asarray(roi.u)) + np.abs(inv @ np.asarray(roi.v))
    axis = int(np.argmin(drift))
    return axis if drift[axis] <= _SLICE_TOL_VOXELS else None


def _on_slice(volume: Volume, roi: EllipseRoi, axis: int) -> RoiStats:
    inv = np.linalg.inv(volume.affine[:3, :3])
    c = volume.lps_to_index(roi.center)
    half = np.hypot(inv @ np.asarray(roi.u), inv @ np.asarray(roi.v))  # bbox half-size, voxels
    c[axis], half[axis] = math.floor(c[axis] + 0.5), 0.0  # the nearest slice
    lo = np.maximum(np.ceil(c - half - 1e-9), 0).astype(np.intp)
    hi = np.minimum(np.floor(c + half + 1e-9), np.array(volume.shape[::-1]) - 1).astype(np.intp)
    if np.any(lo > hi):
        return _stats(np.empty(0), 0, 0.0)
    box = volume.array[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
    ijk = np.indices(box.shape).reshape(3, -1).T[:, ::-1] + lo
    inside = roi.contains(volume.index_to_lps(ijk)).reshape(box.shape)
    values = np.asarray(box[inside], dtype=np.float64)
    a, b = (volume.affine[:3, ax] for ax in range(3) if ax != axis)
    pixel_area = float(np.linalg.norm(np.cross(a, b)))
    return _stats(values, int(values.size), values.size * pixel_area)


def _oblique(volume: Volume, roi: EllipseRoi) -> RoiStats:
    step = min(volume.spacing) / 2
    ra, rb = roi.semi_axes_mm
    # cell-centred grid (midpoint rule): symmetric about the centre, and no sample falls exactly
    # halfway between two voxels when the plane runs along a voxel axis
    s = (np.arange(-math.ceil(ra / step), math.ceil(ra / step)) + 0.5) * step
    t = (np.arange(-math.ceil(rb / step), math.ceil(rb / step)) + 0.5) * step
    ss, tt = np.meshgrid(s / ra, t / rb, indexing="ij")
    keep = ss * ss + tt * tt <= 1.0
    ss, tt = ss[keep], tt[keep]
    points = (np.asarray(roi.center) + ss[:, None] * np.asarray(roi.u)
              + tt[:, None] * np.asarray(roi.v))
    idx = np.floor(volume.lps_to_index(points) + 0.5).astype(np.intp)
    size = np.asarray(volume.shape[::-1])
    idx = idx[np.all((idx >= 0) & (idx < size), axis=1)]
    values = np.asarray(volume.array[idx[:, 2], idx[:, 1], idx[:, 0]], dtype=np.float64)
    flat = np.ravel_multi_index((idx[:, 2], idx[:, 1], idx[:, 0]), volume.shape)
    return _stats(values, int(np.unique(flat).size), values.size * step * step)


class AnnotationList:
    """The annotations of one study, in insertion order, keyed by uid.

    Signals ``added``, ``removed`` and ``changed`` each carry the annotation concerned (for
    ``changed``, the new version); each fires once per call that changes something.
    """

    added = Signal(object)
    removed = Signal(object)
    changed = Signal(object)

    def __init__(self) -> None:
        self._items: dict[str, Annotation] = {}

    @property
    def items(self) -> tuple[Annotation, ...]:
        """All annotations, in insertion order."""
        return tuple(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(self.items)

    def __contains__(self, uid: object) -> bool:
        return uid in self._items

    def get(self, uid: str) -> Annotation:
        """The annotation with ``uid``; KeyError when there is none."""
        try:
            return self._items[uid]
        except KeyError:
            raise KeyError(f"no annotation with uid {uid!r}") from None

    def add(self, annotation: Annotation) -> None:
        """Append ``annotation``; ValueError if its uid is already here."""
        if not isinstance(annotation, (Ruler, EllipseRoi)):
            raise TypeError(f"annotation must be a Ruler or EllipseRoi; got {annotation!r}")
        if annotation.uid in self._items:
            raise ValueError(f"annotation uid {annotation.uid!r} is already in the list")
        self._items[annotation.uid] = annotation
        self.added.emit(annotation)

    def remove(self, uid: str) -> Annotation:
        """Remove and return the annotation with ``uid``; KeyError when there is none."""
        annotation = self.get(uid)
        del self._items[uid]
        self.removed.emit(annotation)
        return annotation

    def replace(self, annotation: Annotation) -> None:
        """Put ``annotation`` in place of the one with the same uid (emits nothing if equal)."""
        old = self.get(annotation.uid)
        if type(old) is not type(annotation):
            raise ValueError(f"annotation must stay a {type(old).__name__}; "
                             f"got {type(annotation).__name__}")
        if old == annotation:
            return
        self._items[annotation.uid] = annotation
        self.changed.emit(annotation)

    def on_slice(self, plane_origin: ArrayLike, plane_normal: ArrayLike,
                 tolerance_mm: float) -> tuple[Annotation, ...]:
        """Annotations lying on a plane: every point of each within ``tolerance_mm`` of it.

        A view passes its plane and about half its slice spacing to show only its own.
        """
        if not tolerance_mm >= 0:
            raise ValueError(f"tolerance_mm must be >= 0; got {tolerance_mm}")
        _plane(plane_origin, plane_normal)  # validate once, even for an empty list
        return tuple(a for a in self._items.values()
                     if a.max_distance_mm(plane_origin, plane_normal) <= tolerance_mm)
