"""The U-Net's optional smoothed input: what it does to a faint metastasis, and how a network given
it is grown from one without, shipped and loaded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from viewer.inference.manifest import parse
from viewer.inference.network import GaussianSmooth, UNet3D

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "training"))
import evaluate  # noqa: E402
from train_lesion_unet import fp16_state, load_init  # noqa: E402

LIVER_WINDOW = (-100.0, 240.0)


def _liver_channel(hu: np.ndarray) -> torch.Tensor:
    low, high = LIVER_WINDOW
    return torch.from_numpy(np.clip((hu - low) / (high - low), 0, 1).astype(np.float32))[None, None]


def test_smoothing_lifts_a_faint_metastasis_out_of_the_noise() -> None:
    """A 12 mm metastasis 15 HU darker than the liver, in noise of 12 HU, on the model's grid
    (2.5 x 1.4 x 1.4 mm): voxel by voxel its contrast is about the noise; smoothed, several
    times the noise, while the liver far from it keeps its level."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:24, :64, :64]
    dist = np.sqrt(((z - 12) * 2.5) ** 2 + ((y - 32) * 1.4) ** 2 + ((x - 32) * 1.4) ** 2)
    clean = np.where(dist < 6.0, 45.0, 60.0)
    noisy = clean + rng.normal(0, 12.0, clean.shape)
    smooth = GaussianSmooth((0.7, 2.0, 2.0))(_liver_channel(noisy))[0, 0].numpy() * 340.0 - 100.0
    inside, liver = dist < 3.0, dist > 15.0

    def contrast_to_noise(image: np.ndarray) -> float:
        return float((image[liver].mean() - image[inside].mean()) / image[liver].std())

    assert contrast_to_noise(noisy) < 1.6
    assert contrast_to_noise(smooth) > 4.0
    assert abs(smooth[liver].mean() - 60.0) < 1.0  # the kernel sums to one, edges replicated
    uniform = GaussianSmooth((0.7, 2.0, 2.0))(torch.full((1, 1, 6, 20, 20), 0.47))
    assert torch.allclose(uniform, torch.tensor(0.47), atol=1e-6)


def test_a_network_grown_a_smoothed_input_starts_out_as_the_one_it_came_from(tmp_path: Path) -> None:
    """Fine-tuning with --smooth from weights without it: the new input's weights start at zero,
    so the network says what the old one said, and only learning changes that."""
    torch.manual_seed(0)
    old = UNet3D(2, 4, widths=(4, 8, 8, 8)).eval()
    torch.save(fp16_state(old), tmp_path / "old.pt")
    grown = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,)).eval()
    load_init(grown, tmp_path / "old.pt")
    assert grown.down[0][0].weight.shape[1] == 3
    x = torch.rand(1, 2, 16, 32, 32)
    reference = UNet3D(2, 4, widths=(4, 8, 8, 8)).eval()
    reference.load_state_dict({k: v.float() for k, v in torch.load(tmp_path / "old.pt", weights_only=True).items()})
    with torch.inference_mode():
        assert torch.allclose(grown(x), reference(x), atol=1e-6)
    # the fixed kernel is the architecture's, not a weight: the file holds learned tensors only
    assert not any("kernel" in k for k in grown.state_dict())


def test_a_run_with_a_smoothed_input_ships_a_manifest_that_loads_it(tmp_path: Path) -> None:
    """evaluate.py writes the manifest from the run's training.json: the network the app then
    builds must be the trained one, smoothing included (without it the weights would not fit)."""
    from viewer.inference.loading import load_network

    torch.manual_seed(1)
    trained = UNet3D(2, 4, smooth_channels=(1,), smooth_sigma_vox=(0.5, 1.5, 1.5)).eval()
    torch.save(fp16_state(trained), tmp_path / "weights.pt")
    (tmp_path / "training.json").write_text(json.dumps({"architecture": {
        "name": "unet3d", "in_channels": 2, "out_channels": 4,
        "smooth_channels": [1], "smooth_sigma_vox": [0.5, 1.5, 1.5]}}))
    doc = evaluate.manifest_doc(tmp_path, 0.5, 30.0, (0.5, 0.5))
    assert doc["architecture"]["smooth_sigma_vox"] == [0.5, 1.5, 1.5]
    loaded = load_network(parse(doc, tmp_path), torch.device("cpu"))
    x = torch.rand(1, 2, 24, 80, 80)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), trained(x), atol=5e-2)  # fp16 weights
    (tmp_path / "training.json").write_text(json.dumps({"architecture": {"name": "unet3d"}}))
    assert "smooth_channels" not in evaluate.manifest_doc(tmp_path, 0.5, 30.0, (0.5, 0.5))["architecture"]


@pytest.mark.parametrize("channels", [(2,), (1, 1), (-1,)])
def test_smoothing_refuses_channels_the_input_does_not_have(channels: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="smooth_channels"):
        UNet3D(2, 4, smooth_channels=channels)


def test_the_smoothed_input_s_gain_is_the_same_network_with_its_weights_scaled() -> None:
    """--smooth-gain only speeds up how fast that input's weights act under Adam: a network with
    gain g computes what one with gain 1 computes when its smoothed-input weights are g times larger,
    and the saved weights plus the recorded gain rebuild it."""
    torch.manual_seed(2)
    gained = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=8.0).eval()
    plain = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,)).eval()
    state = {k: v.clone() for k, v in gained.state_dict().items()}
    state["down.0.0.weight"][:, 2] *= 8.0  # channel 2: the smoothed copy of channel 1
    plain.load_state_dict(state)
    x = torch.rand(1, 2, 16, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(gained(x), plain(x), atol=1e-5)
    unscaled = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,)).eval()
    unscaled.load_state_dict(gained.state_dict())
    with torch.inference_mode():  # the gain is not a no-op: without it the same weights say otherwise
        assert not torch.allclose(gained(x), unscaled(x), atol=1e-3)


@pytest.mark.parametrize("gain", [0.0, -1.0, float("inf"), float("nan")])
def test_a_smoothed_input_gain_must_be_a_positive_number(gain: float) -> None:
    with pytest.raises(ValueError, match="smooth_gain"):
        UNet3D(2, 4, smooth_channels=(1,), smooth_gain=gain)


def test_a_gained_run_s_manifest_rebuilds_its_gain_and_a_bad_gain_is_refused_plainly(tmp_path: Path) -> None:
    """The gain travels from training.json through the manifest to the network the app builds;
    a manifest with a gain that is no number is named as such rather than crashing the app."""
    from viewer.inference.loading import ModelLoadError, load_network

    torch.manual_seed(3)
    trained = UNet3D(2, 4, smooth_channels=(1,), smooth_gain=10.0).eval()
    torch.save(fp16_state(trained), tmp_path / "weights.pt")
    arch = {"name": "unet3d", "in_channels": 2, "out_channels": 4, "smooth_channels": [1], "smooth_gain": 10.0}
    (tmp_path / "training.json").write_text(json.dumps({"architecture": arch}))
    doc = evaluate.manifest_doc(tmp_path, 0.5, 30.0, (0.5, 0.5))
    loaded = load_network(parse(doc, tmp_path), torch.device("cpu"))
    assert isinstance(loaded, UNet3D) and loaded.smooth_gain == 10.0
    for bad in ("10", True, 0, None):
        doc["architecture"]["smooth_gain"] = bad
        with pytest.raises(ModelLoadError, match="smooth_gain"):
            load_network(parse(doc, tmp_path), torch.device("cpu"))


def test_a_fine_tune_at_another_gain_starts_out_computing_what_its_weights_did(tmp_path: Path) -> None:
    """--init from a run trained at gain 10 into a network at gain 1 (or the other way) rescales
    the smoothed input's first-layer weights, so the fine-tune starts where that run ended."""
    torch.manual_seed(4)
    run = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=10.0).eval()
    (tmp_path / "r").mkdir()
    torch.save(fp16_state(run), tmp_path / "r" / "weights.pt")
    (tmp_path / "r" / "training.json").write_text(json.dumps({"architecture": {"smooth_channels": [1],
                                                                               "smooth_gain": 10.0}}))
    reference = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=10.0).eval()
    load_init(reference, tmp_path / "r" / "weights.pt")  # same gain: loaded as it is
    x = torch.rand(1, 2, 16, 32, 32)
    for gain in (1.0, 4.0):
        other = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=gain).eval()
        load_init(other, tmp_path / "r" / "weights.pt")
        with torch.inference_mode():
            assert torch.allclose(other(x), reference(x), atol=1e-4)


def test_a_fine_tune_reads_the_gain_of_shipped_weights_and_checkpoints(tmp_path: Path) -> None:
    """The shipped folder's training.json records a chain of runs, not one architecture: the gain
    comes from its manifest.json there, and from the checkpoint itself for a checkpoint.pt. With no
    record at all a fine-tune refuses smoothed weights rather than guess their gain."""
    torch.manual_seed(5)
    trained = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=30.0).eval()
    arch = {"name": "unet3d", "in_channels": 2, "out_channels": 4, "smooth_channels": [1], "smooth_gain": 30.0}
    x = torch.rand(1, 2, 16, 32, 32)
    with torch.inference_mode():
        want = trained(x)
    shipped, work, bare = (tmp_path / name for name in ("shipped", "work", "bare"))
    for folder in (shipped, work, bare):
        folder.mkdir()
    torch.save(fp16_state(trained), shipped / "weights.pt")
    (shipped / "training.json").write_text(json.dumps({"note": "a chain", "runs": {"A": {}}}))
    (shipped / "manifest.json").write_text(json.dumps({"architecture": arch}))
    torch.save({"step": 250, "model": trained.state_dict(), "architecture": arch}, work / "checkpoint.pt")
    for path in (shipped / "weights.pt", work / "checkpoint.pt"):
        fine_tune = UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=10.0).eval()
        load_init(fine_tune, path)
        with torch.inference_mode():
            assert torch.allclose(fine_tune(x), want, atol=1e-2), path  # fp16 weights in the shipped file
    torch.save(fp16_state(trained), bare / "weights.pt")
    with pytest.raises(ValueError, match="smooth-gain"):
        load_init(UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=10.0), bare / "weights.pt")
    (bare / "training.json").write_text(json.dumps({"architecture": {**arch, "smooth_sigma_vox": [1.0, 3.0, 3.0]}}))
    with pytest.raises(ValueError, match="sigmas"):  # a record of another smoothed input: not these weights'
        load_init(UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=10.0), bare / "weights.pt")
    with pytest.raises(ValueError, match="--smooth"):  # smoothed weights into a network without the input
        load_init(UNet3D(2, 4, widths=(4, 8, 8, 8)), shipped / "weights.pt")
