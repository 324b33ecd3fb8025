"""Sliding-window prediction with Gaussian blending, checked for cancellation between network calls
(of one or a few tiles) and between layers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from numpy.typing import NDArray

TileProgress = Callable[[int, int], None]


class Cancelled(Exception):
    """Inference was cancelled; nothing was produced."""


def tile_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start offsets along one axis so that tiles of ``patch`` cover ``size`` with ``overlap``."""
    if size <= patch:
        return [0]
    step = max(1, int(patch * (1 - overlap)))
    starts = list(range(0, size - patch, step))
    return starts + [size - patch]


def gaussian_axes(patch: tuple[int, int, int], sigma_scale: float) -> list[NDArray[np.float32]]:
    """Importance of each position along each axis of a tile: centres count more than edges, which
    see less context. Floored per axis (never zero), so the 3-D weight, their product, is separable
    and the blended total needs no full-size array."""
    axes = []
    for n in patch:
        x = np.arange(n) - (n - 1) / 2
        g = np.exp(-0.5 * (x / max(n * sigma_scale, 1e-3)) ** 2)
        axes.append(np.maximum(g / g.max(), 1e-3).astype(np.float32))
    return axes


def _axis_totals(size: int, patch: int, starts: list[int], weight: NDArray[np.float32]) -> NDArray[np.float32]:
    total = np.zeros(size, np.float32)
    for s in starts:
        total[s:s + patch] += weight
    return total


# The network input (channels, *box) for a box of the grid: a numpy array, or a tensor already on
# the device (a GPU windows the whole volume once instead of the host preparing every tile).
TileInput = Callable[[tuple[slice, slice, slice]], "NDArray[np.float32] | torch.Tensor"]
_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16}


@contextmanager
def _cancel_between_layers(net: torch.nn.Module, cancel: Callable[[], bool] | None) -> Iterator[None]:
    """Check ``cancel`` before every layer, so a cancel lands within one layer, not one whole tile.

    A tile can take seconds on a CPU. TorchScript modules take no hooks: they stop between calls
    (the runner gives them one tile per call) and between mirrored passes.
    """
    handles = []
    if cancel is not None and not isinstance(net, torch.jit.ScriptModule):
        def check(_module: torch.nn.Module, _inputs: object) -> None:
            if cancel():
                raise Cancelled()

        handles = [m.register_forward_pre_hook(check) for m in net.modules() if m is not net]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def predict(net: torch.nn.Module, tile_input: TileInput, shape: tuple[int, int, int],
            patch: tuple[int, int, int], overlap: float, sigma_scale: float, groups: list[list[int]],
            device: torch.device, on_tile: TileProgress | None = None,
            cancel: Callable[[], bool] | None = None, autocast: torch.dtype | None = None,
            dtypes: Sequence[type[np.floating]] | None = None, tiles_per_call: int = 1,
            accumulate_on_device: bool | None = None, channels_last: bool = False,
            mirror_axes: Sequence[int] = (),
            region: tuple[slice, slice, slice] | None = None) -> list[NDArray[np.floating]]:
    """Blended softmax probability of each group of classes: one ``shape`` array per group, of
    ``dtypes`` (default float32; float16 halves the memory of maps that are only compared).

    ``tile_input(box)`` gives the network input for a box of the grid, so the full-size input
    never has to exist on the host. Only the groups asked for are accumulated, to save memory.
    ``tiles_per_call`` tiles go through the network together (each is still normalised on its own,
    so the result does not change). ``accumulate_on_device`` (default: on CUDA) blends on the
    device and copies each map to the host once: a GPU runs a tile far faster than a host blends it.
    ``channels_last`` feeds the network channels-last (NDHWC) tiles, for a network converted to it.
    Each of ``mirror_axes`` (0, 1, 2: z, y, x of the grid) adds a pass of the tiles flipped along it
    (one pass per axis, not every combination of them); a tile's probability is the mean softmax of
    its passes (test-time augmentation). With ``region`` (a box of the grid) only tiles inside it
    are predicted; outside it every probability is 0.
    """
    region = region or (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))
    spans = [(r.start, r.stop) for r in region]
    if any(not 0 <= lo < hi <= n for (lo, hi), n in zip(spans, shape)):
        raise ValueError(f"region {spans} is not a box inside the grid {shape}")
    patch = (min(patch[0], spans[0][1] - spans[0][0]), min(patch[1], spans[1][1] - spans[1][0]),
             min(patch[2], spans[2][1] - spans[2][0]))
    starts = [[lo + s for s in tile_starts(hi - lo, p, overlap)] for (lo, hi), p in zip(spans, patch)]
    axes = gaussian_axes(patch, sigma_scale)
    # Tiles form a grid and the weight is separable, so the blended total is an outer product of
    # per-axis totals, known before any tile runs: each tile adds its share already divided by it.
    # Every sum then stays a probability (no tiny partial sums that float16 would flush to zero).
    totals = [_axis_totals(n, p, s, a) for n, p, s, a in zip(shape, patch, starts, axes)]
    if dtypes is not None and len(dtypes) != len(groups):
        raise ValueError(f"{len(groups)} groups but {len(dtypes)} dtypes")
    if tiles_per_call < 1:
        raise ValueError(f"tiles_per_call must be at least 1, not {tiles_per_call}")
    if not set(mirror_axes) <= {0, 1, 2} or len(set(mirror_axes)) != len(mirror_axes):
        raise ValueError(f"mirror_axes must be distinct grid axes 0, 1 or 2; got {list(mirror_axes)}")
    kinds = [np.dtype(d) for d in (dtypes or [np.float32] * len(groups))]
    on_device = device.type == "cuda" if accumulate_on_device is None else accumulate_on_device
    where = device if on_device else torch.device("cpu")  # where the maps are blended
    sums = [torch.zeros(shape, dtype=_TORCH_DTYPES[k], device=where) for k in kinds]
    axes_t = [torch.from_numpy(a).to(where) for a in axes]
    totals_t = [torch.from_numpy(t).to(where) for t in totals]
    boxes = [(slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
             for z in starts[0] for y in starts[1] for x in starts[2]]
    with torch.inference_mode(), _cancel_between_layers(net, cancel):
        for first in range(0, len(boxes), tiles_per_call):
            if cancel is not None and cancel():
                raise Cancelled()
            chunk = boxes[first:first + tiles_per_call]
            parts = [tile_input(box) for box in chunk]
            batch = torch.stack([p if isinstance(p, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(p))
                                 for p in parts]).to(device)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last_3d)
            soft = _softmax(net, batch, autocast)
            for axis in mirror_axes:
                if cancel is not None and cancel():  # a TorchScript network has no layer hooks
                    raise Cancelled()
                dims = (axis + 2,)  # past the tile and channel dimensions
                soft += _softmax(net, batch.flip(dims), autocast).flip(dims)
            if mirror_axes:
                soft /= 1 + len(mirror_axes)
            # (tiles, groups, *patch); a group of one class is a view, not a sum: summing one channel
            # of a channels-last tensor took longer than the blending
            out = torch.stack([soft[:, g[0]] if len(g) == 1 else soft[:, g].sum(dim=1) for g in groups], dim=1)
            for n, (box, tile_out) in enumerate(zip(chunk, out.to(where)), start=first + 1):  # one copy per call
                za, ya, xa = (a / t[b] for a, t, b in zip(axes_t, totals_t, box))
                share = za[:, None, None] * ya[None, :, None] * xa[None, None, :]
                for total, group_prob in zip(sums, tile_out):
                    total[box].addcmul_(group_prob, share)  # in place: fewer tile-sized temporaries
                if on_tile is not None:
                    on_tile(n, len(boxes))
    return [t.cpu().numpy() for t in sums]  # on the CPU: the same memory, no copy


def _softmax(net: torch.nn.Module, batch: torch.Tensor, autocast: torch.dtype | None) -> torch.Tensor:
    """Class probabilities of a batch of tiles, in float32 whatever the autocast."""
    with torch.autocast(batch.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        logits = net(batch)
    return torch.softmax(logits.float(), dim=1)
