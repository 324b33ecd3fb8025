"""Predicting only the box that holds the body (``inference.crop_to_body``): the air around a CT and
the scanner table have nothing to find, and a 512 x 512 field of view is often a quarter wider
than the body, so skipping them saves tiles. What is inside must be found as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.tiny_model import BrightBlob, write_manifest
from viewer.core.volume import SeriesMeta, Volume
from viewer.inference import runner as runner_module
from viewer.inference.manifest import ManifestError, read
from viewer.inference.preprocess import BODY_HU, BODY_STEP, Window, body_box, model_grid
from viewer.inference.runner import Runner
from viewer.inference.sliding_window import predict

BLOBS = ((20, 30, 40), (12, 48, 70))  # (z, y, x) voxels, inside the body


def _torso(shape: tuple[int, int, int] = (30, 96, 110)) -> np.ndarray:
    """HU on a 2 mm grid: an elliptic body with a lung and two bright blobs, in air, above a table."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    hu = np.full(shape, -1000, np.int16)
    hu[((y - 40) / 28.0) ** 2 + ((x - 55) / 40.0) ** 2 <= 1] = 40  # rows 12-68, columns 15-95
    hu[((y - 35) / 10.0) ** 2 + ((x - 40) / 12.0) ** 2 <= 1] = -850  # a lung: inside, under the level
    hu[(y >= 74) & (y <= 75)] = 200  # the table: a thin shell across the whole width, below a gap
    for centre in BLOBS:
        hu[np.sum((np.stack([z, y, x], -1) - centre) ** 2, -1) <= 16] = 300
    return hu


def _box(hu: np.ndarray, least: tuple[int, int, int] = (1, 1, 1)) -> tuple[slice, slice, slice]:
    return body_box(hu[::BODY_STEP, ::BODY_STEP, ::BODY_STEP] > BODY_HU, hu.shape, least)


def test_the_body_box_holds_the_body_and_leaves_out_the_table_and_the_air() -> None:
    hu = _torso()
    z, y, x = _box(hu)
    body = np.argwhere(hu > BODY_HU)
    body = body[body[:, 1] < 74]  # not the table
    assert (z.start, z.stop) == (0, 30)  # the body runs through every slice
    assert y.start <= body[:, 1].min() and y.stop > body[:, 1].max() and x.start <= body[:, 2].min()
    assert x.stop > body[:, 2].max()
    assert y.stop <= 74  # the table's rows are left out
    assert (y.stop - y.start) * (x.stop - x.start) < 0.7 * hu.shape[1] * hu.shape[2]  # most of the air too


def test_every_sizeable_body_part_counts_and_the_box_is_at_least_a_tile() -> None:
    hu = np.full((20, 80, 120), -1000, np.int16)
    hu[:, 20:60, 10:40] = 30  # two legs, apart
    hu[:, 20:60, 70:110] = 30
    _, y, x = _box(hu)
    assert x.start <= 10 and x.stop >= 110
    _, y, x = _box(hu, least=(8, 64, 64))
    assert y.stop - y.start == 64 and y.start <= 20 and y.stop >= 60 and 0 <= y.start and y.stop <= 80
    nothing = np.full((10, 20, 30), -1000, np.int16)
    assert _box(nothing) == (slice(0, 10), slice(0, 20), slice(0, 30))  # no body found: all of it


def test_a_region_is_predicted_as_the_same_box_cut_out_and_nothing_outside() -> None:
    """Tiles are laid from the region's corner, so predicting a region of a volume gives what
    predicting that box alone gives: the network sees the same tiles."""
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 8, 3, padding=1), torch.nn.GroupNorm(4, 8), torch.nn.ReLU(),
                              torch.nn.Conv3d(8, 2, 1)).eval()
    data = np.random.default_rng(2).random((1, 30, 50, 60)).astype(np.float32)
    region = (slice(3, 27), slice(7, 44), slice(10, 60))
    cpu = torch.device("cpu")
    whole = predict(net, lambda box: data[(slice(None), *box)], data.shape[1:], (8, 16, 16), 0.25, 0.125, [[1]], cpu,
                    tiles_per_call=2, region=region)[0]
    cut = data[(slice(None), *region)]
    alone = predict(net, lambda box: cut[(slice(None), *box)], cut.shape[1:], (8, 16, 16), 0.25, 0.125, [[1]], cpu,
                    tiles_per_call=2)[0]
    assert np.allclose(whole[region], alone, atol=1e-6) and alone.std() > 0.01
    outside = np.ones(whole.shape, bool)
    outside[region] = False
    assert (whole[outside] == 0).all()
    with pytest.raises(ValueError, match="region"):
        predict(net, lambda box: data[(slice(None), *box)], data.shape[1:], (8, 16, 16), 0.25, 0.125, [[1]], cpu,
                region=(slice(0, 31), slice(0, 50), slice(0, 60)))


@pytest.fixture
def blob_model(tmp_path: Path) -> Path:
    weights = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(BrightBlob()), str(weights))
    return write_manifest(tmp_path, weights)


def test_cropping_to_the_body_finds_the_same_lesions_with_fewer_tiles(blob_model: Path) -> None:
    volume = Volume(_torso(), np.diag([2.0, 2.0, 2.0, 1.0]), SeriesMeta(modality="CT", units="HU"))
    plain = read(blob_model)
    plain = dataclasses.replace(plain, inference=dataclasses.replace(plain.inference, patch_zyx=(16, 24, 24)))
    cropped = dataclasses.replace(plain, inference=dataclasses.replace(plain.inference, crop_to_body=True))
    results, tiles, maps = [], [], []
    for manifest in (plain, cropped):
        ticks: list[int] = []
        results.append(Runner(manifest, "cpu").run(volume, lambda stage, done, total: ticks.append(total)))
        tiles.append(ticks[-1])
        maps.append(Runner(manifest, "cpu").lesion_probability(volume)[0])
    assert tiles[1] < 0.75 * tiles[0]
    # this rule also calls the table (200 HU) a lesion; the body's box leaves it out
    table = [f for f in results[0].findings if f.region.offset[1] >= 74]
    in_body = [f for f in results[0].findings if f.region.offset[1] < 74]
    assert len(table) == 1 and len(in_body) == len(results[1].findings) == len(BLOBS)
    for got, want in zip(results[1].findings, in_body):
        assert got.measurements.bbox_lps_mm == want.measurements.bbox_lps_mm
        assert got.measurements.volume_ml == pytest.approx(want.measurements.volume_ml)
    body = np.zeros(maps[0].shape, bool)
    body[:, :74] = True
    assert np.allclose(maps[1][body], maps[0][body], atol=1e-6)  # a pointwise model: the same probabilities
    assert maps[0][~body].max() > 0.5 and maps[1][~body].max() == 0


def test_the_gpu_path_finds_the_body_box_the_host_path_finds() -> None:
    hu = _torso()
    volume = Volume(hu, np.diag([2.0, 2.0, 2.0, 1.0]), SeriesMeta(modality="CT", units="HU"))
    grid = model_grid(volume, (2.0, 2.0, 2.0))
    windows = [Window(-1000.0, 400.0)]
    host = runner_module._ModelInput(volume, grid, (32, 96, 112), windows)
    device = runner_module._ModelInput(volume, grid, (32, 96, 112), windows, find_body=True)
    device.tiles(torch.device("cpu"), whole=True)  # as a GPU does: made on the device, no host copy
    assert device.body((16, 24, 24)) == host.body((16, 24, 24)) == _box(np.pad(hu, ((0, 2), (0, 0), (0, 2)),
                                                                                 constant_values=-1024), (16, 24, 24))


def test_only_ct_models_may_crop_to_the_body(blob_model: Path) -> None:
    import json

    doc = json.loads((blob_model / "manifest.json").read_text())
    doc["inference"]["crop_to_body"] = True
    doc["input"]["modalities"] = ["MR"]
    (blob_model / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="crop_to_body.*CT"):
        read(blob_model)
    doc["input"]["modalities"] = ["CT"]
    doc["inference"]["crop_to_body"] = "yes"
    (blob_model / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="crop_to_body must be true or false"):
        read(blob_model)
