"""Training cases for the lesion U-Net: synthetic phantoms on the model's grid, and patch sampling.

Classes: 0 background, 1 liver, 2 lung, 3 lesion. Organ classes give the network gradient
everywhere and an organ mask that can gate lesion candidates.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from viewer.inference.preprocess import Window, window_channels
from viewer.synth import labels
from viewer.synth.phantom import Phantom, PhantomParams, generate_phantom

SPACING = (2.5, 1.4, 1.4)  # (z, y, x) mm: the model's grid
WINDOWS = (Window(-1000.0, 400.0), Window(-100.0, 240.0))
LIVER_CHANNEL = 1  # the soft-tissue window, where a metastasis is darker than the liver
PATCH = (24, 80, 80)
N_CLASSES = 4
TRAIN_SEEDS, VALIDATION_SEEDS, EVALUATION_SEEDS = 1_000, 10_000, 20_000
# Validation phantoms drawn with the held-out ranges (evaluation_params), made when the held-out
# sets had overruled three choices made on the usual validation phantoms (session 10).
HELD_OUT_LIKE_SEEDS = 15_000
# Seeds [VALIDATION_SEEDS, HELD_OUT_END) are validation and held-out phantoms only; training runs
# take seeds below them or from HELD_OUT_END on (a GPU run uses thousands of phantoms).
HELD_OUT_END = 100_000
MAX_HARD = 4000  # mined hard-negative voxels kept per case
END_SLICES = 12  # how near an end of the scan an "edge" patch's structure lies (voxels along z; <= the patch's)


@dataclass(frozen=True)
class Sampling:
    """Share of patches centred on: a lesion (drawn per lesion, not per voxel, so small ones count
    as much as big ones), a mined hard negative, a dense lung structure (vessels: the look-alikes of
    nodules), an end of the scan, an organ voxel; the rest anywhere. The defaults are those of the
    first model."""

    lesion: float = 0.5
    hard: float = 0.0
    dense: float = 0.0
    organ: float = 0.25
    per_lesion: bool = False
    patch: tuple[int, int, int] = PATCH
    # With per_lesion: draw a lesion in proportion to how much of it the network recently missed
    # (online hard-positive mining: faint metastases get the patches, easy ones fewer).
    by_miss: bool = False
    # Patches flush with the first or last slice, on a lung vessel near it (on lung or liver there
    # when a phantom has no vessel near its ends). v1.5.0's surest false positives on validation were
    # apex vessels cut by the scan's edge, a place random patches seldom reach whole.
    edge: float = 0.0

    def __post_init__(self) -> None:
        if self.edge > 0 and self.patch[0] < END_SLICES:
            raise ValueError(f"edge patches need at least {END_SLICES} slices to hold what lies near an end")


TRAINING_CONTRAST_HU = (10.0, 50.0)  # how much darker than the liver a training metastasis is
FAINT_CONTRAST_HU = (8.0, 25.0)  # the metastases of a "faint" training phantom (--faint)


def training_params(rng: np.random.Generator, metastases_right: bool = True,
                    contrast_hu: tuple[float, float] = TRAINING_CONTRAST_HU) -> PhantomParams:
    """Varied scanners and patients: slice count, noise and blur change from case to case;
    ``contrast_hu`` is how much darker than the liver its metastases are drawn."""
    return PhantomParams(
        shape=(int(rng.integers(140, 201)), 256, 256), spacing=SPACING, n_lesions=(1, 6),
        lesion_diameter_mm=(4.0, 45.0), noise_hu=float(rng.uniform(7, 18)),
        metastasis_contrast_hu=contrast_hu,
        blur_sigma_vox=(float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.3, 0.8))),
        metastases_right=metastases_right)


# The shipped network's architecture where a record leaves a key out (runs before session 12 recorded none).
DEFAULT_ARCHITECTURE: dict[str, Any] = {"name": "unet3d", "in_channels": 2, "out_channels": 4,
                                        "widths": [16, 32, 64, 128]}


def recorded_architecture(folder: Path) -> dict[str, Any]:
    """The network architecture recorded in ``folder``: a run's training.json, a soup's soup.json,
    else its manifest.json (the shipped model's folder, whose training.json records a chain of
    runs); {} without any."""
    for name in ("training.json", "soup.json", "manifest.json"):
        record = folder / name
        arch = json.loads(record.read_text()).get("architecture") if record.is_file() else None
        if arch:
            return dict(arch)
    return {}


def full_architecture(folder: Path) -> dict[str, Any]:
    """What :func:`recorded_architecture` finds, over :data:`DEFAULT_ARCHITECTURE` (a copy of its own)."""
    return {**copy.deepcopy(DEFAULT_ARCHITECTURE), **recorded_architecture(folder)}


def check_training_seeds(first: int, count: int) -> None:
    """Refuse training phantoms that would be validation or held-out phantoms."""
    if first < HELD_OUT_END and first + count > VALIDATION_SEEDS:
        raise ValueError(f"training seeds {first}-{first + count - 1} overlap the validation and held-out seeds "
                         f"{VALIDATION_SEEDS}-{HELD_OUT_END - 1}: start lower, or at {HELD_OUT_END} or above")


def is_faint(seed: int, share: float) -> bool:
    """Whether training phantom ``seed`` gets faint metastases, for a share ``share`` of phantoms
    (its own random stream, so the phantom's other draws do not change)."""
    return share > 0 and bool(np.random.default_rng([seed, 1]).random() < share)


def validation_params(rng: np.random.Generator) -> PhantomParams:
    """Training's ranges, metastases anywhere in the liver: where the operating point is chosen."""
    return training_params(rng, metastases_right=False)


def evaluation_params(rng: np.random.Generator) -> PhantomParams:
    """Held-out ranges that differ from training: fixed 200 slices, noise 10-16 HU, 2-5 lesions,
    metastases anywhere in the liver."""
    return PhantomParams(shape=(200, 256, 256), spacing=SPACING, n_lesions=(2, 5),
                         lesion_diameter_mm=(5.0, 40.0), noise_hu=float(rng.uniform(10, 16)),
                         metastases_right=False)


def classes(p: Phantom) -> NDArray[np.uint8]:
    """Target class of every voxel."""
    target = np.zeros(p.organs.shape, dtype=np.uint8)
    target[p.organs == labels.LIVER] = 1
    target[p.organs == labels.LUNG] = 2
    target[p.lesions > 0] = 3
    return target


@dataclass
class Case:
    """One phantom ready for patch sampling."""

    hu: NDArray[np.int16]
    target: NDArray[np.uint8]
    lesion_voxels: NDArray[np.intp]  # (n, 3)
    organ_voxels: NDArray[np.intp]  # flat indices of liver and lung
    lesion_ids: NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))  # per lesion voxel
    dense_voxels: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))  # flat indices
    hard: list[NDArray[np.intp]] = field(default_factory=list)  # mined (z, y, x) voxels, newest last
    lesions: NDArray[np.uint8] | None = None  # lesion label of every voxel (for by_miss)
    missed: dict[int, float] = field(default_factory=dict)  # lesion label -> recent share missed
    end_voxels: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))  # flat, near an end

    @staticmethod
    def make(seed: int, params: PhantomParams) -> Case:
        """Generate the phantom of ``seed``."""
        p = generate_phantom(seed, params)
        target = classes(p)
        lesion_voxels = np.argwhere(target == 3)
        dense = (target == 2) & (p.hu > -500)  # vessels and airway walls inside the lungs
        dense_flat, organ_flat = np.flatnonzero(dense), np.flatnonzero((target == 1) | (target == 2))
        ends = _near_ends(dense_flat, target.shape)  # vessels the edge cuts: the look-alikes of nodules there
        if not len(ends):
            ends = _near_ends(organ_flat, target.shape)
        return Case(p.hu, target, lesion_voxels, organ_flat[::7], p.lesions[tuple(lesion_voxels.T)],
                    dense_flat[::3], lesions=p.lesions, end_voxels=ends[::3])

    def add_hard(self, voxels: NDArray[np.intp], rng: np.random.Generator) -> None:
        """Remember false-positive voxels of the network (a few per patch, bounded per case)."""
        if len(voxels):
            self.hard.append(voxels[rng.choice(len(voxels), min(len(voxels), 16), replace=False)])
        while sum(len(h) for h in self.hard) > MAX_HARD:
            self.hard.pop(0)

    def add_misses(self, found: NDArray[np.bool_], start: NDArray[np.intp]) -> None:
        """Update each lesion's missed share from a patch at ``start`` where the network called
        ``found`` voxels lesion (a running mean, so the estimate follows the network as it learns)."""
        if self.lesions is None:
            return
        box = tuple(slice(int(a), int(a + n)) for a, n in zip(start, found.shape))
        labels = self.lesions[box]
        for label in np.unique(labels[labels > 0]):
            truth = labels == label
            missed = 1.0 - float((found & truth).sum()) / float(truth.sum())
            self.missed[int(label)] = 0.7 * self.missed.get(int(label), 1.0) + 0.3 * missed


def _near_ends(flat: NDArray[np.intp], shape: tuple[int, ...]) -> NDArray[np.intp]:
    """The flat indices of ``flat`` within END_SLICES slices of the first or last slice."""
    z = flat // (shape[1] * shape[2])
    return flat[(z < END_SLICES) | (z >= shape[0] - END_SLICES)]


def _centre(case: Case, rng: np.random.Generator, how: Sampling) -> NDArray[np.intp]:
    shape = np.array(case.hu.shape)
    mode = rng.random()
    if mode < how.lesion and len(case.lesion_voxels):
        pick = rng.integers(len(case.lesion_voxels))
        if how.per_lesion:
            ids = np.unique(case.lesion_ids)
            if how.by_miss:
                odds = np.array([0.1 + case.missed.get(int(i), 1.0) for i in ids])
                chosen = ids[rng.choice(len(ids), p=odds / odds.sum())]
            else:  # the draw of runs B and C, so their commands still reproduce them
                chosen = ids[rng.integers(len(ids))]
            pool = np.flatnonzero(case.lesion_ids == chosen)
            pick = pool[rng.integers(len(pool))]
        return np.asarray(case.lesion_voxels[pick])
    mode -= how.lesion
    if 0 <= mode < how.hard and case.hard:
        group = case.hard[rng.integers(len(case.hard))]
        return np.asarray(group[rng.integers(len(group))])
    mode -= how.hard
    if 0 <= mode < how.dense and len(case.dense_voxels):
        return np.array(np.unravel_index(case.dense_voxels[rng.integers(len(case.dense_voxels))], shape))
    mode -= how.dense
    if 0 <= mode < how.edge and len(case.end_voxels):
        z, y, x = np.unravel_index(case.end_voxels[rng.integers(len(case.end_voxels))], shape)
        return np.array([0 if z < shape[0] // 2 else shape[0] - 1, y, x])  # sample() clips to the end
    mode -= how.edge
    if mode < how.organ and len(case.organ_voxels):  # also where an earlier pool was empty
        return np.array(np.unravel_index(case.organ_voxels[rng.integers(len(case.organ_voxels))], shape))
    return np.asarray(rng.integers(0, shape))


def sample(case: Case, rng: np.random.Generator, how: Sampling = Sampling()
           ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.intp]]:
    """One augmented patch (channels, z, y, x), its targets and its start in the case.

    The centre (lesion, hard negative, ...) lies at a uniformly random place in the patch (never
    always the centre: a network then learns "lesion = patch centre").
    """
    shape, size = np.array(case.hu.shape), np.array(how.patch)
    start = np.clip(_centre(case, rng, how) - rng.integers(0, size), 0, shape - size)
    box = tuple(slice(int(a), int(a + n)) for a, n in zip(start, size))
    hu = case.hu[box].astype(np.float32)
    hu = hu * rng.uniform(0.97, 1.03) + rng.uniform(-15, 15)
    hu += rng.normal(0, rng.uniform(0, 6), hu.shape).astype(np.float32)
    return window_channels(hu, WINDOWS), case.target[box].astype(np.int64), start
