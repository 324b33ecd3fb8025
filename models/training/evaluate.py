"""Calibrate and evaluate the lesion model on generated phantoms it never saw.

    .venv/bin/python models/training/evaluate.py calibrate --cases 48   # validation seeds: picks the
        threshold, hysteresis seed, minimum size, organ gates and shape limit; writes the model's
        manifest.json, calibration.json (choice and frontier) and calibration_sweep.json.gz (all);
        --mirror x: every tile also predicted mirrored left-right and averaged (evaluate then
        does the same, as the manifest says)
    .venv/bin/python models/training/evaluate.py evaluate --cases 16    # held-out seeds and ranges
        (--first-seed 30000 ... 90000: another held-out set; seeds from 90016 on were never
        looked at)
    .venv/bin/python models/training/evaluate.py confirm --cases 48 --model DIR   # before any held-out
        set: a calibrated candidate on 48 validation phantoms with the held-out ranges (seeds
        15000 on), at its own operating point, and the rule on those and the usual ones together;
        writes DIR/confirmation.json
    .venv/bin/python models/training/evaluate.py pool A.json B.json     # several held-out sets as one
    .venv/bin/python models/training/evaluate.py ceiling --cases 48 --model DIR   # where Dice per case is
        lost on the validation seeds (--held-out-like: seeds 15000 on): as found, with the found
        lesions outlined exactly (metastases, nodules, all), and with every lesion found too

The operating point is chosen on the validation seeds only, never on the evaluation seeds.
``--cache DIR`` keeps the probability maps (one file per seed; use one folder per weights file,
phantom settings, mirroring, inference code and device), so a second sweep costs no inference.
``--threads N`` caps torch's CPU threads; ``--device cuda`` makes the maps on a GPU
(models/training/gpu_heldout.sh scores the held-out sets there, one process per set).
``--workers N`` makes the phantoms in N processes ahead of need and splits a sweep's thresholds
among them (the same result; on a GPU host with many cores, calibrate and confirm then take
minutes, not the hour they take on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesion_data import (  # noqa: E402
    EVALUATION_SEEDS,
    HELD_OUT_END,
    HELD_OUT_LIKE_SEEDS,
    PATCH,
    SPACING,
    VALIDATION_SEEDS,
    WINDOWS,
    evaluation_params,
    full_architecture,
    validation_params,
)

from viewer.core.measurements import recist  # noqa: E402
from viewer.core.volume import SeriesMeta, Volume  # noqa: E402
from viewer.inference.loading import sha256_of  # noqa: E402
from viewer.inference.manifest import InferenceSpec, ManifestError, ModelManifest, read  # noqa: E402
from viewer.inference.postprocess import findings_from_probability, lesion_candidates  # noqa: E402
from viewer.inference.preprocess import model_grid  # noqa: E402
from viewer.inference.runner import Runner  # noqa: E402
from viewer.synth import labels  # noqa: E402
from viewer.synth.lesions import LIVER_METASTASIS, LUNG_NODULE  # noqa: E402
from viewer.synth.phantom import Phantom, generate_phantom  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "lesion-unet-synth"  # --model changes it
THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.85)  # a lesion's extent (low ones reach faint metastases)
SEEDS = (0.5, 0.7, 0.85, 0.95, 0.98)  # the peak a component needs (hysteresis), >= the threshold
MIN_VOLUMES = (0.0, 30.0, 60.0, 120.0, 200.0, 300.0)  # mm3; a 10 mm sphere is 524
# The share of a shell around a lesion that its organ must cover, per organ: a metastasis at the
# liver's edge has less liver around it than a nodule has lung.
LIVER_GATES = (0.0, 0.3, 0.5, 0.7, 0.85)
LUNG_GATES = (0.0, 0.5, 0.7, 0.85, 0.95)
ELONGATIONS = (None, 1.3, 1.4, 1.5, 1.7, 2.0)  # maximal 3-D diameter / diameter of a sphere of its volume
VERSION = "1.7.0"
BIG_MM = 10.0
# Tiles the size of the training patches: GroupNorm normalises over each tile, so a tile of another
# size or mix of tissues shifts every feature (v1.2.0 predicted on 48x160x160 tiles and missed
# metastases the same weights find on 24x80x80 ones).
INFERENCE_PATCH = PATCH
# Predict only the body's box (the air and the table around it hold nothing)? A quarter fewer tiles
# on the phantoms, but with v1.7.0's weights it cost a little Dice per case (model card), so off.
CROP_TO_BODY = False


def manifest_doc(model: Path, threshold: float, min_volume: float, gates: tuple[float, float],
                 seed: float | None = None, elongation: float | None = None,
                 mirror: tuple[str, ...] = ()) -> dict[str, Any]:
    """The manifest of the shipped model (files checksummed now); ``mirror``: test-time mirroring."""
    return {
        "id": "lesion-unet-synth", "name": "Lesion U-Net (synthetic phantoms)", "version": VERSION,
        "task": "segmentation", "format": "state-dict", "entry": "weights.pt",
        "files": [{"path": "weights.pt", "sha256": sha256_of(model / "weights.pt"),
                   "size": (model / "weights.pt").stat().st_size}],
        "architecture": full_architecture(model),  # what the run (or soup) recorded
        "input": {"spacing_zyx": list(SPACING), "windows": [[w.low, w.high] for w in WINDOWS], "modalities": ["CT"]},
        "inference": {"patch_zyx": list(INFERENCE_PATCH), "overlap": 0.25, "sigma_scale": 0.125, "dtype": "bfloat16",
                      "mirror_axes": list(mirror), "crop_to_body": CROP_TO_BODY},
        "output": {"labels": [
            {"value": 0, "name": "background"},
            {"value": 1, "name": "liver", "snomed": ["10200004", "Liver"]},
            {"value": 2, "name": "lung", "snomed": ["39607008", "Lung"]},
            {"value": 3, "name": "lesion", "snomed": ["108369006", "Neoplasm"], "lesion": True}],
            "threshold": threshold, "seed_threshold": seed, "min_volume_mm3": min_volume,
            "gate_labels": [1, 2], "min_gate_fraction": {"1": gates[0], "2": gates[1]},
            "max_elongation": elongation},
        "licence": "Apache-2.0 (weights trained by this project)",
        "training_data": "Synthetic chest/abdomen CT phantoms from viewer.synth (liver metastases and lung "
                         "nodules, 4-45 mm), generated by models/training/train_lesion_unet.py. No patient data.",
        "intended_use": "Demonstrates and tests the reading workflow. Not validated on patients; "
                        "not for clinical use.",
    }


def volume_of(p: Phantom) -> Volume:
    sz, sy, sx = p.spacing
    return Volume(p.hu, np.diag([sx, sy, sz, 1.0]), SeriesMeta(modality="CT", units="HU"))


@dataclass(frozen=True)
class Overlaps:
    """Findings of one phantom against its truth, drawn into one label image once, so that a sweep
    can score any subset of them by counting (per finding: voxels, and voxels shared per lesion)."""

    truth_long_mm: NDArray[np.float64]  # per truth lesion
    truth_voxels: NDArray[np.int64]  # per truth lesion
    voxels: NDArray[np.int64]  # per finding
    shared: NDArray[np.int64]  # (finding, truth lesion)
    long_mm: NDArray[np.float64]  # per finding
    volume_ml: NDArray[np.float64]  # per finding


def drawn(findings: list[Any], shape: tuple[int, ...]) -> NDArray[np.int64]:
    """Finding n (from 1) drawn as value n in one label image; components of one probability map
    do not overlap (where resampling makes neighbours touch, the later one takes the voxel)."""
    pred = np.zeros(shape, dtype=np.int64)
    for n, f in enumerate(findings, 1):
        (k0, j0, i0), (k1, j1, i1) = f.region.bbox
        pred[k0:k1, j0:j1, i0:i1][f.region.mask] = n
    return pred


def overlaps(findings: list[Any], p: Phantom, truth_long_mm: NDArray[np.float64]) -> Overlaps:
    """Counts for ``findings``, which must not overlap (see :func:`drawn`)."""
    pred = drawn(findings, p.lesions.shape)
    n_truth = len(truth_long_mm)
    joint = np.bincount((pred * (n_truth + 1) + p.lesions).ravel(),
                        minlength=(len(findings) + 1) * (n_truth + 1)).reshape(len(findings) + 1, n_truth + 1)
    return Overlaps(truth_long_mm, joint[:, 1:].sum(axis=0), joint[1:].sum(axis=1), joint[1:, 1:],
                    np.array([f.measurements.long_axis_mm for f in findings]),
                    np.array([f.measurements.volume_ml for f in findings]))


def truth_long_axes(p: Phantom) -> NDArray[np.float64]:
    """RECIST long axis of each truth lesion (label t at index t - 1; 0 for a label with no voxels)."""
    out = []
    for t in range(1, int(p.lesions.max()) + 1):
        axes = recist(p.lesions == t, p.spacing)
        out.append(axes.long_axis_mm if axes else 0.0)
    return np.array(out)


def score(o: Overlaps, keep: NDArray[np.bool_]) -> dict[str, Any]:
    """Lesion-level matching by overlap, Dice, and long-axis error of the kept findings."""
    lesions = []
    for t, long_truth in enumerate(o.truth_long_mm):
        if not o.truth_voxels[t]:
            continue
        hits = keep & (o.shared[:, t] > 0)
        entry: dict[str, Any] = {"label": t + 1, "long_axis_mm": float(long_truth), "detected": bool(hits.any())}
        if hits.any():
            entry["dice"] = 2 * float(o.shared[hits, t].sum()) / float(o.voxels[hits].sum() + o.truth_voxels[t])
            best = np.flatnonzero(hits)[np.argmax(o.volume_ml[hits])]
            entry["long_axis_error_mm"] = abs(float(o.long_mm[best]) - float(long_truth))
        lesions.append(entry)
    false_pos = int((keep & (o.shared.sum(axis=1) == 0)).sum())
    voxels = {"truth": int(o.truth_voxels.sum()), "found": int(o.voxels[keep].sum()), "shared": int(o.shared[keep].sum())}
    return {"lesions": lesions, "false_positives": false_pos, "dice": _dice(voxels), "voxels": voxels}


def ceiling(findings: list[Any], p: Phantom) -> dict[str, float]:
    """Dice of one phantom as found, and as it would be with better outlines or detection: the
    findings that touch a metastasis (a nodule, any lesion) replaced by the lesions they touch,
    false positives kept; and, last, every lesion found and outlined (false positives kept)."""
    truth = p.lesions > 0
    kinds = {t.label: t.kind for t in p.truth}
    pred = drawn(findings, truth.shape)
    touched = [{int(t) for t in np.unique(p.lesions[pred == n]) if t} for n in range(1, len(findings) + 1)]

    def dice(mask: NDArray[np.bool_]) -> float:
        return _dice({"truth": int(truth.sum()), "found": int(mask.sum()), "shared": int((mask & truth).sum())})

    out = {}
    for name, exact in (("as_found", set()), ("metastases_outlined", {LIVER_METASTASIS}),
                        ("nodules_outlined", {LUNG_NODULE}), ("all_outlined", {LIVER_METASTASIS, LUNG_NODULE})):
        replaced = [n for n, ts in enumerate(touched, 1) if any(kinds.get(t) in exact for t in ts)]
        lesions = set().union(*(touched[n - 1] for n in replaced))
        out[name] = dice(((pred > 0) & ~np.isin(pred, replaced)) | np.isin(p.lesions, list(lesions)))
    false_pos = np.isin(pred, [n for n, ts in enumerate(touched, 1) if not ts])
    out["all_found"] = dice(truth | false_pos)
    return out


def _dice(voxels: dict[str, int]) -> float:
    """Dice from voxel counts (truth, found, shared); 0 when both masks are empty."""
    return 2 * voxels["shared"] / max(1, voxels["truth"] + voxels["found"])


def lesion_facts(p: Phantom, prob: NDArray[np.float32]) -> dict[int, dict[str, Any]]:
    """What each truth lesion (by label) looked like and what the network made of it, to tell why a
    miss was missed: its kind, how much darker than the liver a metastasis is (median HU of the
    lesion, blurred rim included, against the whole liver's: a little less than the generator drew),
    and the peak lesion probability inside it (``prob`` on the phantom's own grid)."""
    if prob.shape != p.lesions.shape:
        raise ValueError(f"probability map {prob.shape} is not on the phantom's grid {p.lesions.shape}")
    liver = (p.organs == labels.LIVER) & (p.lesions == 0)
    facts = {}
    for t in p.truth:
        inside = p.lesions == t.label
        if not inside.any():
            continue
        fact: dict[str, Any] = {"kind": t.kind}
        if t.kind == LIVER_METASTASIS and liver.any():
            fact["darker_than_liver_hu"] = round(float(np.median(p.hu[liver]) - np.median(p.hu[inside])), 1)
        fact["peak_probability"] = round(float(prob[inside].max()), 3)
        facts[t.label] = fact
    return facts


def summary(cases: list[dict[str, Any]]) -> dict[str, float]:
    lesions = [les for c in cases for les in c["lesions"]]
    big = [les for les in lesions if les["long_axis_mm"] >= BIG_MM]
    errors = [les["long_axis_error_mm"] for les in big if les["detected"]]
    dices = [les["dice"] for les in lesions if les["detected"]]
    return {
        "cases": len(cases), "lesions": len(lesions), "lesions_ge_10mm": len(big),
        "sensitivity_all": float(np.mean([les["detected"] for les in lesions])) if lesions else 0.0,
        "sensitivity_ge_10mm": float(np.mean([les["detected"] for les in big])) if big else 0.0,
        "false_positives_per_case": float(np.mean([c["false_positives"] for c in cases])),
        "dice_per_case_mean": float(np.mean([c["dice"] for c in cases])),
        **_global_dice(cases),
        "dice_detected_lesion_mean": float(np.mean(dices)) if dices else 0.0,
        "long_axis_error_median_mm_ge_10mm": float(np.median(errors)) if errors else float("nan"),
    }


def _global_dice(cases: list[dict[str, Any]]) -> dict[str, float]:
    """Dice over the voxels of all cases pooled (LiTS's "Dice global", beside its per-case mean):
    big lesions weigh by their size here, where each phantom weighs the same per case. Empty when
    a case predates the voxel counts (older evaluation files)."""
    if not cases or not all("voxels" in c for c in cases):
        return {}
    return {"dice_global": _dice({k: sum(c["voxels"][k] for c in cases) for k in ("truth", "found", "shared")})}


@dataclass(frozen=True)
class Case:
    """One phantom with the model's output on it."""

    phantom: Phantom
    volume: Volume
    prob: NDArray[np.float32]  # lesion probability on the model's grid
    organs: NDArray[np.uint8] | None  # gating organ per voxel there
    grid_affine: NDArray[np.float64]
    truth_long_mm: NDArray[np.float64]


def make_phantom(seed: int, params_fn: Callable[[np.random.Generator], Any]) -> Phantom:
    """Phantom ``seed`` with ``params_fn``'s ranges (a module function: worker processes pickle it)."""
    return generate_phantom(seed, params_fn(np.random.default_rng(seed)))


def phantoms(seeds: range, params_fn: Callable[[np.random.Generator], Any], workers: int = 1) -> Iterator[Phantom]:
    """The phantoms of ``seeds`` in order; with ``workers`` > 1 made in that many processes,
    ahead of need (a phantom depends on its seed only, so the result is the same)."""
    if workers <= 1:
        yield from (make_phantom(seed, params_fn) for seed in seeds)
        return
    # fork: the children only make phantoms (numpy, scipy), never touch torch or CUDA
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(partial(make_phantom, params_fn=params_fn), seeds)


def probability_maps(runner: Runner, seeds: range, params_fn: Any, cache: Path | None = None,
                     workers: int = 1) -> list[Case]:
    out = []
    for seed, p in zip(seeds, phantoms(seeds, params_fn, workers)):
        volume = volume_of(p)
        t0 = time.perf_counter()
        saved = cache / f"{seed}.npz" if cache is not None else None
        if saved is not None and saved.exists():
            with np.load(saved) as f:
                prob, organs = f["prob"], f["organs"]
            grid = model_grid(volume, runner.manifest.input.spacing_zyx)
        else:
            prob, organs, grid, _ = runner.lesion_probability(volume)
            assert organs is not None, "the lesion model gates its findings by organ"
            if saved is not None:
                saved.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(saved, prob=prob, organs=organs)
        print(f"seed {seed}: {len(p.truth)} lesions, predicted in {time.perf_counter() - t0:.1f} s", flush=True)
        out.append(Case(p, volume, prob, organs, grid.affine, truth_long_axes(p)))
    return out


def sweep(cases: list[Case], runner: Runner, workers: int = 1) -> list[dict[str, Any]]:
    """Every operating point; the components are found, resampled and drawn once per threshold,
    then filtered by peak, size, organ and shape exactly as findings_from_probability does. With
    ``workers`` > 1 the thresholds are swept in that many processes (rows in the same order)."""
    global _SWEPT
    if workers <= 1:
        return [row for t in THRESHOLDS for row in _sweep_threshold(cases, runner.manifest, t)]
    _SWEPT = (cases, runner.manifest)  # forked children read the maps without a copy through pickle
    try:
        with mp.get_context("fork").Pool(min(workers, len(THRESHOLDS))) as pool:
            parts = pool.map(_sweep_forked, THRESHOLDS, chunksize=1)
    finally:
        _SWEPT = None
    return [row for part in parts for row in part]


_SWEPT: tuple[list[Case], ModelManifest] | None = None


def _sweep_forked(threshold: float) -> list[dict[str, Any]]:
    assert _SWEPT is not None, "set by sweep before the fork"
    return _sweep_threshold(*_SWEPT, threshold)


def _sweep_threshold(cases: list[Case], manifest: ModelManifest, threshold: float) -> list[dict[str, Any]]:
    """The operating points of one extent threshold (see :func:`sweep`)."""
    rows = []
    base = dataclasses.replace(manifest, output=dataclasses.replace(
        manifest.output, threshold=threshold, seed_threshold=None))
    found = [lesion_candidates(c.prob, c.grid_affine, c.volume, base, c.organs) for c in cases]
    drawn = [overlaps([k.finding for k in cands], c.phantom, c.truth_long_mm) for cands, c in zip(found, cases)]
    for seed in sorted({threshold, *(s for s in SEEDS if s > threshold)}):
        for min_volume in MIN_VOLUMES:
            for gates, longest in itertools.product(itertools.product(LIVER_GATES, LUNG_GATES), ELONGATIONS):
                spec = dataclasses.replace(base.output, seed_threshold=seed, min_volume_mm3=min_volume,
                                           min_gate_fraction=gates, max_elongation=longest)
                scored = [score(o, np.array([k.passes(spec, c.organs is not None) for k in cands], bool))
                          for o, cands, c in zip(drawn, found, cases)]
                rows.append({"threshold": threshold, "seed_threshold": seed, "min_volume_mm3": min_volume,
                             "min_gate_fraction": list(gates), "max_elongation": longest, **summary(scored)})
    print(f"threshold {threshold}: {len(rows)} operating points", flush=True)
    return rows


def choose(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Most sensitive (lesions >= 10 mm) setting with <= 0.5 false positives per case (ties: the
    best Dice per case); if none gets there, the one with the fewest false positives among those
    that find >= 85 %."""
    def key(r: dict[str, Any]) -> tuple[float, float, float]:
        return r["sensitivity_ge_10mm"], r["dice_per_case_mean"], -r["false_positives_per_case"]

    ok = [r for r in rows if r["false_positives_per_case"] <= 0.5]
    if ok:
        return max(ok, key=key)
    sensitive = [r for r in rows if r["sensitivity_ge_10mm"] >= 0.85]
    if sensitive:
        return min(sensitive, key=lambda r: (r["false_positives_per_case"], -r["sensitivity_ge_10mm"]))
    return max(rows, key=key)


def tradeoff(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frontier: for each false-positive rate, the most sensitive setting (lesions >= 10 mm)
    that no setting with fewer false positives matches."""
    out: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: (r["false_positives_per_case"], -r["sensitivity_ge_10mm"],
                                         -r["dice_per_case_mean"])):
        if not out or r["sensitivity_ge_10mm"] > out[-1]["sensitivity_ge_10mm"]:
            out.append(r)
    return out


def calibrate(model: Path, n: int, cache: Path | None, mirror: tuple[str, ...] = (), device: str = "cpu",
              workers: int = 1) -> None:
    """Choose the operating point on the validation seeds; the manifest written records it, and
    ``mirror`` (axes predicted mirrored too), which evaluate then reads from it."""
    first = manifest_doc(model, 0.5, 30.0, (0.5, 0.5), mirror=mirror)
    (model / "manifest.json").write_text(json.dumps(first, indent=2) + "\n")
    runner = Runner(read(model), device)
    maps = probability_maps(runner, range(VALIDATION_SEEDS, VALIDATION_SEEDS + n), validation_params, cache, workers)
    rows = sweep(maps, runner, workers)
    best = choose(rows)
    doc = manifest_doc(model, best["threshold"], best["min_volume_mm3"], tuple(best["min_gate_fraction"]),
                       best["seed_threshold"], best["max_elongation"], mirror)
    (model / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")
    record = {"chosen": best, "tradeoff": tradeoff(rows), "validation_seeds": [VALIDATION_SEEDS, VALIDATION_SEEDS + n - 1],
              "grid": {"threshold": THRESHOLDS, "seed_threshold": SEEDS, "min_volume_mm3": MIN_VOLUMES,
                       "min_gate_fraction": [LIVER_GATES, LUNG_GATES], "max_elongation": ELONGATIONS},
              "operating_points": len(rows), "sweep": "calibration_sweep.json.gz", "mirror_axes": list(mirror),
              "crop_to_body": runner.manifest.inference.crop_to_body}
    (model / "calibration.json").write_text(json.dumps(record, indent=2) + "\n")
    with gzip.open(model / "calibration_sweep.json.gz", "wt") as f:  # every point: megabytes as text
        json.dump(rows, f)
    print(json.dumps(best, indent=2))


def confirm(model: Path, n: int, cache: Path | None, device: str = "cpu", workers: int = 1) -> dict[str, Any]:
    """A calibrated model on ``n`` validation phantoms with the held-out ranges: scored at its own
    operating point, and the rule re-run on those and the ``n`` usual validation phantoms together
    (a candidate ships only if it leads there too; then the held-out sets are scored)."""
    runner = Runner(read(model), device)
    usual = probability_maps(runner, range(VALIDATION_SEEDS, VALIDATION_SEEDS + n), validation_params, cache, workers)
    like = probability_maps(runner, range(HELD_OUT_LIKE_SEEDS, HELD_OUT_LIKE_SEEDS + n), evaluation_params, cache,
                            workers)
    own = [_score_at_manifest(c, runner) for c in like]
    both = sweep(usual + like, runner, workers)
    record = {"held_out_like_seeds": [HELD_OUT_LIKE_SEEDS, HELD_OUT_LIKE_SEEDS + n - 1],
              "validation_seeds": [VALIDATION_SEEDS, VALIDATION_SEEDS + n - 1],
              "own_point_on_held_out_like": summary(own), "rule_on_both": choose(both),
              "tradeoff_on_both": tradeoff(both), "mirror_axes": list(runner.manifest.inference.mirror_axes),
              "crop_to_body": runner.manifest.inference.crop_to_body}
    (model / "confirmation.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("own_point_on_held_out_like", "rule_on_both")}, indent=2))
    return record


def ceilings(model: Path, n: int, cache: Path | None, held_out_like: bool, device: str = "cpu",
             workers: int = 1) -> dict[str, Any]:
    """Mean over ``n`` validation phantoms of each of :func:`ceiling`'s Dice per case, at the
    manifest's operating point."""
    runner = Runner(read(model), device)
    first, params = (HELD_OUT_LIKE_SEEDS, evaluation_params) if held_out_like else (VALIDATION_SEEDS, validation_params)
    per_case = [ceiling(findings_from_probability(c.prob, c.grid_affine, c.volume, runner.manifest, c.organs), c.phantom)
                for c in probability_maps(runner, range(first, first + n), params, cache, workers)]
    result = {"seeds": [first, first + n - 1], **{k: float(np.mean([d[k] for d in per_case])) for k in per_case[0]}}
    print(json.dumps(result, indent=2))
    return result


def _score_at_manifest(c: Case, runner: Runner) -> dict[str, Any]:
    findings = findings_from_probability(c.prob, c.grid_affine, c.volume, runner.manifest, c.organs)
    return score(overlaps(findings, c.phantom, c.truth_long_mm), np.ones(len(findings), bool))


def evaluate(model: Path, n: int, out: Path | None, cache: Path | None, first: int = EVALUATION_SEEDS,
             device: str = "cpu", workers: int = 1) -> None:
    runner = Runner(read(model), device)
    maps = probability_maps(runner, range(first, first + n), evaluation_params, cache, workers)
    cases = []
    for c in maps:
        scored = _score_at_manifest(c, runner)
        facts = lesion_facts(c.phantom, c.prob)
        assert set(facts) == {les["label"] for les in scored["lesions"]}, "truth labels disagree"
        for lesion in scored["lesions"]:
            lesion.update(facts[lesion["label"]])
        cases.append(scored)
    spec = runner.manifest.output
    missed = [{"seed": first + i, **les} for i, case in enumerate(cases) for les in case["lesions"]
              if les["long_axis_mm"] >= BIG_MM and not les["detected"]]
    result = {"summary": summary(cases), "seeds": [first, first + n - 1], "threshold": spec.threshold, "seed_threshold": spec.seed,
              "min_volume_mm3": spec.min_volume_mm3, "min_gate_fraction": list(spec.min_gate_fraction),
              "max_elongation": spec.max_elongation, "missed_ge_10mm": missed, "cases": cases,
              "patch": list(runner.manifest.inference.patch_zyx),  # the tile it predicted on
              "mirror_axes": list(runner.manifest.inference.mirror_axes),
              "crop_to_body": runner.manifest.inference.crop_to_body}
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    for les in missed:
        print("missed:", json.dumps(les))


def pool(files: list[Path]) -> dict[str, Any]:
    """The scores of several held-out sets as one: every case counts once (sets of 16 phantoms
    differ too much from one another to be read alone)."""
    if not files:
        raise ValueError("pool needs at least one evaluation.json")
    docs = [json.loads(f.read_text()) for f in files]
    ranges = sorted(tuple(d["seeds"]) for d in docs if d.get("seeds"))
    if any(b[0] <= a[1] for a, b in zip(ranges, ranges[1:])):
        raise ValueError(f"held-out seed ranges overlap, so cases would count twice: {ranges}")
    points = {json.dumps([d.get(k) for k in ("threshold", "seed_threshold", "min_volume_mm3", "min_gate_fraction",
                                             "max_elongation")]) for d in docs}
    if len(points) > 1:
        raise ValueError(f"these sets were scored at different operating points: {sorted(points)}")
    mirrors = {tuple(d.get("mirror_axes", [])) for d in docs}
    if len(mirrors) > 1:
        raise ValueError(f"these sets were predicted with different mirrored passes: {sorted(mirrors)}")
    return {"sets": [d.get("seeds") for d in docs], **summary([c for d in docs for c in d["cases"]])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["calibrate", "confirm", "evaluate", "pool", "ceiling"])
    ap.add_argument("files", nargs="*", type=Path, help="pool: evaluation.json files to score as one set")
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=MODEL, help="model folder (weights.pt inside)")
    ap.add_argument("--cache", type=Path, default=None, help="folder for the probability maps of these weights")
    ap.add_argument("--mirror", default="", help="calibrate: also predict each tile mirrored along these axes "
                    "(e.g. x) and average; v1.7.0 does not (see the model card)")
    ap.add_argument("--held-out-like", action="store_true", help="ceiling: the validation seeds drawn with "
                    "the held-out ranges (15000 on)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="cpu", help="where the maps are made: cpu, or cuda on a lent GPU (in the "
                    "manifest's dtype there; keep a cache folder per device)")
    ap.add_argument("--workers", type=int, default=1, help="processes that make phantoms ahead of need and "
                    "sweep thresholds side by side (the same result, faster on a host with many cores)")
    ap.add_argument("--first-seed", type=int, default=EVALUATION_SEEDS,
                    help="evaluate: first held-out seed (another range is a fresh held-out set)")
    args = ap.parse_args()
    if args.command == "evaluate" and not EVALUATION_SEEDS <= args.first_seed <= HELD_OUT_END - (args.cases or 20):
        ap.error(f"held-out seeds are {EVALUATION_SEEDS}-{HELD_OUT_END - 1}: others are training or validation phantoms")
    mirror = tuple(args.mirror)
    if mirror and args.command != "calibrate":
        ap.error("--mirror is for calibrate (evaluate predicts as the model's manifest says)")
    try:
        InferenceSpec(INFERENCE_PATCH, mirror_axes=mirror)  # the manifest's own check of the axes
    except ManifestError as exc:
        ap.error(f"--mirror {args.mirror!r}: {exc}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "pool":
        print(json.dumps(pool(args.files), indent=2))
    elif args.command == "calibrate":
        calibrate(args.model, args.cases or 8, args.cache, mirror, args.device, args.workers)
    elif args.command == "ceiling":
        ceilings(args.model, args.cases or 48, args.cache, args.held_out_like, args.device, args.workers)
    elif args.command == "confirm":
        confirm(args.model, args.cases or 48, args.cache, args.device, args.workers)
    else:
        evaluate(args.model, args.cases or 20, args.out, args.cache, args.first_seed, args.device, args.workers)


if __name__ == "__main__":
    main()
