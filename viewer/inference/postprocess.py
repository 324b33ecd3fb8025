"""Lesion probability on the model grid -> proposed findings on the original volume's grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
from viewer.core.region_measure import measure_region
from viewer.core.volume import Volume
from viewer.inference.manifest import ModelManifest, OutputSpec
from viewer.inference.preprocess import resample_to


def _box_affine(affine: NDArray[np.float64], start_kji: NDArray[np.intp]) -> NDArray[np.float64]:
    moved = affine.copy()
    moved[:3, 3] = affine[:3, :3] @ start_kji[::-1].astype(float) + affine[:3, 3]
    return moved


def _volume_box(obj: tuple[slice, ...], grid_affine: NDArray[np.float64], volume: Volume,
                margin: int = 2) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Index box (start, stop) in ``volume`` that covers a model-grid box (k, j, i slices)."""
    lo = np.array([s.start - margin for s in obj], dtype=float)
    hi = np.array([s.stop + margin for s in obj], dtype=float)
    corners = np.array([[c[2], c[1], c[0]] for c in np.array(np.meshgrid(*zip(lo, hi))).T.reshape(-1, 3)])
    lps = corners @ grid_affine[:3, :3].T + grid_affine[:3, 3]
    idx = volume.lps_to_index(lps)[:, ::-1]  # (k, j, i)
    start = np.clip(np.floor(idx.min(axis=0)).astype(int) - 1, 0, None)
    stop = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, np.array(volume.shape))
    return start, stop


def organ_share(labels: NDArray[np.int32], n: int, obj: tuple[slice, ...],
                organs: NDArray[np.uint8]) -> tuple[int, float]:
    """The gating organ that covers most of a two-voxel shell around component ``n``, and its share
    of the shell ((0, 0.0) when no gating organ touches it)."""
    box = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in obj)
    component = labels[box] == n
    shell = ndimage.binary_dilation(component, iterations=2) & (labels[box] == 0)
    counts = np.bincount(organs[box][shell], minlength=2) if shell.any() else np.zeros(2, np.intp)
    counts[0] = 0
    organ = int(counts.argmax())
    return (organ, float(counts[organ]) / float(shell.sum())) if counts[organ] else (0, 0.0)


def seeded_components(prob: NDArray[np.float32], threshold: float, seed: float) -> NDArray[np.int32]:
    """Connected components of ``prob > threshold`` whose peak exceeds ``seed`` (hysteresis); the
    others are zeroed, so their labels are missing from the result."""
    labels, n = ndimage.label(prob > threshold)
    if seed > threshold and n:
        keep = np.zeros(n + 1, dtype=bool)
        keep[np.unique(labels[prob > seed])] = True
        keep[0] = False
        labels[~keep[labels]] = 0
    return np.asarray(labels, dtype=np.int32)


@dataclass(frozen=True)
class Candidate:
    """A lesion component before the size, organ and shape filters, with what they test."""

    finding: Finding
    peak: float  # highest lesion probability in the component
    volume_mm3: float  # on the volume's grid
    organ: int  # the gating organ around it (0: none, or the model does not gate)
    gate_fraction: float  # that organ's share of the shell around it (1.0 without a gate)

    @property
    def elongation(self) -> float:
        """Maximal 3-D diameter over the diameter of a sphere of the same volume (about 1 for a ball)."""
        sphere_mm = math.cbrt(6 * self.volume_mm3 / math.pi)
        return float(self.finding.measurements.max_diameter_mm) / max(1e-6, sphere_mm)

    def passes(self, spec: OutputSpec, gated: bool) -> bool:
        """Whether the operating point ``spec`` keeps it."""
        organ_ok = not gated or self.gate_fraction >= spec.gate_minimum(self.organ)
        shape_ok = spec.max_elongation is None or self.elongation <= spec.max_elongation
        return self.peak > spec.seed and self.volume_mm3 >= spec.min_volume_mm3 and organ_ok and shape_ok


def lesion_candidates(prob: NDArray[np.float32], grid_affine: NDArray[np.float64], volume: Volume,
                      manifest: ModelManifest, organs: NDArray[np.uint8] | None = None,
                      seed: float | None = None) -> list[Candidate]:
    """Every component of ``prob > threshold`` peaking above ``seed`` (default: the manifest's),
    unfiltered, so a calibration sweep can try many operating points on one pass."""
    spec = manifest.output
    kind = next(label.name for label in spec.labels if label.lesion)
    labels = seeded_components(prob, spec.threshold, spec.seed if seed is None else seed)
    out = []
    for n, obj in enumerate(ndimage.find_objects(labels), start=1):
        if obj is None:
            continue
        found = _finding(prob, obj, n, labels, grid_affine, volume, manifest, kind)
        if found is not None:
            organ, share = (0, 1.0) if organs is None else organ_share(labels, n, obj, organs)
            out.append(Candidate(found[0], float(prob[obj][labels[obj] == n].max()), found[1], organ, share))
    return out


def findings_from_probability(prob: NDArray[np.float32], grid_affine: NDArray[np.float64],
                              volume: Volume, manifest: ModelManifest,
                              organs: NDArray[np.uint8] | None = None) -> list[Finding]:
    """One proposed finding per connected component of ``prob > threshold`` that peaks above the
    seed threshold, is big enough, not too long for its volume and, for a gating model, lies in one
    of its organs (liver, lung):
    ``organs`` holds the gating organ of each voxel (label value, 0 for none)."""
    kept = [c.finding for c in lesion_candidates(prob, grid_affine, volume, manifest, organs)
            if c.passes(manifest.output, organs is not None)]
    return sorted(kept, key=lambda f: -f.measurements.volume_ml)


def _finding(prob: NDArray[np.float32], obj: tuple[slice, ...], n: int, labels: NDArray[np.int32],
             grid_affine: NDArray[np.float64], volume: Volume, manifest: ModelManifest,
             kind: str) -> tuple[Finding, float] | None:
    """The component as a finding on the volume's grid, and its volume in mm3 there."""
    spec = manifest.output
    component = labels[obj] == n
    score = float(prob[obj][component].max())  # the peak: what the seed threshold tests
    # Resample this component's probability (others zeroed) onto the volume's grid, box only.
    local = np.where(component, prob[obj], 0.0).astype(np.float32)
    start_model = np.array([s.start for s in obj])
    start, stop = _volume_box(obj, grid_affine, volume)
    shape = tuple(int(b - a) for a, b in zip(start, stop))
    if min(shape) <= 0:
        return None
    resampled = resample_to(local, _box_affine(grid_affine, start_model), _box_affine(volume.affine, start),
                            shape, order=1, fill=0.0)  # type: ignore[arg-type]
    mask = resampled > spec.threshold
    if not mask.any():
        return None
    volume_mm3 = float(mask.sum()) * abs(float(np.linalg.det(volume.affine[:3, :3])))
    nz = np.argwhere(mask)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    region = RegionMask(tuple(int(v) for v in start + lo),  # type: ignore[arg-type]
                        np.ascontiguousarray(mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]))
    provenance = Provenance(Origin.AI, manifest.id, manifest.version, manifest.weights_sha256,
                            round(min(max(score, 0.0), 1.0), 4))
    return Finding(new_uid(), kind, region, measure_region(region, volume), provenance), volume_mm3
