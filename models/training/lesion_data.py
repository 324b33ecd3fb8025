"""Training cases for the lesion U-Net: synthetic phantoms on the model's grid, and patch sampling.

Classes: 0 background, 1 liver, 2 lung, 3 lesion. Organ classes give the network gradient
everywhere and an organ mask that can gate lesion candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.inference.preprocess import Window, window_channels
from viewer.synth import labels
from viewer.synth.phantom import Phantom, PhantomParams, generate_phantom

SPACING = (2.5, 1.4, 1.4)  # (z, y, x) mm: the model's grid
WINDOWS = (Window(-1000.0, 400.0), Window(-100.0, 240.0))
PATCH = (24, 80, 80)
N_CLASSES = 4
TRAIN_SEEDS, VALIDATION_SEEDS, EVALUATION_SEEDS = 1_000, 10_000, 20_000


def training_params(rng: np.random.Generator) -> PhantomParams:
    """Varied scanners and patients: slice count, noise and blur change from case to case."""
    return PhantomParams(
        shape=(int(rng.integers(140, 201)), 256, 256), spacing=SPACING, n_lesions=(1, 6),
        lesion_diameter_mm=(4.0, 45.0), noise_hu=float(rng.uniform(7, 18)),
        metastasis_contrast_hu=(10.0, 50.0),
        blur_sigma_vox=(float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.3, 0.8))))


def evaluation_params(rng: np.random.Generator) -> PhantomParams:
    """Held-out ranges that differ from training: fixed 200 slices, noise 10-16 HU, 2-5 lesions."""
    return PhantomParams(shape=(200, 256, 256), spacing=SPACING, n_lesions=(2, 5),
                         lesion_diameter_mm=(5.0, 40.0), noise_hu=float(rng.uniform(10, 16)))


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

    @staticmethod
    def make(seed: int, params: PhantomParams) -> Case:
        """Generate the phantom of ``seed``."""
        p = generate_phantom(seed, params)
        target = classes(p)
        return Case(p.hu, target, np.argwhere(target == 3),
                    np.flatnonzero((target == 1) | (target == 2))[::7])


def sample(case: Case, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """One augmented patch (channels, z, y, x) and its targets.

    Half the patches hold a lesion at a uniformly random place in the patch (never always the
    centre: a network then learns "lesion = patch centre"), a quarter lie in an organ, the rest
    anywhere.
    """
    shape = np.array(case.hu.shape)
    size = np.array(PATCH)
    mode = rng.random()
    if mode < 0.5 and len(case.lesion_voxels):
        centre = case.lesion_voxels[rng.integers(len(case.lesion_voxels))]
    elif mode < 0.75 and len(case.organ_voxels):
        centre = np.array(np.unravel_index(case.organ_voxels[rng.integers(len(case.organ_voxels))], shape))
    else:
        centre = rng.integers(0, shape)
    start = np.clip(centre - rng.integers(0, size), 0, shape - size)
    box = tuple(slice(int(a), int(a + n)) for a, n in zip(start, size))
    hu = case.hu[box].astype(np.float32)
    hu = hu * rng.uniform(0.97, 1.03) + rng.uniform(-15, 15)
    hu += rng.normal(0, rng.uniform(0, 6), hu.shape).astype(np.float32)
    return window_channels(hu, WINDOWS), case.target[box].astype(np.int64)
