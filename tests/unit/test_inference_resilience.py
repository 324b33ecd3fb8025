"""Inference under stress, without a GPU: CUDA out-of-memory (simulated) and cancelling inside a tile.

On out-of-memory the runner must retry with one tile per call, then smaller tiles, then fall back
to the CPU, say so in the result's notes, and still produce the same findings as a plain CPU run.
A cancel must land within a layer, not only after a whole tile.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.tiny_model import BrightBlob, sagittal_volume, write_manifest
from viewer.inference import runner as runner_module
from viewer.inference.manifest import read
from viewer.inference.preprocess import model_grid
from viewer.inference.runner import Runner


@pytest.fixture
def manifest_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bright-blob"
    folder.mkdir()
    weights = folder / "model.ts"
    torch.jit.save(torch.jit.script(BrightBlob()), str(weights))
    return write_manifest(folder, weights)


def _pretend_cuda(runner: Runner, monkeypatch: pytest.MonkeyPatch, fail: set[tuple[tuple[int, int, int], int]] | None,
                  fail_resampling: bool = False) -> list[tuple[str, tuple[int, int, int], int]]:
    """Make the runner believe it has a GPU on which calls of (tile, tiles per call) in ``fail``
    (all if None) run out of memory, and resampling too with ``fail_resampling``."""
    real_predict, calls = runner_module.predict, []
    cpu_net = runner._network(torch.device("cpu"))

    def predict(net, tile_input, shape, patch, *args, tiles_per_call=1, **kwargs):  # type: ignore[no-untyped-def]
        device = args[3]  # (overlap, sigma, groups, device, tick, cancel, autocast, dtypes)
        calls.append((device.type, tuple(patch), tiles_per_call, kwargs.get("accumulate_on_device")))
        if device.type == "cuda":
            kwargs["accumulate_on_device"] = False  # the "GPU" below is the CPU
            if fail is None or (tuple(patch), tiles_per_call) in fail:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            device = torch.device("cpu")  # a "GPU" run that fits: compute it on the CPU
        return real_predict(net, tile_input, shape, patch, *args[:3], device, *args[4:6], None, *args[7:],
                            tiles_per_call=tiles_per_call, **kwargs)

    real_resample = runner_module.resample_linear

    def resample(*args, **kwargs):  # type: ignore[no-untyped-def]
        if fail_resampling:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_resample(*args[:5], torch.device("cpu"), *args[6:], **kwargs)  # the "GPU" is the CPU

    monkeypatch.setattr(runner_module, "predict", predict)
    monkeypatch.setattr(runner_module, "resample_linear", resample)
    monkeypatch.setattr(runner, "_network", lambda device: cpu_net)
    runner.device = torch.device("cuda")
    return calls


def _centres(result: runner_module.InferenceResult) -> list[np.ndarray]:
    return [np.add(*f.measurements.bbox_lps_mm) / 2 for f in result.findings]


def test_out_of_memory_retries_smaller_tiles_then_the_cpu_and_says_so(manifest_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    volume, _ = sagittal_volume()
    expected = Runner(read(manifest_dir), "cpu").run(volume)
    runner = Runner(read(manifest_dir), "cpu")
    calls = _pretend_cuda(runner, monkeypatch, fail=None)
    result = runner.run(volume)
    full = tuple(runner.manifest.inference.patch_zyx)
    assert [c[0] for c in calls] == ["cuda", "cuda", "cuda", "cpu"]
    # A user's TorchScript model gets one tile per call; first the volume leaves the GPU, then the tiles shrink
    assert calls[0][1:] == (full, 1, True) and calls[1][1:] == (full, 1, False)
    assert all(s <= f for s, f in zip(calls[2][1], full)) and calls[2][1] != full and calls[2][2:] == (1, False)
    assert calls[3][1:] == (full, 1, False)
    assert result.device == "cpu"
    assert len(result.notes) == 3 and all("out of memory" in n for n in result.notes) and "cpu" in result.notes[2]
    assert "on the host" in result.notes[0] and "calibrated on" not in result.notes[0]  # same tiles: same result
    assert "calibrated on" in result.notes[1]  # other tiles can change a per-tile-normalised network
    assert "calibrated on" not in result.notes[2]  # the CPU gets the manifest's tiles back
    assert len(result.findings) == len(expected.findings)
    for got, want in zip(_centres(result), _centres(expected)):
        assert np.allclose(got, want)


def test_a_gpu_with_room_predicts_from_the_volume_it_resampled(manifest_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path end to end, on a sagittal CT (axes permuted and flipped against the model's
    grid): it must find what the host path finds, where it finds it, in one attempt."""
    volume, _ = sagittal_volume()
    before = volume.array.copy()
    expected = Runner(read(manifest_dir), "cpu").run(volume)
    runner = Runner(read(manifest_dir), "cpu")
    calls = _pretend_cuda(runner, monkeypatch, fail=set())
    result = runner.run(volume)
    assert calls == [("cuda", tuple(runner.manifest.inference.patch_zyx), 1, True)]  # whole volume on the "GPU"
    assert result.device == "cuda" and result.notes == ()
    assert len(result.findings) == len(expected.findings) > 0
    for got, want in zip(_centres(result), _centres(expected)):
        assert np.allclose(got, want, atol=0.01)
    assert np.array_equal(volume.array, before)  # the reader's volume is not touched


def test_a_gpu_without_room_to_resample_predicts_from_the_host_copy(manifest_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    volume, _ = sagittal_volume()
    expected = Runner(read(manifest_dir), "cpu").run(volume)
    runner = Runner(read(manifest_dir), "cpu")
    calls = _pretend_cuda(runner, monkeypatch, fail=set(), fail_resampling=True)
    result = runner.run(volume)
    assert calls == [("cuda", tuple(runner.manifest.inference.patch_zyx), 1, False)]  # still on the GPU
    assert result.device == "cuda" and result.notes == ("GPU out of memory preparing the volume; resampled on the host",)
    assert len(result.findings) == len(expected.findings) > 0
    for got, want in zip(_centres(result), _centres(expected)):
        assert np.allclose(got, want)


def test_smaller_tiles_that_fit_stay_on_the_gpu(manifest_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volume, _ = sagittal_volume()
    runner = Runner(read(manifest_dir), "cpu")
    full = tuple(runner.manifest.inference.patch_zyx)
    calls = _pretend_cuda(runner, monkeypatch, fail={(full, 1)})
    result = runner.run(volume)
    assert [c[0] for c in calls] == ["cuda", "cuda", "cuda"]
    assert result.device == "cuda" and len(result.notes) == 2 and len(result.findings) == 2


def test_several_tiles_per_call_give_the_same_probabilities_and_progress() -> None:
    """Batching tiles for a GPU must not change what a network with per-tile normalisation sees."""
    from viewer.inference.sliding_window import predict

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 8, 3, padding=1), torch.nn.GroupNorm(4, 8), torch.nn.ReLU(),
                              torch.nn.Conv3d(8, 3, 1)).eval()
    field = np.random.default_rng(0).normal(size=(2, 21, 30, 27)).astype(np.float32)
    shape = (21, 30, 27)
    results, ticks = [], []
    for per_call in (1, 4, 100):
        seen: list[tuple[int, int]] = []
        results.append(predict(net, lambda box: field[(slice(None), *box)], shape, (8, 12, 12), 0.25, 0.125,
                               [[2], [0, 1]], torch.device("cpu"), lambda d, t: seen.append((d, t)),
                               tiles_per_call=per_call))
        ticks.append(seen)
    for probs in results[1:]:
        for got, want in zip(probs, results[0]):
            assert np.allclose(got, want, atol=1e-6)
    n = ticks[0][-1][1]
    assert n > 4 and all(t == [(k, n) for k in range(1, n + 1)] for t in ticks)  # every tile reported, in order


def test_the_device_path_gives_the_host_result() -> None:
    """A GPU resamples and windows the whole volume and blends the tiles where it computes them (the
    host was the bottleneck); run here on the CPU, that path must give the host path's maps and
    dtypes. The CT lies on the model's grid (2 mm voxels), so both sample whole HU exactly."""
    from viewer.core.volume import SeriesMeta, Volume
    from viewer.inference.preprocess import Window
    from viewer.inference.sliding_window import predict

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 8, 3, padding=1), torch.nn.GroupNorm(4, 8), torch.nn.ReLU(),
                              torch.nn.Conv3d(8, 3, 1)).eval()
    hu = np.random.default_rng(1).integers(-1100, 500, (19, 33, 29)).astype(np.int16)
    volume = Volume(hu, np.diag([2.0, 2.0, 2.0, 1.0]), SeriesMeta(modality="CT", units="HU"))
    grid = model_grid(volume, (2.0, 2.0, 2.0))
    windows = [Window(-1000.0, 400.0), Window(-100.0, 240.0)]
    padded = (24, 36, 36)
    cpu = torch.device("cpu")
    source = runner_module._ModelInput(volume, grid, padded, windows)
    assert np.array_equal(source.host()[:19, :33, :29], hu) and (source.host()[19:] == -1024).all()
    runs = []
    for whole in (False, True):
        tiles = source.tiles(cpu, whole)
        assert source.ready_on(cpu) == whole
        if whole:
            assert isinstance(tiles((slice(0, 8), slice(0, 12), slice(0, 12))), torch.Tensor)
        runs.append(predict(net, tiles, padded, (8, 12, 12), 0.25, 0.125, [[2], [0, 1]], cpu,
                            dtypes=[np.float32, np.float16], tiles_per_call=3, accumulate_on_device=whole))
    for got, want in zip(runs[1], runs[0]):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == padded
        assert np.allclose(got.astype(np.float32), want.astype(np.float32), atol=1e-3 if got.dtype == np.float16 else 1e-6)
    assert runs[0][0].std() > 0.01  # the maps vary, so agreeing means something
    source.release()
    assert not source.ready_on(cpu)


def test_resampling_on_the_device_matches_the_host_on_oblique_anisotropic_data() -> None:
    """The GPU's trilinear resampling must put every HU where scipy's does: an oblique source of
    0.7 x 0.9 x 2.5 mm voxels onto an axial grid, with air interpolated in at the borders."""
    from viewer.inference.on_device import resample_linear
    from viewer.inference.preprocess import resample_to

    hu = np.random.default_rng(3).integers(-1000, 1000, (23, 31, 29)).astype(np.int16)
    tilt, roll = 0.3, 0.2
    rotation = np.array([[np.cos(tilt), -np.sin(tilt), 0.0],
                         [np.sin(tilt), np.cos(tilt) * np.cos(roll), -np.sin(roll)],
                         [0.0, np.sin(roll), np.cos(roll)]])
    source = np.eye(4)
    source[:3, :3], source[:3, 3] = rotation @ np.diag([0.7, 0.9, 2.5]), [10.0, -5.0, 3.0]
    target = np.diag([1.4, 1.1, 2.0, 1.0])
    target[:3, 3] = [5.0, -12.0, 0.0]
    shape = (20, 30, 27)
    want = resample_to(hu, source, target, shape, order=1, fill=-1024.0)
    assert 0.2 < (want != -1024).mean() < 0.8  # part inside, part outside: the borders are exercised
    got = resample_linear(hu, source, target, shape, -1024.0, torch.device("cpu")).numpy()
    assert np.abs(got - want).max() < 0.05  # HU
    as_float = hu.astype(np.float32)
    assert np.allclose(resample_linear(as_float, source, target, shape, -1024.0, torch.device("cpu")).numpy(), got)
    assert np.array_equal(as_float, hu)  # a float CT on the CPU: the caller's array is not written to
    swapped = hu.astype(">i2")  # big-endian, as a file may hold it
    swapped.flags.writeable = False
    assert np.array_equal(resample_linear(swapped, source, target, shape, -1024.0, torch.device("cpu")).numpy(), got)
    padded = resample_linear(hu, source, target, shape, -1024.0, torch.device("cpu"), (24, 32, 32), whole_hu=True)
    inner = padded.numpy()[:20, :30, :27]
    assert np.abs(inner - np.rint(want)).max() <= 1 and (inner != np.rint(want)).mean() < 0.001  # ties at .5 only
    assert (padded.numpy()[20:] == -1024).all() and (padded.numpy()[:, 30:] == -1024).all()


def test_cancel_lands_inside_a_tile_between_layers() -> None:
    from viewer.inference.sliding_window import Cancelled, predict

    layers_run: list[int] = []
    flag = {"cancel": False}

    class Counting(torch.nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            layers_run.append(self.n)
            if self.n == 2:
                flag["cancel"] = True  # the reader presses Cancel while layer 2 of the first tile runs
            return x

    net = torch.nn.Sequential(*[Counting(n) for n in range(10)], torch.nn.Conv3d(1, 2, 1))
    with pytest.raises(Cancelled):
        predict(net, lambda box: np.zeros((1, 8, 8, 8), np.float32), (8, 8, 8), (8, 8, 8), 0.25, 0.125,
                [[1]], torch.device("cpu"), None, lambda: flag["cancel"])
    assert layers_run == [0, 1, 2]  # stopped at the next layer, not after the tile's ten


def test_a_volume_smaller_than_a_tile_is_predicted_on_one_whole_tile(manifest_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that normalises per tile (GroupNorm) must see the tile size it was calibrated on,
    so a small volume is padded with air to a whole tile, not predicted on a smaller one."""
    volume, _ = sagittal_volume()
    manifest = read(manifest_dir)
    expected = Runner(manifest, "cpu").run(volume)
    grid = model_grid(volume, manifest.input.spacing_zyx).shape
    big = (grid[0] + 6, grid[1] + 10, grid[2] + 12)
    manifest = dataclasses.replace(manifest, inference=dataclasses.replace(manifest.inference, patch_zyx=big))
    real_predict, seen = runner_module.predict, []

    def spy(net, tile_input, shape, patch, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((tuple(shape), tuple(patch)))
        return real_predict(net, tile_input, shape, patch, *args, **kwargs)

    monkeypatch.setattr(runner_module, "predict", spy)
    result = Runner(manifest, "cpu").run(volume)
    assert seen == [(big, big)]  # one tile, of the manifest's size
    assert len(result.findings) == len(expected.findings) == 2
    for got, want in zip(_centres(result), _centres(expected)):
        assert np.allclose(got, want)  # the padding is air: the blobs stay where they are


def test_our_network_runs_channels_last_with_the_same_result() -> None:
    """Channels-last (NDHWC) halves the CPU's bf16 time; it must not change what the network says.
    A TorchScript model a user brings keeps its own layout."""
    from viewer.inference.network import UNet3D
    from viewer.inference.sliding_window import predict

    torch.manual_seed(2)
    net = UNet3D(2, 4, widths=(4, 8, 8, 8)).eval()
    cpu = torch.device("cpu")
    assert runner_module._own_layout(net, cpu)
    assert not runner_module._own_layout(torch.jit.script(torch.nn.Conv3d(2, 4, 1)), cpu)
    field = np.random.default_rng(2).random((2, 24, 40, 40), dtype=np.float32)
    runs = []
    for last in (False, True):
        model = net.to(memory_format=torch.channels_last_3d if last else torch.contiguous_format)
        runs.append(predict(model, lambda box: field[(slice(None), *box)], (24, 40, 40), (8, 16, 16), 0.25, 0.125,
                            [[3], [1, 2]], torch.device("cpu"), tiles_per_call=2, channels_last=last))
    for got, want in zip(runs[1], runs[0]):
        assert np.allclose(got, want, atol=1e-5)
    assert runs[0][0].std() > 1e-3


def test_bfloat16_only_where_the_hardware_does_it_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without AMX or AVX-512 BF16 emulates bfloat16 (on an AMD EPYC a forward pass took 80 s
    instead of 0.4 s in float32): inference and training then compute in float32."""
    from viewer.inference import device as device_module

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(device_module, "_cpu_has_bf16", lambda: False)
    assert device_module.autocast_dtype("bfloat16", cpu) is None
    assert device_module.autocast_dtype("bfloat16", cuda) == torch.bfloat16
    assert device_module.autocast_dtype("float32", cuda) is None
    monkeypatch.setattr(device_module, "_cpu_has_bf16", lambda: True)
    assert device_module.autocast_dtype("bfloat16", cpu) == (
        torch.bfloat16 if torch.backends.mkldnn.is_available() else None)
