"""Branching vessel trees (lung vessels, hepatic and portal veins) drawn as tapered tubes.

A tree is a binary tree of segments whose random numbers are all drawn up front, so the number
of draws never depends on the grid. Branches grow towards random points inside their organ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.synth.grid import F32, Frame

F64 = NDArray[np.float64]
Inside = Callable[[F64], NDArray[np.bool_]]  # which of the points (n, 3) lie inside the organ
_AIMED_GENERATIONS = 4  # generations steered towards points inside the organ
MIN_RADIUS_MM = 0.5  # thinner branches are below any CT's resolution


@dataclass(frozen=True)
class Segments:
    """Tapered tubes, one per row: from ``start`` to ``end`` (u, v, w) mm, radius ``r_start`` to ``r_end``."""

    start: F64
    end: F64
    r_start: F64
    r_end: F64


@dataclass(frozen=True)
class TreeSpec:
    """How a tree grows from its root."""

    root: tuple[float, float, float]
    direction: tuple[float, float, float]
    length: float         # mm, of the root segment
    radius: float         # mm, at the root
    depth: int            # generations below the root


def _sides(d: F64, spin: F64) -> F64:
    """Unit vectors perpendicular to the rows of ``d``, turned about them by ``spin`` (radians)."""
    p = np.where((np.abs(d[:, 2]) < 0.9)[:, None],
                 np.stack([d[:, 1], -d[:, 0], np.zeros(len(d))], axis=1),
                 np.stack([np.zeros(len(d)), d[:, 2], -d[:, 1]], axis=1))
    p /= np.sqrt((p * p).sum(axis=1, keepdims=True))
    q = np.cross(d, p)
    out: F64 = np.cos(spin)[:, None] * p + np.sin(spin)[:, None] * q
    return out


def _aim(end: F64, d: F64, side: F64, step: F64, pool: F64, draw: F64) -> tuple[F64, NDArray[np.bool_]]:
    """For each row, the direction to a random pool point ahead (within ~55 degrees of ``d``, on
    ``side``, one to four steps away), and whether there was one."""
    if len(pool) == 0:
        return np.zeros_like(end), np.zeros(len(end), dtype=bool)
    vec = pool[None, :, :] - end[:, None, :]
    dist = np.sqrt((vec * vec).sum(axis=2)) + 1e-9
    ahead = (vec * d[:, None, :]).sum(axis=2)
    beside = (vec * side[:, None, :]).sum(axis=2)
    ok = (ahead > 0.55 * dist) & (beside > 0.0) & (dist > 0.6 * step[:, None]) & (dist < 4.0 * step[:, None])
    count = ok.sum(axis=1)
    pick = np.argmax(np.cumsum(ok, axis=1) > np.floor(draw * count)[:, None], axis=1)
    rows = np.arange(len(end))
    return vec[rows, pick] / dist[rows, pick][:, None], count > 0


def grow(spec: TreeSpec, rng: np.random.Generator, pool: F64, inside: Inside) -> Segments:
    """One tree, a generation at a time.

    The first generations head for random points of ``pool`` (points inside the organ), so the
    big branches fill the organ; later ones turn randomly and end where they would leave it.
    """
    n = 2 ** (spec.depth + 1) - 1
    draws = rng.random((n, 4))  # per node: spin of its children's plane, aim, length, radius
    d0 = np.array(spec.direction, dtype=np.float64)
    node, start = np.zeros(1, np.intp), np.array([spec.root], dtype=np.float64)
    d, length, r = (d0 / np.linalg.norm(d0))[None, :], np.array([spec.length]), np.array([spec.radius])
    parts: list[tuple[F64, F64, F64, F64]] = []
    generation = 0
    while len(node):
        end, r_end = start + d * length[:, None], r * 0.95
        parts.append((start, end, r, r_end))
        more = (2 * node + 2 < n) & (r_end >= MIN_RADIUS_MM)
        tips = _Tips(node[more], end[more], d[more], length[more], r_end[more])
        side = _sides(tips.d, draws[tips.node, 0] * 2.0 * np.pi)
        aimed = generation < _AIMED_GENERATIONS
        kids = [_children(k, tips, side, draws, pool if aimed else None, inside) for k in (1, 2)]
        node, start, d, length, r = (np.concatenate(x) for x in zip(*kids, strict=True))
        generation += 1
    return Segments(*(np.concatenate(x) for x in zip(*parts, strict=True)))


@dataclass(frozen=True)
class _Tips:
    """The ends of one generation's branches that will fork."""

    node: NDArray[np.intp]
    end: F64
    d: F64
    length: F64
    r_end: F64


def _children(k: int, tips: _Tips, side: F64, draws: F64, pool: F64 | None,
              inside: Inside) -> tuple[NDArray[np.intp], F64, F64, F64, F64]:
    """Child ``k`` (1: the major branch, 2: the minor one, on the other side) of each tip."""
    child = 2 * tips.node + k
    step = np.minimum(tips.length * (0.74 + 0.16 * draws[child, 2]), 30.0)
    side = side if k == 1 else -side
    if pool is not None:
        aim, ok = _aim(tips.end, tips.d, side, step, pool, draws[child, 1])
    else:
        angle = (0.3 + 0.5 * draws[child, 1])[:, None] * (0.6 if k == 1 else 1.0)
        aim = np.cos(angle) * tips.d + np.sin(angle) * side
        ok = inside(tips.end + aim * step[:, None])
    shrink = (0.86 + 0.08 * draws[child, 3]) if k == 1 else (0.66 + 0.16 * draws[child, 3])
    return child[ok], tips.end[ok], aim[ok], step[ok], (tips.r_end * shrink)[ok]


def pool_points(rng: np.random.Generator, frame: Frame, organs: NDArray[np.uint8], code: int,
                n: int = 3000) -> F64:
    """Random points (u, v, w) inside organ ``code``: uniform in its bounding box, kept where inside."""
    draws = rng.random((n, 3))  # drawn even for an absent organ, so later draws do not shift
    bounds = frame.bounds(organs, code)
    if bounds is None:
        return np.zeros((0, 3))
    pts = bounds[0] + draws * (bounds[1] - bounds[0])
    inside: F64 = pts[frame.lookup(organs, pts) == code]
    return inside


def _box(frame: Frame, a: F64, b: F64, r: float) -> tuple[slice, slice, slice] | None:
    """Grid box around the segment ``ab`` grown by ``r`` mm."""
    lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
    return frame.box((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]))


def coverage(frame: Frame, a: F64, b: F64, r_a: float, r_b: float, box: tuple[slice, slice, slice]) -> F32:
    """Fraction (0..1) of each voxel of ``box`` inside the tube from ``a`` to ``b`` (anti-aliased)."""
    w = frame.axis(0)[box[0]][:, None, None] - np.float32(a[2])
    v = frame.axis(1)[box[1]][None, :, None] - np.float32(a[1])
    u = frame.axis(2)[box[2]][None, None, :] - np.float32(a[0])
    du, dv, dw = (b - a).astype(np.float32)
    t = np.clip((u * du + v * dv + w * dw) / max(float(du * du + dv * dv + dw * dw), 1e-6), 0.0, 1.0)
    d = np.sqrt((u - t * du) ** 2 + (v - t * dv) ** 2 + (w - t * dw) ** 2)
    r = np.float32(r_a) + t * np.float32(r_b - r_a)
    px = np.float32(min(frame.spacing[1], frame.spacing[2]))
    thin = np.float32(min(1.0, (r_a + r_b) / float(px)))  # a tube thinner than a pixel fills part of it
    return np.asarray(np.clip((r - d) / px + 0.5, 0.0, 1.0) * thin, dtype=np.float32)


def draw(frame: Frame, tubes: Segments, hu: F32, organs: NDArray[np.uint8],
         organ: int, vessel_hu: float) -> None:
    """Blend the tubes into ``hu`` towards ``vessel_hu``, only over voxels of ``organ``."""
    px = min(frame.spacing[1], frame.spacing[2])
    for a, b, r_a, r_b in zip(tubes.start, tubes.end, tubes.r_start, tubes.r_end, strict=True):
        box = None if r_a < 0.15 * px else _box(frame, a, b, float(r_a) + max(frame.spacing))
        if box is None:
            continue
        frac = coverage(frame, a, b, float(r_a), float(r_b), box)
        frac *= organs[box] == organ
        region = hu[box]
        region += frac * (np.float32(vessel_hu) - region)


def lung_trees(hilum_u: float, hilum_w: float) -> list[TreeSpec]:
    """Pulmonary vessel trees: four lobar trunks from each hilum (upper, middle, lower, posterior)."""
    lobes = (((0.45, -0.2, 0.87), 30.0, 4.8), ((0.85, -0.45, -0.1), 26.0, 4.2), ((0.6, -0.7, -0.4), 26.0, 4.0),
             ((0.45, 0.3, -0.85), 34.0, 5.2), ((0.35, 0.8, -0.45), 28.0, 4.4), ((0.5, 0.5, 0.7), 26.0, 4.0))
    return [TreeSpec((side * hilum_u, 4.0, hilum_w), (side * d[0], d[1], d[2]), length, r, depth=9)
            for side in (-1.0, 1.0) for d, length, r in lobes]


def liver_trees(ivc: tuple[float, float, float], porta: tuple[float, float, float]) -> list[TreeSpec]:
    """Hepatic veins fanning forward from the inferior vena cava, portal branches from the porta."""
    hepatic = [TreeSpec(ivc, d, 28.0, 4.5, depth=5)
               for d in ((-0.85, -0.35, -0.25), (-0.25, -0.9, -0.3), (0.5, -0.8, -0.2))]
    portal = [TreeSpec(porta, d, 26.0, 5.0, depth=5) for d in ((-0.9, -0.15, 0.35), (0.6, -0.7, 0.3))]
    return hepatic + portal
