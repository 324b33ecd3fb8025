"""Text and JSON forms of scans and volumes for the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viewer.core.geometry import orientation_letters
from viewer.core.problems import Problem
from viewer.core.volume import Volume
from viewer.io.series import SeriesCandidate
from viewer.io.study import StudyScan

if TYPE_CHECKING:
    from viewer.inference.manifest import ModelManifest
    from viewer.inference.runner import InferenceResult


def _series_dict(n: int, s: SeriesCandidate) -> dict[str, Any]:
    return {
        "row": n, "key": s.key, "series_uid": s.meta.series_uid, "patient_id": s.meta.patient_id,
        "patient_name": s.meta.patient_name, "study_date": s.meta.study_date,
        "modality": s.meta.modality, "description": s.description, "mode": s.mode.value,
        "shape": list(s.shape), "spacing_mm": [round(v, 4) for v in s.spacing],
        "images": len(s.frames) or 1, "problems": [p.to_dict() for p in s.problems],
    }


def scan_to_dict(study: StudyScan) -> dict[str, Any]:
    """JSON-ready description of a scanned folder."""
    return {
        "root": study.root, "files": study.files_seen, "ok": study.ok,
        "series": [_series_dict(n, s) for n, s in enumerate(study.series, 1)],
        "file_problems": [p.to_dict() for p in study.file_problems],
    }


def _problem_line(p: Problem) -> str:
    where = f" [{p.path}]" if p.path else ""
    return f"    {p.severity.value:7s} {p.code.value}: {p.message}{where}"


def scan_table(study: StudyScan) -> str:
    """Human-readable series table, then the problems."""
    lines = [f"{study.root}: {study.files_seen} files, {len(study.series)} series", ""]
    lines.append(f"{'#':>3}  {'mod':4} {'images':>6}  {'size':>13}  {'spacing mm (x y z)':>20}  "
                 f"{'load':12} description")
    for n, s in enumerate(study.series, 1):
        k, j, i = s.shape
        sp = " ".join(f"{v:.2f}" for v in s.spacing)
        lines.append(f"{n:>3}  {s.meta.modality:4} {len(s.frames) or 1:>6}  {f'{i}x{j}x{k}':>13}  "
                     f"{sp:>20}  {s.mode.value:12} {s.description}")
        lines.extend(_problem_line(p) for p in s.problems)
    if study.file_problems:
        lines += ["", f"Files not used ({len(study.file_problems)}):"]
        lines.extend(_problem_line(p) for p in study.file_problems)
    return "\n".join(lines)


def volume_to_dict(volume: Volume, candidate: SeriesCandidate) -> dict[str, Any]:
    """JSON-ready geometry of a loaded volume."""
    d = volume.direction
    return {
        "key": candidate.key, "description": candidate.description,
        "patient_id": volume.meta.patient_id, "modality": volume.meta.modality,
        "shape_kji": list(volume.shape), "dtype": str(volume.array.dtype),
        "spacing_mm_ijk": [round(v, 6) for v in volume.spacing],
        "origin_lps_mm": [round(float(v), 4) for v in volume.origin],
        "direction_columns_ijk": np.round(d, 6).T.tolist(),
        "axis_letters_ijk": [orientation_letters(d[:, n]) for n in range(3)],
        "affine": np.round(volume.affine, 6).tolist(), "resampled": volume.resampled,
        "mode": candidate.mode.value,
        "value_range": [float(volume.array.min()), float(volume.array.max())],
        "units": volume.meta.units, "problems": [p.to_dict() for p in volume.problems],
    }


def volume_table(volume: Volume, candidate: SeriesCandidate) -> str:
    """Human-readable geometry of a loaded volume."""
    info = volume_to_dict(volume, candidate)
    k, j, i = volume.shape
    letters = info["axis_letters_ijk"]
    lines = [
        f"{candidate.description}  ({volume.meta.modality}, patient {volume.meta.patient_id or '?'})",
        f"  size        {i} x {j} x {k} (columns x rows x slices), {volume.array.dtype}",
        f"  spacing     {' x '.join(f'{v:.4g}' for v in volume.spacing)} mm",
        f"  origin      {', '.join(f'{v:.2f}' for v in volume.origin)} mm (LPS)",
        f"  axes        columns -> {letters[0]}, rows -> {letters[1]}, slices -> {letters[2]}",
        f"  values      {info['value_range'][0]:g} .. {info['value_range'][1]:g} {volume.meta.units}",
        f"  load        {candidate.mode.value}{' (RESAMPLED)' if volume.resampled else ''}",
    ]
    lines.extend(_problem_line(p) for p in volume.problems)
    return "\n".join(lines)


def findings_to_dict(result: InferenceResult, manifest: ModelManifest) -> dict[str, Any]:
    """JSON-ready findings of an inference run."""
    return {
        "model": {"id": manifest.id, "version": manifest.version, "weights_sha256": manifest.weights_sha256,
                  "trained_on": manifest.training_data, "intended_use": manifest.intended_use},
        "device": result.device, "timings_s": result.timings_s, "notes": list(result.notes),
        "findings": [{
            "uid": f.uid, "kind": f.kind, "status": f.status.value, "score": f.provenance.score,
            "volume_ml": round(f.measurements.volume_ml, 3),
            "long_axis_mm": round(f.measurements.long_axis_mm, 2),
            "short_axis_mm": round(f.measurements.short_axis_mm, 2),
            "max_diameter_mm": round(f.measurements.max_diameter_mm, 2),
            "long_axis_lps_mm": f.measurements.long_axis_lps, "short_axis_lps_mm": f.measurements.short_axis_lps,
            "bbox_lps_mm": f.measurements.bbox_lps_mm,
            "bbox_index_kji": [list(v) for v in f.region.bbox],
            "mean": round(f.measurements.mean, 1), "sd": round(f.measurements.sd, 1),
        } for f in result.findings],
    }


def findings_table(result: InferenceResult, manifest: ModelManifest) -> str:
    """Human-readable findings of an inference run."""
    lines = [f"{manifest.name} {manifest.version} on {result.device}: {len(result.findings)} finding(s)",
             f"  trained on: {manifest.training_data}",
             "  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings_s.items())]
    lines.extend(f"  note: {n}" for n in result.notes)
    for n, f in enumerate(result.findings, 1):
        m = f.measurements
        centre = [(a + b) / 2 for a, b in zip(*m.bbox_lps_mm)]
        lines.append(f"{n:>3}  {f.kind}  long {m.long_axis_mm:.1f} mm  short {m.short_axis_mm:.1f} mm  "
                     f"volume {m.volume_ml:.2f} mL  score {f.provenance.score}  "
                     f"at ({centre[0]:.0f}, {centre[1]:.0f}, {centre[2]:.0f}) mm LPS")
    return "\n".join(lines)
