"""One runner for every model: preprocess -> sliding-window predict -> back to the volume -> findings.

Each stage is timed. Progress is reported per tile and cancellation is checked between tiles, so a
cancel stops within one tile's time and leaves nothing behind (the result is built only at the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from viewer.core.findings import Finding
from viewer.core.volume import Volume
from viewer.inference.device import autocast_dtype, choose_device
from viewer.inference.loading import load_network
from viewer.inference.manifest import MIRROR_AXES, ModelManifest
from viewer.inference.on_device import resample_linear
from viewer.inference.on_device import window_channels as device_windows
from viewer.inference.postprocess import findings_from_probability
from viewer.inference.preprocess import (
    BODY_HU,
    BODY_STEP,
    ModelGrid,
    Window,
    body_box,
    model_grid,
    resample_to,
    window_channels,
)
from viewer.inference.sliding_window import Cancelled, TileInput, predict

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
# Tiles per network call: one training-size tile is too small to keep a GPU busy, and on this
# project's 2-core CPU two per call were faster than one or four at under 3x the volume's memory
# (docs/benchmarks.md).
GPU_TILES_PER_CALL = 16
CPU_TILES_PER_CALL = 2
FILL_HU = -1024.0  # air, outside the scanned volume
__all__ = ["Cancelled", "InferenceResult", "Runner"]


@dataclass(frozen=True)
class InferenceResult:
    """What a run produced: proposed findings, and how the run went."""

    findings: tuple[Finding, ...]
    model_id: str
    model_version: str
    device: str
    timings_s: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)


class Runner:
    """Runs one model on volumes. The network is loaded (and checksummed) on first use."""

    def __init__(self, manifest: ModelManifest, device: str | None = None,
                 tiles_per_call: int | None = None) -> None:
        self.manifest = manifest
        self.device = choose_device(device)
        self.tiles_per_call = tiles_per_call  # None: GPU_TILES_PER_CALL on CUDA, else CPU_TILES_PER_CALL
        self._net: torch.nn.Module | None = None
        self._net_device: torch.device | None = None

    def _network(self, device: torch.device) -> torch.nn.Module:
        if self._net is None or self._net_device != device:
            net = load_network(self.manifest, device)
            if _own_layout(net, device):
                net = net.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
            self._net, self._net_device = net, device
        return self._net

    def run(self, volume: Volume, on_progress: ProgressFn | None = None,
            cancel: Callable[[], bool] | None = None) -> InferenceResult:
        """Propose findings for ``volume`` (raises Cancelled if ``cancel`` returns True)."""
        timings: dict[str, float] = {}
        notes: list[str] = []
        lesion, organs, grid, device = self.lesion_probability(volume, on_progress, cancel, timings, notes)
        with _timed(timings, "postprocess"):
            findings = findings_from_probability(lesion, grid.affine, volume, self.manifest, organs)
        return InferenceResult(tuple(findings), self.manifest.id, self.manifest.version, str(device),
                               timings, tuple(notes))

    def lesion_probability(self, volume: Volume, on_progress: ProgressFn | None = None,
                           cancel: Callable[[], bool] | None = None, timings: dict[str, float] | None = None,
                           notes: list[str] | None = None
                           ) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None, ModelGrid, torch.device]:
        """The first stages on the model's grid: lesion probability and, if the model gates, the
        gating organ of each voxel (its label value where its probability is over 0.5, else 0)."""
        timings = {} if timings is None else timings
        notes = [] if notes is None else notes
        with _timed(timings, "load"):
            self._network(self.device)
        windows = [Window(lo, hi) for lo, hi in self.manifest.input.windows]
        with _timed(timings, "preprocess"):
            grid = model_grid(volume, self.manifest.input.spacing_zyx)
            spec = self.manifest.inference
            source = _ModelInput(volume, grid, _padded(grid.shape, self._divisor(), spec.patch_zyx), windows,
                                 find_body=spec.crop_to_body)
            if self.device.type == "cuda":  # the first attempt windows the whole volume on the GPU
                source.prepare(self.device, notes)
            else:
                source.host()
            region = source.body(spec.patch_zyx) if spec.crop_to_body else None
        with _timed(timings, "predict"):
            probs, device = self._predict(source, region, on_progress, cancel, notes)
        crop = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
        organs = _organ_map([p[crop] for p in probs[1:]], self.manifest.output.gate_labels)
        lesion = probs[0][crop]
        assert lesion.dtype == np.float32  # thresholds and scores read it; see _predict
        return lesion, organs, grid, device

    def _divisor(self) -> tuple[int, int, int]:
        net = self._network(self.device)
        return getattr(net, "divisor", (1, 1, 1))

    def _predict(self, source: _ModelInput, region: tuple[slice, slice, slice] | None, on_progress: ProgressFn | None,
                 cancel: Callable[[], bool] | None, notes: list[str]
                 ) -> tuple[list[NDArray[np.floating]], torch.device]:
        """Lesion probability (float32: thresholds and scores read it) and each gating organ's
        (float16: only compared, at half the memory), over ``region`` only if given (0 outside). On
        CUDA out-of-memory retry with one tile per call (same result) and the volume kept on the
        host, then smaller tiles, then the CPU, and say so."""
        spec = self.manifest.inference
        groups = [[label.value for label in self.manifest.output.labels if label.lesion]]
        groups += [[label] for label in self.manifest.output.gate_labels]
        dtypes = [np.float32] + [np.float16] * (len(groups) - 1)
        cuda = self.device.type == "cuda"
        per_call = self.tiles_per_call or (GPU_TILES_PER_CALL if cuda else CPU_TILES_PER_CALL)
        # (device, tile, tiles per call, whole volume and maps on the device: if preprocessing made it there)
        attempts: list[tuple[torch.device, tuple[int, int, int], int, bool]] = [
            (self.device, spec.patch_zyx, per_call, source.ready_on(self.device))]
        if cuda:
            half = [max(d, p // 2 // d * d) for p, d in zip(spec.patch_zyx, self._divisor())]
            attempts += [(self.device, spec.patch_zyx, 1, False), (self.device, (half[0], half[1], half[2]), 1, False),
                         (torch.device("cpu"), spec.patch_zyx, CPU_TILES_PER_CALL, False)]
        tick = (lambda d, t: on_progress("predict", d, t)) if on_progress else None
        mirrors = [MIRROR_AXES.index(name) for name in spec.mirror_axes]
        shape = source.padded
        for n, (device, patch, per_call, whole) in enumerate(attempts):
            net = self._network(device)
            own = _own_layout(net, device)
            per_call = per_call if own else 1
            try:
                return predict(net, source.tiles(device, whole), shape, patch, spec.overlap,
                               spec.sigma_scale, groups, device, tick, cancel, autocast_dtype(spec.dtype, device),
                               dtypes, tiles_per_call=per_call, accumulate_on_device=whole, channels_last=own,
                               mirror_axes=mirrors, region=region), device
            except torch.cuda.OutOfMemoryError:
                if n + 1 == len(attempts):
                    raise
            source.release()
            torch.cuda.empty_cache()  # outside the handler: its traceback held the failed attempt's tensors
            next_device, next_patch, next_per_call, next_whole = attempts[n + 1]
            where = " (volume and maps on the host)" if whole and not next_whole and next_device.type == "cuda" else ""
            caveat = "" if next_patch == spec.patch_zyx else (
                f" (calibrated on {spec.patch_zyx}: a network that normalises per tile may find less)")
            notes.append(f"GPU out of memory with {per_call} tile(s) of {patch} per call; retrying with "
                         f"{next_per_call if own else 1} of {next_patch} on {next_device.type}{where}{caveat}")
        raise AssertionError("unreachable")


def _own_layout(net: torch.nn.Module, device: torch.device) -> bool:
    """Whether ``net`` is one of our own 3-D networks on a CPU or CUDA: those run channels-last
    (NDHWC; on this project's CPU twice as fast in bf16, on an H200 faster in bf16, see
    docs/benchmarks.md) and take several tiles per call. A model a user brings (TorchScript) keeps
    its layout and gets one tile per call: it may have been traced for one, or mix a batch."""
    return not isinstance(net, torch.jit.ScriptModule) and device.type in ("cpu", "cuda")


class _ModelInput:
    """The CT on the model's grid, padded, as each attempt needs it: windowed whole on a GPU (made
    there from the uploaded CT: resampling on one host core took longer than the GPU's prediction),
    or as HU on the host, windowed tile by tile (made once, when an attempt first needs it)."""

    def __init__(self, volume: Volume, grid: ModelGrid, padded: tuple[int, int, int], windows: list[Window],
                 find_body: bool = False) -> None:
        self.volume, self.grid, self.padded, self.windows = volume, grid, padded, windows
        self.find_body = find_body  # keep what body() needs from the GPU's copy, which is windowed at once
        self._host: NDArray[np.generic] | None = None
        self._device: tuple[torch.device, torch.Tensor] | None = None
        self._over: NDArray[np.bool_] | None = None  # every BODY_STEP-th voxel: over BODY_HU?

    def prepare(self, device: torch.device, notes: list[str]) -> None:
        """Make the device's input now (so that its time counts as preprocessing); if the GPU has
        no room for it, make the host's instead and say so."""
        try:
            full = self._on_device(device)
            if full.is_cuda:
                torch.cuda.synchronize(full.device)  # the GPU's work counts here, not in the next stage
            return
        except torch.cuda.OutOfMemoryError:
            notes.append("GPU out of memory preparing the volume; resampled on the host")
        torch.cuda.empty_cache()  # outside the handler: its traceback held the failed tensors
        self.host()

    def tiles(self, device: torch.device, whole: bool) -> TileInput:
        """The network input of a box (a tensor on ``device`` with ``whole``, else a host array)."""
        if not whole:
            hu = self.host()
            return lambda box: window_channels(hu[box], self.windows)
        full = self._on_device(device)
        return lambda box: full[(slice(None), *box)]

    def _on_device(self, device: torch.device) -> torch.Tensor:
        """The whole volume resampled and windowed on ``device`` (made once per device)."""
        if self._device is None or self._device[0] != device:
            self.release()
            on_grid = resample_linear(self.volume.array, self.volume.affine, self.grid.affine, self.grid.shape,
                                      FILL_HU, device, self.padded, whole_hu=self.volume.array.dtype == np.int16)
            if self.find_body and self._over is None:  # a small copy: the body is found without the host's CT
                self._over = (on_grid[::BODY_STEP, ::BODY_STEP, ::BODY_STEP] > BODY_HU).cpu().numpy()
            self._device = device, device_windows(on_grid, self.windows)
        return self._device[1]

    def body(self, least: tuple[int, int, int]) -> tuple[slice, slice, slice]:
        """The box of the padded grid that holds the body, at least ``least`` along each axis (from
        whichever copy of the CT was made first)."""
        if self._over is None:
            self._over = np.greater(self.host()[::BODY_STEP, ::BODY_STEP, ::BODY_STEP], BODY_HU)
        return body_box(self._over, self.padded, least)

    def host(self) -> NDArray[np.generic]:
        """HU on the model's grid, padded with air (whole HU in int16 for an int16 CT: half the memory)."""
        if self._host is None:
            v, g = self.volume, self.grid
            resampled = resample_to(v.array, v.affine, g.affine, g.shape, order=1, fill=FILL_HU)
            hu: NDArray[np.generic] = resampled
            if v.array.dtype == np.int16:
                hu = np.rint(resampled, out=resampled).astype(np.int16)
                del resampled
            pad = [(0, t - n) for t, n in zip(self.padded, hu.shape)]
            self._host = np.pad(hu, pad, constant_values=FILL_HU) if any(p[1] for p in pad) else hu
        return self._host

    def ready_on(self, device: torch.device) -> bool:
        """Whether the whole windowed volume is on ``device``."""
        return self._device is not None and self._device[0] == device

    def release(self) -> None:
        """Free the device's copy (before a retry that does without it)."""
        self._device = None


def _organ_map(probs: list[NDArray[np.floating]], labels: tuple[int, ...]) -> NDArray[np.uint8] | None:
    """The most probable gating organ of each voxel where its probability is over 0.5, else 0
    (uint8, and no full-size index temporaries: peak memory matters on big volumes)."""
    if not probs:
        return None
    organs = np.zeros(probs[0].shape, np.uint8)
    best = np.full(probs[0].shape, 0.5, probs[0].dtype)
    for label, prob in zip(labels, probs):
        over = prob > best
        organs[over] = label
        np.copyto(best, prob, where=over)
    return organs


def _padded(shape: tuple[int, int, int], divisor: tuple[int, int, int],
            tile: tuple[int, int, int]) -> tuple[int, int, int]:
    """The grid padded (with air, at the far end) to whole multiples of the network's divisor, and
    to at least one whole ``tile``: a network that normalises per tile (GroupNorm) must see the
    tile size it was calibrated on, even when the volume is smaller."""
    z, y, x = (max(-(-n // d) * d, t) for n, d, t in zip(shape, divisor, tile))
    return z, y, x


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - t0, 3)
