"""The scoring that the model card's numbers come from (models/training/evaluate.py): a wrong count
here would misstate how good the shipped model is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.core.findings import Finding, Origin, Provenance, RegionMask, new_uid
from viewer.core.region_measure import measure_region
from viewer.core.volume import SeriesMeta, Volume
from viewer.synth.phantom import Phantom

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "training"))
import evaluate  # noqa: E402


def _phantom() -> Phantom:
    """Two cubic lesions of 8 and 4 voxels a side on a 1 mm grid."""
    lesions = np.zeros((20, 40, 40), np.uint8)
    lesions[2:10, 2:10, 2:10] = 1
    lesions[12:16, 30:34, 30:34] = 2
    return Phantom(np.zeros(lesions.shape, np.int16), np.zeros(lesions.shape, np.uint8), lesions, (),
                   (1.0, 1.0, 1.0), 0)


def _finding(p: Phantom, mask: np.ndarray) -> Finding:
    nz = np.argwhere(mask)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    region = RegionMask(tuple(int(v) for v in lo), mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
    volume = Volume(p.hu, np.eye(4), SeriesMeta(modality="CT"))
    return Finding(new_uid(), "lesion", region, measure_region(region, volume), Provenance(Origin.AI))


def test_scores_count_hits_misses_false_positives_and_dice() -> None:
    p = _phantom()
    half = np.zeros(p.lesions.shape, bool)
    half[2:10, 2:10, 2:6] = True  # half of lesion 1
    elsewhere = np.zeros(p.lesions.shape, bool)
    elsewhere[15:18, 2:5, 30:33] = True
    findings = [_finding(p, half), _finding(p, elsewhere)]
    drawn = evaluate.overlaps(findings, p, evaluate.truth_long_axes(p))

    both = evaluate.score(drawn, np.array([True, True]))
    first, second = both["lesions"]
    assert first["detected"] and not second["detected"]
    assert first["dice"] == pytest.approx(2 * 256 / (256 + 512))
    assert both["false_positives"] == 1
    assert both["dice"] == pytest.approx(2 * 256 / (512 + 64 + 256 + 27))
    assert both["voxels"] == {"truth": 512 + 64, "found": 256 + 27, "shared": 256}
    # The truth's long axis is the cube's in-plane diagonal; the half finding's is shorter.
    assert first["long_axis_mm"] == pytest.approx(np.hypot(7, 7), abs=1.5)
    assert first["long_axis_error_mm"] > 1.0

    # Dropping the false positive (as a stricter operating point would) changes only what it should.
    only_hit = evaluate.score(drawn, np.array([True, False]))
    assert only_hit["false_positives"] == 0 and only_hit["lesions"][0]["detected"]
    assert only_hit["dice"] == pytest.approx(2 * 256 / (512 + 64 + 256))
    nothing = evaluate.score(drawn, np.array([False, False]))
    assert nothing["dice"] == 0 and not any(les["detected"] for les in nothing["lesions"])


def test_ceiling_says_what_better_outlines_or_detection_would_give() -> None:
    """Where Dice per case is lost: a metastasis found in half, a nodule missed, a false positive.
    Outlining the metastasis exactly, or finding everything, gives what the counts say."""
    from viewer.synth.lesions import LIVER_METASTASIS, LUNG_NODULE
    from viewer.synth.placement import LesionTruth

    p = _phantom()
    p = Phantom(p.hu, p.organs, p.lesions, (LesionTruth(1, LIVER_METASTASIS, (0, 0, 0), 11.0, 8.0, 0.5, 12.0),
                                            LesionTruth(2, LUNG_NODULE, (0, 0, 0), 5.6, 4.0, 0.06, 6.0)),
                p.spacing, 0)
    half = np.zeros(p.lesions.shape, bool)
    half[2:10, 2:10, 2:6] = True  # 256 of the metastasis's 512 voxels
    elsewhere = np.zeros(p.lesions.shape, bool)
    elsewhere[15:18, 2:5, 30:33] = True  # 27 voxels of nothing
    c = evaluate.ceiling([_finding(p, half), _finding(p, elsewhere)], p)
    truth = 512 + 64
    assert c["as_found"] == pytest.approx(2 * 256 / (truth + 256 + 27))
    assert c["metastases_outlined"] == c["all_outlined"] == pytest.approx(2 * 512 / (truth + 512 + 27))
    assert c["nodules_outlined"] == c["as_found"]  # the nodule was not found, so not outlined either
    assert c["all_found"] == pytest.approx(2 * truth / (truth + truth + 27))


def test_summary_counts_sensitivity_for_big_lesions_apart() -> None:
    cases = [{"lesions": [{"long_axis_mm": 20.0, "detected": True, "dice": 0.8, "long_axis_error_mm": 1.0},
                          {"long_axis_mm": 6.0, "detected": False}], "false_positives": 1, "dice": 0.7},
             {"lesions": [{"long_axis_mm": 12.0, "detected": False}], "false_positives": 0, "dice": 0.0}]
    s = evaluate.summary(cases)
    assert s["sensitivity_ge_10mm"] == 0.5 and s["sensitivity_all"] == pytest.approx(1 / 3)
    assert s["false_positives_per_case"] == 0.5 and s["dice_per_case_mean"] == pytest.approx(0.35)
    assert s["long_axis_error_median_mm_ge_10mm"] == 1.0
    assert "dice_global" not in s  # these cases carry no voxel counts


def test_global_dice_pools_voxels_so_a_missed_small_lesion_weighs_by_its_size() -> None:
    """Per case, a phantom whose only lesion (small) was missed scores 0 and weighs as much as
    any other; pooled over voxels, it weighs by its size. Both are reported, per case first."""
    big = {"lesions": [], "false_positives": 0, "dice": 0.9, "voxels": {"truth": 1000, "found": 1000, "shared": 900}}
    small_missed = {"lesions": [], "false_positives": 0, "dice": 0.0, "voxels": {"truth": 100, "found": 0, "shared": 0}}
    s = evaluate.summary([big, small_missed])
    assert s["dice_per_case_mean"] == pytest.approx(0.45)
    assert s["dice_global"] == pytest.approx(2 * 900 / (1100 + 1000))


def test_lesion_facts_say_why_a_miss_was_missed() -> None:
    """The evaluation names each lesion's kind, a metastasis's contrast to the liver and the
    network's peak probability in it: what the model card's analysis of misses rests on."""
    from viewer.synth import labels
    from viewer.synth.lesions import LIVER_METASTASIS, LUNG_NODULE
    from viewer.synth.placement import LesionTruth

    p = _phantom()
    organs = np.full(p.lesions.shape, labels.LIVER, np.uint8)
    organs[:, 20:, 20:] = labels.LUNG
    hu = np.where(organs == labels.LIVER, 60, -850).astype(np.int16)
    hu[p.lesions == 1] = 48  # a faint metastasis, 12 HU darker than the liver
    hu[p.lesions == 2] = 20
    truth = (LesionTruth(1, LIVER_METASTASIS, (0, 0, 0), 11.0, 8.0, 0.5, 12.0),
             LesionTruth(2, LUNG_NODULE, (0, 0, 0), 5.6, 4.0, 0.06, 6.0))
    p = Phantom(hu, organs, p.lesions, truth, p.spacing, 0)
    prob = np.zeros(p.lesions.shape, np.float32)
    prob[5, 5, 5] = 0.4  # a glimmer inside the metastasis
    prob[14, 31, 31] = 0.9
    facts = evaluate.lesion_facts(p, prob)
    assert facts[1] == {"kind": LIVER_METASTASIS, "darker_than_liver_hu": 12.0, "peak_probability": 0.4}
    assert facts[2] == {"kind": LUNG_NODULE, "peak_probability": 0.9}


def test_shipped_model_predicts_on_tiles_the_size_it_was_trained_on() -> None:
    """GroupNorm normalises over each tile, so tiles of another size shift every feature: v1.2.0
    predicted on 48x160x160 tiles and missed held-out metastases that its weights find on the
    24x80x80 patches they learned from."""
    model = Path(evaluate.MODEL)
    manifest = json.loads((model / "manifest.json").read_text())
    runs = json.loads((model / "training.json").read_text())["runs"]
    trained_on = {tuple(run["patch_zyx"]) for run in runs.values()}
    assert trained_on == {tuple(manifest["inference"]["patch_zyx"])} == {tuple(evaluate.INFERENCE_PATCH)}


def test_shipped_model_predicts_the_way_its_operating_point_was_chosen(tmp_path: Path) -> None:
    """The operating point was chosen on maps made with (or without) mirrored passes, over the
    body's box (or the whole grid); the manifest must ask the runner for the same, and calibration
    records which it was."""
    from viewer.inference.manifest import parse

    model = Path(evaluate.MODEL)
    shipped = parse(json.loads((model / "manifest.json").read_text()), model)
    calibration = json.loads((model / "calibration.json").read_text())
    assert list(shipped.inference.mirror_axes) == calibration.get("mirror_axes", [])
    assert shipped.inference.crop_to_body == calibration.get("crop_to_body", False) == evaluate.CROP_TO_BODY
    (tmp_path / "weights.pt").write_bytes((model / "weights.pt").read_bytes())
    doc = evaluate.manifest_doc(tmp_path, 0.3, 120.0, (0.7, 0.5), 0.7, None, ("x",))
    assert parse(doc, tmp_path).inference.mirror_axes == ("x",)
    assert parse(doc, tmp_path).inference.crop_to_body == evaluate.CROP_TO_BODY
    for argv in (["calibrate", "--mirror", "xx"], ["evaluate", "--mirror", "x"]):  # evaluate reads the manifest
        done = subprocess.run([sys.executable, evaluate.__file__, *argv, "--model", str(tmp_path)],
                              capture_output=True, text=True)
        assert done.returncode == 2 and "--mirror" in done.stderr and not (tmp_path / "manifest.json").exists()


def test_training_record_names_the_run_that_made_the_shipped_weights() -> None:
    """The model card's claim "trained by this script" rests on training.json: the shipped
    weights must be a run it records, and every run it says was fine-tuned from recorded
    weights must start from a run it also records."""
    model = Path(evaluate.MODEL)
    shipped = json.loads((model / "manifest.json").read_text())["files"][0]["sha256"]
    runs = json.loads((model / "training.json").read_text())["runs"]
    made = {run["weights_sha256"]: name for name, run in runs.items()}
    assert shipped in made
    assert runs[made[shipped]]["command"].startswith("models/training/train_lesion_unet.py")
    assert all(run["init_sha256"] in made for run in runs.values() if "init_sha256" in run)


def test_a_second_held_out_set_cannot_reuse_training_or_validation_seeds() -> None:
    for first in ("10000", "99990", "100000"):  # validation; running into, or inside, GPU training seeds
        done = subprocess.run([sys.executable, evaluate.__file__, "evaluate", "--first-seed", first, "--cases", "16"],
                              capture_output=True, text=True)
        assert done.returncode == 2 and "held-out seeds are 20000-99999" in done.stderr


def test_held_out_sets_pool_case_by_case(tmp_path: Path) -> None:
    """Pooled over sets, every lesion and every case counts once (not a mean of the sets' means)."""
    def lesion(mm: float, found: bool, error: float = 0.0) -> dict[str, object]:
        return {"long_axis_mm": mm, "detected": found, **({"dice": 0.8, "long_axis_error_mm": error} if found else {})}

    a = {"seeds": [20000, 20000], "cases": [{"lesions": [lesion(12, True, 1.0), lesion(15, False)],
                                             "false_positives": 2, "dice": 0.4}]}
    b = {"seeds": [30000, 30002], "cases": [{"lesions": [lesion(20, True, 3.0)], "false_positives": 0, "dice": 0.9},
                                            {"lesions": [lesion(11, True, 2.0), lesion(5, False)],
                                             "false_positives": 1, "dice": 0.8}]}
    files = []
    for name, doc in (("a.json", a), ("b.json", b)):
        files.append(tmp_path / name)
        files[-1].write_text(json.dumps(doc))
    pooled = evaluate.pool(files)
    assert pooled["cases"] == 3 and pooled["lesions_ge_10mm"] == 4
    assert pooled["sensitivity_ge_10mm"] == pytest.approx(3 / 4)  # the sets alone: 1/2 and 2/2
    assert pooled["false_positives_per_case"] == pytest.approx(1.0)
    assert pooled["dice_per_case_mean"] == pytest.approx(0.7)
    assert pooled["long_axis_error_median_mm_ge_10mm"] == pytest.approx(2.0)
    assert pooled["sets"] == [[20000, 20000], [30000, 30002]]
    with pytest.raises(ValueError, match="overlap"):
        evaluate.pool([files[1], files[1]])
    mirrored = tmp_path / "mirrored.json"
    mirrored.write_text(json.dumps({**b, "seeds": [40000, 40002], "mirror_axes": ["x"]}))
    with pytest.raises(ValueError, match="mirrored"):  # the same operating point on other maps
        evaluate.pool([files[0], mirrored])


def _small_params(rng: np.random.Generator) -> object:
    """Small phantoms, quick to make (a module function: worker processes pickle it by name)."""
    from viewer.synth.phantom import PhantomParams

    return PhantomParams(shape=(40, 96, 96), spacing=(2.5, 3.0, 3.0), n_lesions=(1, 3),
                         noise_hu=float(rng.uniform(5, 15)))


def test_phantoms_made_by_workers_are_those_made_in_line_in_seed_order() -> None:
    """A GPU host makes the validation phantoms in worker processes: the calibration must see the
    same phantom for each seed as on a CPU, in the same order."""
    seeds = range(10000, 10004)
    in_line = list(evaluate.phantoms(seeds, _small_params))
    by_workers = list(evaluate.phantoms(seeds, _small_params, workers=2))
    assert len(by_workers) == len(seeds)
    for a, b in zip(in_line, by_workers):
        assert np.array_equal(a.hu, b.hu) and np.array_equal(a.lesions, b.lesions)
    assert not np.array_equal(in_line[0].hu, in_line[1].hu)  # the seeds do make different phantoms


def test_sweep_split_among_workers_gives_every_operating_point_as_in_line() -> None:
    """The operating point is chosen from the sweep's rows: split by threshold among processes they
    must come back complete, in the same order, with the same scores."""
    from viewer.inference.manifest import read
    from viewer.inference.runner import Runner

    runner = Runner(read(evaluate.MODEL), "cpu")  # the manifest only: no network is loaded
    cases = []
    for n, p in enumerate(evaluate.phantoms(range(10000, 10002), _small_params)):
        volume = evaluate.volume_of(p)
        prob = np.where(p.lesions > 0, 0.9, 0.0).astype(np.float32)
        prob[5:8, 10:14, 10:14] = 0.6 + 0.3 * n  # a false positive, kept by some points only
        cases.append(evaluate.Case(p, volume, prob, None, volume.affine, evaluate.truth_long_axes(p)))
    in_line = evaluate.sweep(cases, runner)
    split = evaluate.sweep(cases, runner, workers=3)
    assert json.dumps(split) == json.dumps(in_line)  # as text: a NaN (no long axis to err on) equals itself
    assert len({r["false_positives_per_case"] for r in in_line}) > 1  # the points differ, so order matters
