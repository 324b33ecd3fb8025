"""Group scanned image planes into series and stacks, sort them by geometry and check it.

Nothing here trusts file order, file names, instance numbers or SliceThickness: slices are ordered by
their position along the slice normal and spacing is measured from positions. Every departure from
a regular grid is reported by name with its numbers, and decides how the stack can be loaded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from viewer.core import geometry
from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.core.resample import RegularGrid, plan_regular_grid
from viewer.core.volume import SeriesMeta, WindowPreset
from viewer.io.headers import FileInfo, Frame
from viewer.io.scan import ScanResult

DUPLICATE_TOL_MM = 0.01  # positions closer than this along the normal are the same slice
SPACING_REL_TOL = 0.01  # a step more than 1 % off the median step is irregular ...
SPACING_ABS_TOL_MM = 0.02  # ... and more than this, so that rounding in IPP strings is tolerated
GAP_FACTOR = 1.5  # a step this many times the median is a gap of missing slices
TILT_TOL_DEG = 0.05  # slice origins drifting off the normal by more than this: a tilted stack
ORIENTATION_TOL = 1e-3  # direction cosines closer than this belong to the same stack
MAX_INTERPOLATED_GAP = 3  # more missing slices than this in one gap would be invented anatomy: 2-D


class LoadMode(str, Enum):
    """How a stack can be opened."""

    VOLUME = "3d"  # acquired slices form a regular grid
    RESAMPLED = "3d-resampled"  # interpolated onto a regular grid; see the RESAMPLED problem
    PLANES = "2d"  # images only, no 3-D geometry (single slice or no position data)


@dataclass
class SeriesCandidate:
    """One loadable stack: its planes in order, its grid and what is wrong with it."""

    key: str
    meta: SeriesMeta
    frames: list[Frame]
    mode: LoadMode
    affine: NDArray[np.float64]
    problems: list[Problem] = field(default_factory=list)
    grid: RegularGrid | None = None  # set when mode is RESAMPLED
    nifti_path: str | None = None
    nifti_shape: tuple[int, int, int] | None = None
    is_localizer: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns) of the volume it loads to."""
        if self.nifti_shape is not None:
            return self.nifti_shape
        px = self.frames[0].file.pixels
        k = self.grid.n_slices if self.grid is not None else len(self.frames)
        return k, px.rows, px.columns

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size (i, j, k) in mm of the loaded volume."""
        return geometry.spacing_of(self.affine)

    @property
    def description(self) -> str:
        """Short human label: series number, description, localizer note."""
        number = f"{self.meta.series_number}: " if self.meta.series_number is not None else ""
        text = self.meta.series_description or "(no description)"
        return number + text + (" [localizer]" if self.is_localizer else "")


def _meta(info: FileInfo, frames: list[Frame], source: str) -> SeriesMeta:
    windows = {f.window for f in frames if f.window is not None}
    presets = tuple(WindowPreset(c, w, "from file") for c, w in sorted(windows)[:4])
    return SeriesMeta(
        patient_name=info.patient_name.replace("^", " ").strip(),
        patient_id=info.patient_id,
        patient_birth_date=info.patient_birth_date,
        patient_sex=info.patient_sex,
        study_uid=info.study_uid,
        study_date=info.study_date,
        study_description=info.study_description,
        accession_number=info.accession_number,
        series_uid=info.series_uid,
        series_number=info.series_number,
        series_description=info.series_description,
        modality=info.modality,
        frame_of_reference_uid=info.frame_of_reference_uid,
        units="HU" if info.modality == "CT" else "",
        windows=presets,
        source=source,
    )


def _split(frames: list[Frame], key_of: object) -> dict[object, list[Frame]]:
    groups: dict[object, list[Frame]] = defaultdict(list)
    for f in frames:
        groups[key_of(f)].append(f)  # type: ignore[operator]
    return dict(groups)


def _dedupe(frames: list[Frame], problems: list[Problem]) -> list[Frame]:
    """Drop second copies of the same image (same SOP Instance UID and frame)."""
    seen: dict[tuple[str, int], Frame] = {}
    for f in frames:
        key = (f.file.sop_instance_uid or f.file.path, f.index)
        if key in seen:
            problems.append(Problem(
                ProblemCode.DUPLICATE_INSTANCE, Severity.INFO,
                f"same image as {seen[key].file.path}; read once", f.file.path))
            continue
        seen[key] = f
    return list(seen.values())


def build_series(scan: ScanResult) -> list[SeriesCandidate]:
    """Turn a folder scan into loadable stacks; file problems stay in ``scan.problems``."""
    frames = _dedupe(scan.frames, scan.problems)
    out: list[SeriesCandidate] = []
    by_series = _split(frames, lambda f: f.file.series_uid or f"folder:{f.file.path.rsplit('/', 1)[0]}")
    for uid, series_frames in by_series.items():
        out.extend(_series_stacks(str(uid), series_frames, scan.root))
    from viewer.io.nifti import nifti_candidate

    for path in scan.nifti_files:
        candidate = nifti_candidate(path, scan.problems)
        if candidate is not None:
            out.append(candidate)
    out.sort(key=lambda c: (c.meta.patient_id, c.meta.study_date, c.meta.study_uid,
                            c.meta.series_number if c.meta.series_number is not None else 1 << 30, c.key))
    return out


def _series_stacks(uid: str, frames: list[Frame], root: str) -> list[SeriesCandidate]:
    problems: list[Problem] = []
    parts = _split_by(frames, lambda f: f.file.patient_id, ProblemCode.MIXED_PATIENTS,
                      Severity.ERROR, "different patients in one series; split by patient", problems)
    parts = [p for part in parts for p in _split_by(
        part, lambda f: f.file.frame_of_reference_uid, ProblemCode.MIXED_FRAME_OF_REFERENCE,
        Severity.WARNING, "different frames of reference in one series; split", problems)]
    out: list[SeriesCandidate] = []
    for part in parts:
        localizers = [f for f in part if "LOCALIZER" in f.file.image_type]
        images = [f for f in part if "LOCALIZER" not in f.file.image_type]
        if localizers and images:
            problems.append(Problem(ProblemCode.LOCALIZER_SPLIT, Severity.INFO,
                                    f"{len(localizers)} localizer image(s) set apart from the series",
                                    None, {"localizers": len(localizers)}))
        out.extend(_analyse_stack(uid, stack, root) for stack in _geometry_stacks(images, problems))
        if localizers:
            scout = _planes(uid, localizers, root, [], ProblemCode.LOADED_2D,
                            "localizer images: shown as 2-D images", Severity.INFO)
            scout.is_localizer = True
            out.append(scout)
    for n, candidate in enumerate(out):
        candidate.key = uid if len(out) == 1 else f"{uid}#{n + 1}"
        candidate.problems[:0] = problems
    return out


def _split_by(frames: list[Frame], key_of: object, code: ProblemCode, severity: Severity,
              message: str, problems: list[Problem]) -> list[list[Frame]]:
    groups = _split(frames, key_of)
    if len(groups) > 1:
        problems.append(Problem(code, severity, message, None, {"groups": len(groups)}))
    return list(groups.values())


def _same_direction(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.max(np.abs(np.subtract(a, b))) < ORIENTATION_TOL)


def _geometry_key(f: Frame) -> tuple[object, ...]:
    px = f.file.pixels
    spacing = tuple(round(s, 3) for s in f.pixel_spacing) if f.pixel_spacing else None
    return px.rows, px.columns, spacing


def _geometry_stacks(frames: list[Frame], problems: list[Problem]) -> list[list[Frame]]:
    """Split by orientation, then by image size and pixel spacing; report each kind of split."""
    by_orientation: list[list[Frame]] = []
    for f in frames:
        home = next((g for g in by_orientation if _same_direction(g[0].orientation, f.orientation)), None)
        if home is None:
            by_orientation.append([f])
        else:
            home.append(f)
    if len(by_orientation) > 1:
        problems.append(Problem(ProblemCode.MIXED_ORIENTATION, Severity.WARNING,
                                f"images in {len(by_orientation)} different orientations; split into stacks",
                                None, {"orientations": len(by_orientation)}))
    sized = [g for group in by_orientation for g in _split(group, _geometry_key).values()]
    if len(sized) > len(by_orientation):
        problems.append(Problem(ProblemCode.MIXED_SIZE, Severity.WARNING,
                                "images of different sizes or pixel spacings; split into stacks",
                                None, {"stacks": len(sized)}))
    return sized


def _analyse_stack(key: str, frames: list[Frame], root: str) -> SeriesCandidate:
    first = frames[0]
    problems: list[Problem] = []
    if any(f.position is None or f.orientation is None or f.pixel_spacing is None for f in frames):
        return _planes(key, frames, root, problems, ProblemCode.MISSING_GEOMETRY,
                       "images lack position, orientation or pixel spacing; shown as 2-D images only")
    normal = geometry.slice_normal(first.orientation)  # type: ignore[arg-type]
    frames = sorted(frames, key=lambda f: (float(np.dot(f.position, normal)),  # type: ignore[arg-type]
                                           f.file.instance_number or 0, f.index))
    frames = _drop_duplicate_positions(frames, normal, problems)
    if len(frames) == 1:
        return _planes(key, frames, root, problems, ProblemCode.SINGLE_SLICE,
                       "a single image; no 3-D views", Severity.INFO)
    origins = np.array([f.position for f in frames], dtype=np.float64)
    dist = (origins - origins[0]) @ normal
    steps = np.diff(dist)
    median = float(np.median(steps))
    irregular = _check_steps(steps, dist, median, problems)
    tilt = geometry.angle_deg(origins[-1] - origins[0], normal)
    if tilt > TILT_TOL_DEG:
        problems.append(Problem(ProblemCode.GANTRY_TILT, Severity.WARNING,
                                f"slices are tilted {tilt:.2f} degrees from the slice normal (gantry tilt)",
                                None, {"angle_deg": round(tilt, 3),
                                       "header_tilt_deg": first.file.gantry_tilt or 0.0}))
    iop, ps = first.orientation, first.pixel_spacing
    assert iop is not None and ps is not None
    meta = _meta(first.file, frames, root)
    if np.any(steps > (MAX_INTERPOLATED_GAP + 1.5) * median):
        return _planes(key, frames, root, problems, ProblemCode.LOADED_2D,
                       f"a gap of more than {MAX_INTERPOLATED_GAP} missing slices cannot be "
                       "interpolated; shown as 2-D images only")
    if not irregular and tilt <= TILT_TOL_DEG:
        step_vec = (origins[-1] - origins[0]) / (len(frames) - 1)
        affine = geometry.affine_from_dicom(iop, origins[0], ps, step_vec)
        return SeriesCandidate(key, meta, frames, LoadMode.VOLUME, affine, problems)
    grid = plan_regular_grid(origins, iop, ps, median)
    problems.append(Problem(ProblemCode.RESAMPLED, Severity.WARNING,
                            f"resampled onto a regular {median:.2f} mm grid ({grid.n_slices} slices "
                            f"from {len(frames)} acquired); measurements use the resampled grid",
                            None, {"step_mm": round(median, 4), "slices": grid.n_slices,
                                   "acquired": len(frames)}))
    return SeriesCandidate(key, meta, frames, LoadMode.RESAMPLED, grid.affine, problems, grid)


def _drop_duplicate_positions(frames: list[Frame], normal: NDArray[np.float64],
                              problems: list[Problem]) -> list[Frame]:
    kept: list[Frame] = []
    dropped: list[Frame] = []
    last = None
    for f in frames:
        d = float(np.dot(f.position, normal))  # type: ignore[arg-type]
        if last is not None and abs(d - last) < DUPLICATE_TOL_MM:
            dropped.append(f)
            continue
        kept.append(f)
        last = d
    if dropped:
        problems.append(Problem(ProblemCode.DUPLICATE_POSITIONS, Severity.WARNING,
                                f"{len(dropped)} image(s) share a position with another; "
                                "kept the one with the lowest instance number",
                                dropped[0].file.path, {"dropped": len(dropped)}))
    return kept


def _check_steps(steps: NDArray[np.float64], dist: NDArray[np.float64], median: float,
                 problems: list[Problem]) -> bool:
    """Report gaps and uneven steps; True if the stack is not a regular grid."""
    gaps = steps > GAP_FACTOR * median
    if gaps.any():
        missing = int(sum(max(1, round(s / median) - 1) for s in steps[gaps]))
        where = float(dist[int(np.argmax(gaps))])
        problems.append(Problem(ProblemCode.MISSING_SLICES, Severity.WARNING,
                                f"about {missing} slice(s) missing ({int(gaps.sum())} gap(s), the first "
                                f"{where:.1f} mm from the first slice)",
                                None, {"missing": missing, "gaps": int(gaps.sum()),
                                       "largest_gap_mm": round(float(steps.max()), 3)}))
    tol = max(SPACING_ABS_TOL_MM, SPACING_REL_TOL * median)
    uneven = ~gaps & (np.abs(steps - median) > tol)
    if uneven.any():
        regular = steps[~gaps]
        problems.append(Problem(ProblemCode.NONUNIFORM_SPACING, Severity.WARNING,
                                f"slice spacing varies from {regular.min():.2f} to {regular.max():.2f} mm",
                                None, {"min_mm": round(float(regular.min()), 4),
                                       "max_mm": round(float(regular.max()), 4),
                                       "median_mm": round(median, 4)}))
    return bool(gaps.any() or uneven.any())


def _planes(key: str, frames: list[Frame], root: str, problems: list[Problem], code: ProblemCode,
            message: str, severity: Severity = Severity.WARNING) -> SeriesCandidate:
    """A stack shown as separate images with a nominal 1 mm slice step.

    Stacks with positions keep their geometric order; others follow instance numbers.
    """
    if any(f.position is None or f.orientation is None for f in frames):
        frames = sorted(frames, key=lambda f: (f.file.instance_number or 0, f.index, f.file.path))
    else:
        normal = geometry.slice_normal(frames[0].orientation)  # type: ignore[arg-type]
        frames = sorted(frames, key=lambda f: float(np.dot(f.position, normal)))  # type: ignore[arg-type]
    problems.append(Problem(code, severity, message, None, {"images": len(frames)}))
    first = frames[0]
    iop = first.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    ps = first.pixel_spacing or (1.0, 1.0)
    origin = first.position or (0.0, 0.0, 0.0)
    affine = geometry.affine_from_dicom(iop, origin, ps, geometry.slice_normal(iop))
    return SeriesCandidate(key, _meta(first.file, frames, root), frames, LoadMode.PLANES, affine, problems)
