"""The inference engine with a second, tiny model: a TorchScript file plus a manifest, as a user
would bring one. It marks bright blobs as lesions, so the geometry of what comes out is known."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.data.tiny_model import BrightBlob, sagittal_volume, write_manifest
from viewer.core.findings import Origin, Status
from viewer.core.volume import Volume
from viewer.inference.loading import ModelLoadError, load_network
from viewer.inference.manifest import Label, ManifestError, ModelManifest, read
from viewer.inference.registry import discover
from viewer.inference.runner import Cancelled, Runner
from viewer.inference.sliding_window import gaussian_axes, tile_starts


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "bright-blob"
    folder.mkdir(parents=True)
    weights = folder / "model.ts"
    torch.jit.save(torch.jit.script(BrightBlob()), str(weights))
    return write_manifest(folder, weights)


def test_finds_each_blob_at_its_place_with_its_size(model_dir: Path) -> None:
    volume, spheres = sagittal_volume()
    ticks: list[tuple[str, int, int]] = []
    result = Runner(read(model_dir), "cpu").run(volume, lambda s, d, t: ticks.append((s, d, t)))
    assert len(result.findings) == 2
    assert ticks and ticks[-1][1] == ticks[-1][2]  # progress reached the last tile
    assert set(result.timings_s) == {"load", "preprocess", "predict", "postprocess"}
    for finding, (centre, radius) in zip(result.findings, spheres):  # biggest first
        m = finding.measurements
        found_centre = (np.array(m.bbox_lps_mm[0]) + np.array(m.bbox_lps_mm[1])) / 2
        assert np.linalg.norm(found_centre - centre) < 3.0  # coarse 2 mm model grid, 3 mm slices
        assert abs(m.long_axis_mm - 2 * radius) < 3.0
        assert m.volume_ml == pytest.approx(4 / 3 * np.pi * radius ** 3 / 1000, rel=0.25)
        assert m.mean == pytest.approx(300, abs=30)
        assert finding.status is Status.PROPOSED and finding.provenance.origin is Origin.AI
        assert finding.provenance.model_id == "test-bright-blob" and 0.5 < finding.provenance.score <= 1
        assert finding.kind == "lesion" and finding.uid.startswith("2.25.")


def test_cancel_stops_and_returns_nothing(model_dir: Path) -> None:
    volume, _ = sagittal_volume()
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        Runner(read(model_dir), "cpu").run(volume, cancel=cancel)


def test_checksum_mismatch_is_refused(model_dir: Path) -> None:
    (model_dir / "model.ts").write_bytes((model_dir / "model.ts").read_bytes() + b"tampered")
    with pytest.raises(ModelLoadError, match="checksum"):
        load_network(read(model_dir), torch.device("cpu"))


def test_weights_that_need_pickled_code_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    folder.mkdir()
    weights = folder / "weights.pt"
    torch.save({"net": BrightBlob()}, weights)  # a pickled module: would run code to load
    write_manifest(folder, weights, format="state-dict", architecture={"name": "unet3d"})
    with pytest.raises(ModelLoadError, match="pickled code"):
        load_network(read(folder), torch.device("cpu"))


def test_bad_manifests_name_the_field(model_dir: Path) -> None:
    weights = model_dir / "model.ts"
    write_manifest(model_dir, weights, inference={"patch_zyx": [16, 32, 32], "overlap": 1.5})
    with pytest.raises(ManifestError, match="overlap"):
        read(model_dir)
    doc = json.loads((model_dir / "manifest.json").read_text())
    del doc["input"]
    (model_dir / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="input"):
        read(model_dir)


def test_registry_lists_models_and_reports_broken_ones(model_dir: Path) -> None:
    broken = model_dir.parent / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    found = discover(model_dir.parent)
    assert [m.id for m in found.models] == ["test-bright-blob"]
    assert found.errors and found.errors[0][0] == broken
    with pytest.raises(KeyError, match="test-bright-blob"):
        found.get("missing")


def test_tiles_cover_the_volume_and_blend_smoothly() -> None:
    starts = tile_starts(100, 32, 0.5)
    covered = np.zeros(100, bool)
    for s in starts:
        covered[s:s + 32] = True
    assert covered.all() and starts[-1] == 68
    a, b, c = gaussian_axes((8, 16, 16), 0.125)
    w = a[:, None, None] * b[None, :, None] * c[None, None, :]
    assert w.max() == pytest.approx(1.0) and w.min() > 0 and w[4, 8, 8] > w[0, 0, 0]


def test_blending_overlapping_tiles_keeps_probabilities_exact() -> None:
    """Wherever tiles overlap (and on odd sizes that leave a last, shifted tile) the blended
    probability of a network that says the same everywhere is that same value."""
    import torch

    from viewer.inference.sliding_window import predict

    class Flat(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros((x.shape[0], 4, *x.shape[2:]))
            logits[:, 3] = 1.0
            return logits

    shape = (37, 50, 45)
    probs = predict(Flat(), lambda box: np.zeros((1, *(s.stop - s.start for s in box)), np.float32), shape,
                    (16, 32, 32), 0.25, 0.125, [[3], [1, 2]], torch.device("cpu"), dtypes=[np.float32, np.float16])
    lesion = np.e / (np.e + 3)
    assert [p.shape for p in probs] == [shape, shape] and [p.dtype for p in probs] == [np.float32, np.float16]
    assert np.allclose(probs[0], lesion, atol=1e-5)
    # float16 (the organ maps) is exact to its precision everywhere, also in the volume's corners,
    # where the tiles' own weights are ~1e-9 and unnormalised sums would flush to zero.
    assert np.allclose(probs[1], 2 / (np.e + 3), atol=1e-3)


SHIFTS = (1, 2, 3)  # voxels along z, y, x


class _Leans(torch.nn.Module):
    """Lesion logit: the first channel moved by a different number of voxels along each axis (a
    network with a bias towards one side, one end and one face)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lesion = torch.roll(x[:, :1], SHIFTS, dims=(-3, -2, -1))
        return torch.cat([-lesion, lesion], dim=1)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-2 * a))  # the lesion class's softmax of (-a, a)


def test_mirrored_passes_average_each_tile_with_its_mirror_image() -> None:
    """Mirroring along an axis averages the network's view with its view of the tile flipped along
    that axis, flipped back: a lean to one side becomes half a lean to each, along that axis only.
    So a scan mirrored left to right gets exactly the mirrored probabilities (without mirroring it
    does not)."""
    from viewer.inference.sliding_window import predict

    rng = np.random.default_rng(3)
    ct = rng.normal(0, 2, (1, 8, 12, 16)).astype(np.float32)

    def run(image: np.ndarray, mirror: list[int]) -> np.ndarray:
        return predict(_Leans(), lambda box: image[(slice(None), *box)], image.shape[1:], (8, 12, 16),
                       0.25, 0.125, [[1]], torch.device("cpu"), mirror_axes=mirror)[0]

    for axis in (0, 1, 2):
        opposite = tuple(-s if a == axis else s for a, s in enumerate(SHIFTS))
        expected = (_sigmoid(np.roll(ct[0], SHIFTS, axis=(0, 1, 2)))
                    + _sigmoid(np.roll(ct[0], opposite, axis=(0, 1, 2)))) / 2
        assert np.allclose(run(ct, [axis]), expected, atol=1e-6), f"axis {axis}"
    left_right = ct[..., ::-1].copy()
    assert np.allclose(run(left_right, [2]), run(ct, [2])[..., ::-1], atol=1e-6)
    assert not np.allclose(run(left_right, []), run(ct, [])[..., ::-1], atol=1e-2)
    for wrong in ([3], [2, 2]):
        with pytest.raises(ValueError, match="mirror_axes"):
            run(ct, wrong)


def test_mirrored_passes_give_the_same_map_with_several_tiles_per_call() -> None:
    """Our own networks run channels-last, several tiles per call: with mirrored passes that path
    must give the map one plain tile at a time gives, over a grid of overlapping tiles."""
    from viewer.inference.sliding_window import predict

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 8, 3, padding=1), torch.nn.GroupNorm(2, 8), torch.nn.ReLU(),
                              torch.nn.Conv3d(8, 3, 3, padding=1)).eval()
    image = np.random.default_rng(4).random((2, 20, 40, 36)).astype(np.float32)

    def run(mirror: list[int], per_call: int, channels_last: bool) -> np.ndarray:
        model = net.to(memory_format=torch.channels_last_3d) if channels_last else net  # type: ignore[call-overload]
        return predict(model, lambda box: image[(slice(None), *box)], image.shape[1:], (8, 16, 16), 0.25, 0.125,
                       [[2]], torch.device("cpu"), tiles_per_call=per_call, channels_last=channels_last,
                       mirror_axes=mirror)[0]

    one_by_one = run([0, 2], 1, False)
    assert np.allclose(run([0, 2], 3, True), one_by_one, atol=1e-5)
    assert not np.allclose(run([], 1, False), one_by_one, atol=1e-3)


def test_a_pointwise_model_finds_the_same_with_mirrored_passes(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pass is flipped back onto the right voxels: a model without a side bias gives the same
    map, on a sagittal, anisotropic scan, with every mirror the manifest can ask for."""
    import viewer.inference.runner as runner_module

    volume, _ = sagittal_volume()
    plain, *_ = Runner(read(model_dir), "cpu").lesion_probability(volume)
    asked: list[list[int]] = []
    predict = runner_module.predict

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(list(kwargs["mirror_axes"]))
        return predict(*args, **kwargs)

    monkeypatch.setattr(runner_module, "predict", spy)
    write_manifest(model_dir, model_dir / "model.ts",
                   inference={"patch_zyx": [16, 32, 32], "overlap": 0.25, "mirror_axes": ["x", "z", "y"]})
    mirrored, *_ = Runner(read(model_dir), "cpu").lesion_probability(volume)
    assert asked == [[2, 0, 1]]
    assert plain.max() > 0.99 and np.allclose(mirrored, plain, atol=1e-5)
    for wrong in (["left"], ["x", "x"], "x"):
        write_manifest(model_dir, model_dir / "model.ts", inference={"patch_zyx": [16, 32, 32], "mirror_axes": wrong})
        with pytest.raises(ManifestError, match="mirror_axes"):
            read(model_dir)


def _with_organs(manifest: ModelManifest, **output: Any) -> ModelManifest:
    """The tiny model's manifest as if it also segmented liver (2) and lung (3)."""
    labels = (*manifest.output.labels, Label(2, "liver"), Label(3, "lung"))
    return dataclasses.replace(manifest, output=dataclasses.replace(manifest.output, labels=labels, **output))


def test_gate_labels_and_their_shares_are_checked(model_dir: Path) -> None:
    doc = json.loads((model_dir / "manifest.json").read_text())
    doc["output"]["labels"] += [{"value": 2, "name": "liver"}, {"value": 3, "name": "lung"}]
    for gates, shares, wrong in [([1], 0.5, "gate_labels"),  # the lesion itself
                                 ([2, 2], 0.5, "gate_labels"), ([2, 7], 0.5, "gate_labels"),
                                 ("23", 0.5, "gate_labels"), ([2.5], 0.5, "gate_labels"),
                                 ([2, 3], [0.5], "min_gate_fraction"), ([2, 3], {"4": 0.5}, "min_gate_fraction"),
                                 ([2, 3], "most", "min_gate_fraction"), ([2, 3], 1.5, "min_gate_fraction")]:
        doc["output"].update(gate_labels=gates, min_gate_fraction=shares)
        (model_dir / "manifest.json").write_text(json.dumps(doc))
        with pytest.raises(ManifestError, match=wrong):
            read(model_dir)
    for shares in (0.4, [0.4, 0.9], {"3": 0.9, "2": 0.4}):  # a number, a list, a mapping
        doc["output"].update(gate_labels=[2, 3], min_gate_fraction=shares)
        (model_dir / "manifest.json").write_text(json.dumps(doc))
        output = read(model_dir).output
        assert output.gate_labels == (2, 3) and output.gate_minimum(2) == 0.4
        assert output.gate_minimum(3) == (0.4 if shares == 0.4 else 0.9)
    doc["output"]["max_elongation"] = float("nan")
    (model_dir / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="max_elongation"):
        read(model_dir)
    doc["output"] = []
    (model_dir / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="output"):
        read(model_dir)


def test_organ_gating_keeps_only_candidates_inside_the_organ(model_dir: Path) -> None:
    from viewer.inference.postprocess import findings_from_probability

    manifest = _with_organs(read(model_dir), gate_labels=(2,), min_gate_fraction=(0.7,))
    shape = (20, 40, 40)
    prob = np.zeros(shape, np.float32)
    prob[5:10, 5:12, 5:12] = 1.0  # inside the organ
    prob[5:10, 25:32, 25:32] = 1.0  # outside it
    organ = np.zeros(shape, np.uint8)
    organ[:, :20, :20] = 2
    volume = Volume(np.zeros(shape, np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
    [kept] = findings_from_probability(prob, volume.affine, volume, manifest, organ)
    assert kept.region.offset[1] < 20 and kept.region.offset[2] < 20
    assert len(findings_from_probability(prob, volume.affine, volume, read(model_dir), organ)) == 2


def test_each_gating_organ_has_its_own_minimum_share(model_dir: Path) -> None:
    """A liver metastasis at the liver's edge has liver on only part of its shell, a nodule has lung
    all round: the liver may ask for less than the lung, and each candidate is judged by its organ."""
    from viewer.inference.postprocess import findings_from_probability

    manifest = _with_organs(read(model_dir), gate_labels=(2, 3), min_gate_fraction=(0.3, 0.9))
    shape = (20, 60, 60)
    prob = np.zeros(shape, np.float32)
    organ = np.zeros(shape, np.uint8)
    organ[:, :30, :30] = 2  # liver
    organ[:, 30:, 30:] = 3  # lung
    prob[5:10, 24:31, 10:17] = 1.0  # on the liver's edge: under half its shell is liver
    prob[5:10, 29:36, 40:47] = 1.0  # on the lung's edge, as much lung around it: too little
    prob[5:10, 42:49, 42:49] = 1.0  # inside the lung
    volume = Volume(np.zeros(shape, np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
    kept = findings_from_probability(prob, volume.affine, volume, manifest, organ)
    assert sorted((f.region.offset[1], f.region.offset[2]) for f in kept) == [(24, 10), (42, 42)]


def test_hysteresis_keeps_seeded_components_at_their_full_extent(model_dir: Path) -> None:
    from viewer.inference.postprocess import findings_from_probability

    shape = (20, 40, 40)
    prob = np.zeros(shape, np.float32)
    prob[4:12, 4:16, 4:16] = 0.4  # a lesion's faint rim ...
    prob[6:10, 8:12, 8:12] = 0.95  # ... around a confident core: one finding, rim included
    prob[4:12, 24:36, 24:36] = 0.6  # never confident: dropped
    volume = Volume(np.zeros(shape, np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
    manifest = read(model_dir)
    manifest = dataclasses.replace(manifest, output=dataclasses.replace(
        manifest.output, threshold=0.3, seed_threshold=0.9, min_volume_mm3=0.0))
    [kept] = findings_from_probability(prob, volume.affine, volume, manifest)
    assert kept.region.offset[1] < 20 and kept.region.mask.sum() == pytest.approx(8 * 12 * 12, rel=0.25)
    assert kept.provenance.score == pytest.approx(0.95)  # the component's peak
    plain = dataclasses.replace(manifest, output=dataclasses.replace(manifest.output, seed_threshold=None))
    assert len(findings_from_probability(prob, volume.affine, volume, plain)) == 2


def test_seed_threshold_below_the_threshold_is_refused(model_dir: Path) -> None:
    doc = json.loads((model_dir / "manifest.json").read_text())
    doc["output"]["seed_threshold"] = 0.4  # the threshold is 0.5
    (model_dir / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="seed_threshold"):
        read(model_dir)
    doc["output"]["seed_threshold"] = 0.9
    (model_dir / "manifest.json").write_text(json.dumps(doc))
    assert read(model_dir).output.seed == 0.9


def test_elongated_components_can_be_left_out(model_dir: Path) -> None:
    """A model whose tumours are round may drop long thin components (vessels); by default none is."""
    from viewer.inference.postprocess import findings_from_probability

    manifest = read(model_dir)
    shape = (30, 60, 60)
    prob = np.zeros(shape, np.float32)
    zz, yy, xx = np.mgrid[:30, :60, :60]
    prob[(zz - 15) ** 2 + (yy - 15) ** 2 + (xx - 15) ** 2 <= 36] = 1.0  # a ball 13 voxels across
    prob[13:16, 40:43, 5:55] = 1.0  # a rod 50 voxels long, as much volume as a ball 14 across
    volume = Volume(np.zeros(shape, np.int16), np.diag([1.5, 1.0, 1.0, 1.0]))
    assert len(findings_from_probability(prob, volume.affine, volume, manifest)) == 2
    strict = dataclasses.replace(manifest, output=dataclasses.replace(manifest.output, max_elongation=1.5))
    [ball] = findings_from_probability(prob, volume.affine, volume, strict)
    assert ball.measurements.max_diameter_mm < 20


def test_each_voxel_gets_its_most_probable_gating_organ_over_one_half() -> None:
    from viewer.inference.runner import _organ_map

    liver = np.array([0.9, 0.4, 0.3, 0.5, 0.6], np.float32)
    lung = np.array([0.05, 0.45, 0.6, 0.2, 0.7], np.float32)
    organs = _organ_map([liver, lung], (1, 2))
    assert organs is not None and organs.dtype == np.uint8
    assert organs.tolist() == [1, 0, 2, 0, 2]  # 0.5 itself is not over one half
    assert _organ_map([], ()) is None


def test_resampling_onto_the_model_grid_keeps_patient_positions_for_any_input_dtype() -> None:
    """A ramp of 10 HU per voxel along x (2 mm voxels) read at 1 mm steps is 5 HU per mm, whether
    the CT comes as int16 (read without a float32 copy) or float16 (widened for scipy)."""
    from viewer.inference.preprocess import resample_to

    ramp = np.broadcast_to(np.arange(14) * 10, (6, 8, 14))
    source = np.diag([2.0, 2.0, 3.0, 1.0])
    target = np.diag([1.0, 1.0, 1.5, 1.0])
    outs = [resample_to(ramp.astype(dtype), source, target, (10, 14, 26), order=1, fill=-1024.0)
            for dtype in (np.int16, np.float16, np.float32)]
    x_mm = np.arange(26) * 1.0
    for out in outs:
        assert out.dtype == np.float32
        assert np.allclose(out[3, 5], 5.0 * x_mm)  # along x, in mm of the patient
    assert np.array_equal(outs[0], outs[2]) and np.array_equal(outs[1], outs[2])
