"""Sliding-window prediction with Gaussian blending, checked for cancellation between tiles and layers."""

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


def _outer(axes: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    a, b, c = axes
    return np.asarray(a[:, None, None] * b[None, :, None] * c[None, None, :], dtype=np.float32)


def _axis_totals(size: int, patch: int, starts: list[int], weight: NDArray[np.float32]) -> NDArray[np.float32]:
    total = np.zeros(size, np.float32)
    for s in starts:
        total[s:s + patch] += weight
    return total


TileInput = Callable[[tuple[slice, slice, slice]], NDArray[np.float32]]


@contextmanager
def _cancel_between_layers(net: torch.nn.Module, cancel: Callable[[], bool] | None) -> Iterator[None]:
    """Check ``cancel`` before every layer, so a cancel lands within one layer, not one whole tile.

    A tile can take seconds on a CPU. TorchScript modules take no hooks: they stop between tiles.
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
            dtypes: Sequence[type[np.floating]] | None = None, tiles_per_call: int = 1
            ) -> list[NDArray[np.floating]]:
    """Blended softmax probability of each group of classes: one ``shape`` array per group, of
    ``dtypes`` (default float32; float16 halves the memory of maps that are only compared).

    ``tile_input(box)`` gives the network input (channels, *box) for a box of the grid, so the
    full-size input never has to exist. Only the groups asked for are accumulated, to save memory.
    ``tiles_per_call`` tiles go through the network together (a GPU is starved by one small tile;
    each tile is still normalised on its own, so the result does not change); on CUDA the host
    blends one call's tiles while the GPU computes the next.
    """
    patch = (min(patch[0], shape[0]), min(patch[1], shape[1]), min(patch[2], shape[2]))
    starts = [tile_starts(n, p, overlap) for n, p in zip(shape, patch)]
    axes = gaussian_axes(patch, sigma_scale)
    # Tiles form a grid and the weight is separable, so the blended total is an outer product of
    # per-axis totals, known before any tile runs: each tile adds its share already divided by it.
    # Every sum then stays a probability (no tiny partial sums that float16 would flush to zero).
    totals = [_axis_totals(n, p, s, a) for n, p, s, a in zip(shape, patch, starts, axes)]
    if dtypes is not None and len(dtypes) != len(groups):
        raise ValueError(f"{len(groups)} groups but {len(dtypes)} dtypes")
    if tiles_per_call < 1:
        raise ValueError(f"tiles_per_call must be at least 1, not {tiles_per_call}")
    probs = [np.zeros(shape, dtype=d) for d in (dtypes or [np.float32] * len(groups))]
    boxes = [(slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
             for z in starts[0] for y in starts[1] for x in starts[2]]
    cuda = device.type == "cuda"
    done = 0

    def blend(chunk: list[tuple[slice, slice, slice]], out: torch.Tensor, ready: torch.cuda.Event | None) -> None:
        nonlocal done
        if ready is not None:
            ready.synchronize()
        for box, tile_out in zip(chunk, out.numpy()):
            share = _outer([a / t[b] for a, t, b in zip(axes, totals, box)])
            for prob, group_prob in zip(probs, tile_out):
                prob[box] += group_prob * share
            done += 1
            if on_tile is not None:
                on_tile(done, len(boxes))

    pending: tuple[list[tuple[slice, slice, slice]], torch.Tensor, torch.cuda.Event | None] | None = None
    with torch.inference_mode(), _cancel_between_layers(net, cancel):
        for first in range(0, len(boxes), tiles_per_call):
            if cancel is not None and cancel():
                raise Cancelled()
            chunk = boxes[first:first + tiles_per_call]
            batch = torch.from_numpy(np.stack([np.ascontiguousarray(tile_input(box)) for box in chunk]))
            batch = batch.pin_memory().to(device, non_blocking=True) if cuda else batch.to(device)
            with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                logits = net(batch)
            soft = torch.softmax(logits.float(), dim=1)
            out = torch.stack([soft[:, g].sum(dim=1) for g in groups], dim=1)  # (tiles, groups, *patch)
            ready = None
            if cuda:  # one asynchronous copy off the GPU (into pinned memory) per call
                out, ready = out.to("cpu", non_blocking=True), torch.cuda.Event()
                ready.record()
            else:
                out = out.cpu()
            if pending is not None:
                blend(*pending)
            pending = (chunk, out, ready)
        if pending is not None:
            blend(*pending)
    return probs
