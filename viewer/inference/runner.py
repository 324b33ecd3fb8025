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
from viewer.inference.device import choose_device
from viewer.inference.loading import load_network
from viewer.inference.manifest import ModelManifest
from viewer.inference.postprocess import findings_from_probability
from viewer.inference.preprocess import ModelGrid, Window, model_grid, resample_to, window_channels
from viewer.inference.sliding_window import Cancelled, TileInput, predict

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
# Tiles per network call: one training-size tile is too small to keep a GPU busy, and on this
# project's 2-core CPU two per call were faster than one or four at under 3x the volume's memory
# (docs/benchmarks.md).
GPU_TILES_PER_CALL = 16
CPU_TILES_PER_CALL = 2
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
        with _timed(timings, "preprocess"):
            grid = model_grid(volume, self.manifest.input.spacing_zyx)
            resampled = resample_to(volume.array, volume.affine, grid.affine, grid.shape, order=1, fill=-1024.0)
            hu: NDArray[np.generic] = resampled
            if volume.array.dtype == np.int16:  # whole HU are enough, and half the memory while predicting
                hu = np.rint(resampled, out=resampled).astype(np.int16)
                del resampled
            hu, crop = _pad(hu, self._divisor(), -1024.0, self.manifest.inference.patch_zyx)
        windows = [Window(lo, hi) for lo, hi in self.manifest.input.windows]
        with _timed(timings, "predict"):
            probs, device = self._predict(hu, windows, on_progress, cancel, notes)
        organs = _organ_map([p[crop] for p in probs[1:]], self.manifest.output.gate_labels)
        lesion = probs[0][crop]
        assert lesion.dtype == np.float32  # thresholds and scores read it; see _predict
        return lesion, organs, grid, device

    def _divisor(self) -> tuple[int, int, int]:
        net = self._network(self.device)
        return getattr(net, "divisor", (1, 1, 1))

    def _predict(self, hu: NDArray[np.generic], windows: list[Window], on_progress: ProgressFn | None,
                 cancel: Callable[[], bool] | None, notes: list[str]
                 ) -> tuple[list[NDArray[np.floating]], torch.device]:
        """Lesion probability (float32: thresholds and scores read it) and each gating organ's
        (float16: only compared, at half the memory). On CUDA out-of-memory retry with one tile per
        call (same result) and the volume kept on the host, then smaller tiles, then the CPU, and
        say so."""
        spec = self.manifest.inference
        groups = [[label.value for label in self.manifest.output.labels if label.lesion]]
        groups += [[label] for label in self.manifest.output.gate_labels]
        dtypes = [np.float32] + [np.float16] * (len(groups) - 1)
        cuda = self.device.type == "cuda"
        per_call = self.tiles_per_call or (GPU_TILES_PER_CALL if cuda else CPU_TILES_PER_CALL)
        # (device, tile, tiles per call, whole volume and maps on the device)
        attempts: list[tuple[torch.device, tuple[int, int, int], int, bool]] = [
            (self.device, spec.patch_zyx, per_call, cuda)]
        if cuda:
            half = [max(d, p // 2 // d * d) for p, d in zip(spec.patch_zyx, self._divisor())]
            attempts += [(self.device, spec.patch_zyx, 1, False), (self.device, (half[0], half[1], half[2]), 1, False),
                         (torch.device("cpu"), spec.patch_zyx, CPU_TILES_PER_CALL, False)]
        tick = (lambda d, t: on_progress("predict", d, t)) if on_progress else None
        shape = (hu.shape[0], hu.shape[1], hu.shape[2])
        for n, (device, patch, per_call, whole) in enumerate(attempts):
            net = self._network(device)
            own = _own_layout(net, device)
            per_call = per_call if own else 1
            try:
                return predict(net, _tile_input(hu, windows, device, whole), shape, patch, spec.overlap,
                               spec.sigma_scale, groups, device, tick, cancel, _autocast_dtype(spec.dtype, device),
                               dtypes, tiles_per_call=per_call, accumulate_on_device=whole, channels_last=own), device
            except torch.cuda.OutOfMemoryError:
                if n + 1 == len(attempts):
                    raise
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


def _tile_input(hu: NDArray[np.generic], windows: list[Window], device: torch.device, whole: bool) -> TileInput:
    """The network input of a box. With ``whole`` (the runner's first try on CUDA) the volume is
    windowed on the device once (4 bytes a voxel per window there): preparing every tile on the host
    took longer than the GPU's work on it."""
    if not whole:
        return lambda box: window_channels(hu[box], windows)
    source = torch.from_numpy(np.ascontiguousarray(hu)).to(device)
    full = torch.empty((len(windows), *hu.shape), dtype=torch.float32, device=device)
    for channel, w in zip(full, windows):  # as window_channels does (float: int16 would overflow)
        torch.sub(source, float(w.low), out=channel).mul_(1.0 / (w.high - w.low)).clamp_(0.0, 1.0)
    del source
    return lambda box: full[(slice(None), *box)]


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


def _autocast_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 autocast where the manifest allows it and the hardware does it fast."""
    if name != "bfloat16":
        return None
    if device.type == "cuda":
        return torch.bfloat16
    fast = getattr(torch.backends.mkldnn, "is_available", lambda: False)() and _cpu_has_bf16()
    return torch.bfloat16 if device.type == "cpu" and fast else None


def _cpu_has_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _pad(hu: NDArray[np.generic], divisor: tuple[int, int, int], fill: float,
         tile: tuple[int, int, int]) -> tuple[NDArray[np.generic], tuple[slice, slice, slice]]:
    """Pad (with air) to whole multiples of the network's divisor, and to at least one whole
    ``tile``: a network that normalises per tile (GroupNorm) must see the tile size it was
    calibrated on, even when the volume is smaller. The crop undoes it."""
    shape = hu.shape
    target = [max(-(-n // d) * d, t) for n, d, t in zip(shape, divisor, tile)]
    crop = (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))
    if list(shape) == target:
        return hu, crop
    return np.pad(hu, [(0, t - n) for t, n in zip(target, shape)], constant_values=fill), crop


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - t0, 3)
