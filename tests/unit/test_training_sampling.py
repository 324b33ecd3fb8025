"""Patch sampling for training the shipped model (models/training/lesion_data.py): the lesions the
network keeps missing must get the patches (hard-positive mining), or faint metastases stay unseen."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "training"))
from lesion_data import Case, Sampling, check_training_seeds, sample  # noqa: E402
from train_lesion_unet import Phantoms, fp16_state, mine, mirrored  # noqa: E402


def _case() -> Case:
    """Two cubic lesions (labels 1 and 2) in a 40 x 96 x 96 volume."""
    lesions = np.zeros((40, 96, 96), np.uint8)
    lesions[5:10, 10:20, 10:20] = 1
    lesions[30:35, 70:80, 70:80] = 2
    target = (lesions > 0).astype(np.uint8) * 3
    voxels = np.argwhere(lesions > 0)
    return Case(np.zeros(lesions.shape, np.int16), target, voxels, np.zeros(0, np.intp),
                lesions[tuple(voxels.T)], lesions=lesions)


def test_misses_are_remembered_per_lesion() -> None:
    case = _case()
    found = np.zeros((40, 96, 96), bool)
    found[case.lesions == 1] = True  # the network finds lesion 1 and misses lesion 2
    for _ in range(10):
        case.add_misses(found, np.zeros(3, np.intp))
    assert case.missed[1] < 0.05 and case.missed[2] > 0.95


def test_by_miss_draws_the_missed_lesion_more_often() -> None:
    case = _case()
    case.missed = {1: 0.0, 2: 1.0}
    rng = np.random.default_rng(0)
    how = Sampling(lesion=1.0, per_lesion=True, patch=(8, 16, 16), by_miss=True)
    shown = [int(case.lesions[tuple(slice(s, s + n) for s, n in zip(sample(case, rng, how)[2], how.patch))].max())
             for _ in range(200)]
    assert shown.count(2) > 5 * shown.count(1) > 0  # odds 1.1 : 0.1
    plain = Sampling(lesion=1.0, per_lesion=True, patch=(8, 16, 16))
    shown = [int(case.lesions[tuple(slice(s, s + n) for s, n in zip(sample(case, rng, plain)[2], plain.patch))].max())
             for _ in range(200)]
    assert 60 < shown.count(2) < 140  # without it, each lesion equally


def test_faint_phantoms_are_a_share_of_seeds_and_only_their_contrast_changes() -> None:
    from lesion_data import FAINT_CONTRAST_HU, is_faint, training_params

    seeds = range(5000, 5400)
    assert not any(is_faint(s, 0.0) for s in seeds)
    faint = [s for s in seeds if is_faint(s, 0.5)]
    assert 150 < len(faint) < 250 and faint == [s for s in seeds if is_faint(s, 0.5)]  # seeded
    plain = training_params(np.random.default_rng(faint[0]))
    dim = training_params(np.random.default_rng(faint[0]), contrast_hu=FAINT_CONTRAST_HU)
    assert dim.metastasis_contrast_hu == FAINT_CONTRAST_HU
    assert (dim.shape, dim.noise_hu, dim.blur_sigma_vox) == (plain.shape, plain.noise_hu, plain.blur_sigma_vox)


def test_training_never_uses_validation_or_held_out_phantoms() -> None:
    check_training_seeds(9_000, 1_000)  # up to 9999: the CPU runs' range
    check_training_seeds(100_000, 50_000)  # a GPU run's thousands of phantoms
    for first, count in ((9_990, 50), (10_000, 1), (20_005, 10), (99_999, 1)):
        with pytest.raises(ValueError, match="overlap the validation and held-out seeds"):
            check_training_seeds(first, count)


def test_phantoms_made_by_workers_arrive_in_seed_order_unchanged() -> None:
    """Making phantoms in other processes (for a GPU) must not change the run: same phantom per take."""
    serial = Phantoms(100_000, 0.0, True, workers=1)
    parallel = Phantoms(100_000, 0.0, True, workers=2)
    try:
        for _ in range(2):
            a, b = serial.take(), parallel.take()
            assert np.array_equal(a.hu, b.hu) and np.array_equal(a.target, b.target)
        assert serial.next == parallel.next == 100_002
    finally:
        parallel.close()


def test_weights_trained_channels_last_ship_in_the_standard_layout(tmp_path: Path) -> None:
    """A run trained channels-last (faster on the CPU) must write weights that load like any
    other, tensors only, and predict what the trained network predicts."""
    import torch

    from viewer.inference.network import UNet3D

    torch.manual_seed(0)
    trained = UNet3D(2, 4, widths=(4, 8, 8, 8)).to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    assert any(not t.is_contiguous() for t in trained.state_dict().values())  # conv weights are NDHWC
    torch.save(fp16_state(trained), tmp_path / "weights.pt")
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert all(t.is_contiguous() and t.dtype == torch.float16 for t in state.values())
    shipped = UNet3D(2, 4, widths=(4, 8, 8, 8))
    shipped.load_state_dict({k: v.float() for k, v in state.items()})
    x = torch.rand(1, 2, 16, 32, 32)
    with torch.inference_mode():
        want = trained.eval().to(memory_format=torch.contiguous_format)(x)  # type: ignore[call-overload]
        assert torch.allclose(shipped.eval()(x), want, atol=2e-2)  # fp16 weights


def test_edge_patches_lie_flush_with_an_end_of_the_scan_on_the_vessels_there() -> None:
    """Vessels cut by the scan's first or last slice were the surest false positives: edge patches
    must show that cut (start at slice 0 or end at the last one) with the vessel inside the patch."""
    from lesion_data import END_SLICES, training_params

    case = _case()
    shape = case.hu.shape
    near = np.zeros(shape, bool)
    near[:END_SLICES] = near[-END_SLICES:] = True
    case.end_voxels = np.flatnonzero(near)[::97]
    how = Sampling(lesion=0.0, organ=0.0, patch=(END_SLICES, 16, 16), edge=1.0)
    rng = np.random.default_rng(1)
    starts = [sample(case, rng, how)[2] for _ in range(200)]
    assert {int(s[0]) for s in starts} == {0, shape[0] - how.patch[0]}  # both ends, always flush
    assert len({(int(s[1]), int(s[2])) for s in starts}) > 50  # anywhere in the plane
    ends = np.array(np.unravel_index(case.end_voxels, shape)).T
    for s in starts:  # some end voxel lies inside every patch (the one it was centred on)
        assert np.any(np.all((ends >= s) & (ends < s + np.array(how.patch)), axis=1))
    with pytest.raises(ValueError, match="slices"):
        Sampling(patch=(END_SLICES - 1, 16, 16), edge=0.1)  # the structure could lie outside the patch

    made = Case.make(100_000, training_params(np.random.default_rng(100_000)))
    z, y, x = np.unravel_index(made.end_voxels, made.hu.shape)
    depth = made.hu.shape[0]
    assert len(made.end_voxels) > 20
    assert np.all((z < END_SLICES) | (z >= depth - END_SLICES))
    assert np.all(made.target[z, y, x] == 2) and np.all(made.hu[z, y, x] > -500)  # lung vessels, not air


def test_a_mirrored_patch_is_mined_on_the_case_voxels_it_came_from() -> None:
    """With --mirror the network sees some patches mirrored left-right. What it gets wrong there
    must be remembered at the case's own voxel, not at its mirror image (later patches would then
    be centred on the wrong side of the body), and the lesion it misses must count as missed."""
    import torch

    case = _case()
    start, patch = np.array([2, 4, 6]), (8, 16, 16)
    box = tuple(slice(int(a), int(a + n)) for a, n in zip(start, patch))
    y = torch.from_numpy(case.target[box].astype(np.int64))[None]
    flips = torch.tensor([True])
    seen = mirrored(y, flips)
    assert torch.equal(seen[0], y[0].flip(-1)) and torch.equal(mirrored(seen, flips), y)
    assert torch.equal(mirrored(y, torch.tensor([False])), y)
    logits = torch.zeros((1, 4, *patch))
    logits[:, 0] = 5.0  # background everywhere in the network's (mirrored) view ...
    logits[0, 3][seen[0] == 3] = 10.0  # it finds the lesion where it sees it ...
    logits[0, 3, 1, 2, 3] = 10.0  # ... and calls one voxel lesion where there is none
    assert int(seen[0, 1, 2, 3]) != 3
    mine(mirrored(logits, flips), y, [(case, start)], np.random.default_rng(0),  # as training: y as sampled
         Sampling(hard=0.5, per_lesion=True, by_miss=True, patch=patch))
    assert [v.tolist() for v in case.hard] == [[[2 + 1, 4 + 2, 6 + patch[2] - 1 - 3]]]
    assert case.missed[1] == pytest.approx(0.7)  # found in the patch: 0.7 x 1.0 before + 0.3 x 0.0


def test_training_record_says_how_the_patches_were_drawn(tmp_path: Path) -> None:
    """training.json is how a run is compared with others and reproduced: what changes the patches
    the network saw (the sampling shares, faint phantoms, mirroring) must be in it, not only in
    the command line."""
    import argparse
    import json

    import torch

    from train_lesion_unet import save_weights
    from viewer.inference.device import autocast_dtype
    from viewer.inference.network import UNet3D

    args = argparse.Namespace(
        out=tmp_path, steps=3, batch=2, patch=[24, 80, 80], lr=1e-4, warmup=1, seed=0, first_seed=1_000_000,
        init=None, metastases_both_lobes=True, faint=0.2, mirror=0.5, channels_last=True, lesion=0.5,
        per_lesion=True, by_miss=True, hard=0.3, dense=0.1, edge=0.05, organ=0.05, minutes=None, smooth=[0.7, 2.0, 2.0],
        smooth_gain=10.0, autocast="auto", blob=0.5)
    save_weights(UNet3D(2, 4, widths=(4, 8, 8, 8)), args, 60.0, torch.device("cpu"), 1_000_002)
    record = json.loads((tmp_path / "training.json").read_text())
    assert (record["faint"], record["mirror"], record["channels_last"], record["blob"]) == (0.2, 0.5, True, 0.5)
    assert record["sampling"] == {"lesion": 0.5, "per_lesion": True, "by_miss": True, "hard": 0.3,
                                  "dense": 0.1, "edge": 0.05, "organ": 0.05}
    assert record["phantoms_used"] == 2 and record["init"] is None
    assert record["architecture"] == {"name": "unet3d", "in_channels": 2, "out_channels": 4,
                                      "smooth_channels": [1], "smooth_sigma_vox": [0.7, 2.0, 2.0],
                                      "smooth_gain": 10.0}
    assert record["autocast"] == ("bfloat16" if autocast_dtype("bfloat16", torch.device("cpu")) else "float32")


def test_per_lesion_dice_weighs_a_missed_small_lesion_as_much_as_a_found_big_one() -> None:
    """--blob: a 5-voxel nodule missed beside a 1000-voxel metastasis found costs the batch-wide
    Dice almost nothing, but costs half of the per-lesion Dice, which is what per-case Dice needs."""
    import torch

    from train_lesion_unet import blob_dice, lesion_labels, loss_fn

    case = _case()
    case.lesions[2:3, 50:51, 50:55] = 3  # a small third lesion, 5 voxels
    start, patch = np.zeros(3, np.intp), (40, 96, 96)
    instances = lesion_labels([(case, start)], patch, torch.device("cpu"))
    assert torch.equal(instances[0], torch.from_numpy(case.lesions.astype(np.int64)))
    target = torch.where(instances > 0, 3, 0)

    def logits_for(found: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((1, 4, *patch))
        out[:, 0] = 30.0  # sure: a patch's many voxels would otherwise add up to a lesion's worth
        out[:, 3][found] = 60.0
        return out

    everything = logits_for(instances > 0)
    all_but_small = logits_for((instances > 0) & (instances != 3))
    assert blob_dice(everything, instances) == pytest.approx(1.0, abs=0.01)
    _, batch_dice = loss_fn(all_but_small, target)
    assert batch_dice > 0.99  # the batch-wide term hardly sees the miss
    assert blob_dice(all_but_small, instances) == pytest.approx(2 / 3 + 1 / 3 / 6, abs=0.02)  # 1, 1, and 1/6
    assert blob_dice(everything, torch.zeros_like(instances)) is None  # no lesion in the patch: no term
    # every other lesion's voxels are left out of each lesion's Dice: a found big lesion is no false positive
    # of the small one; a false positive outside all lesions lowers every lesion's term
    stray = logits_for((instances > 0) | (torch.arange(96) == 90).view(1, 1, 1, 96))
    assert float(blob_dice(stray, instances)) < 0.9


def test_blob_weight_is_checked() -> None:
    import subprocess

    script = Path(__file__).resolve().parents[2] / "models" / "training" / "train_lesion_unet.py"
    out = subprocess.run([sys.executable, str(script), "--blob", "-1"], capture_output=True, text=True)
    assert out.returncode != 0 and "--blob is a weight" in out.stderr
