"""Organ codes of the label volume, and the finer tissue classes the slices are painted with."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

# Organ codes stored in ``Phantom.organs``.
AIR = 0          # air (and the scanner table) outside the body, gas inside it (trachea, stomach, bowel)
SOFT_TISSUE = 1  # muscle, skin, heart, vessels, spleen, kidneys, bowel, discs, cartilage
FAT = 2          # subcutaneous, mediastinal, visceral and perirenal fat
BONE = 3         # ribs, sternum, vertebrae, scapulae (cortex and marrow)
LUNG = 4         # lung parenchyma with its vessels and airways
LIVER = 5        # liver parenchyma with its vessels (lesions inside keep this code)

ORGAN_NAMES: dict[int, str] = {AIR: "air", SOFT_TISSUE: "soft tissue", FAT: "fat", BONE: "bone",
                               LUNG: "lung", LIVER: "liver"}


class Tissue(IntEnum):
    """Tissue classes used while painting; each maps to an organ code and a mean HU."""

    AIR = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    CORTEX = 4
    MARROW = 5
    DISC = 6
    CSF = 7
    CARTILAGE = 8
    LUNG = 9
    MED_FAT = 10
    HEART = 11
    BLOOD = 12
    LIVER = 13
    SPLEEN = 14
    KIDNEY = 15
    GASTRIC = 16
    BOWEL = 17
    GAS = 18
    BILE = 19
    AIRWAY_WALL = 20
    TABLE_SHELL = 21
    TABLE_CORE = 22


# tissue: (organ code, HU low, HU high (the seed draws the mean between them), texture SD in HU)
_TABLE: dict[Tissue, tuple[int, float, float, float]] = {
    Tissue.AIR: (AIR, -1000.0, -1000.0, 0.0),
    Tissue.SKIN: (SOFT_TISSUE, 25.0, 45.0, 4.0),
    Tissue.FAT: (FAT, -115.0, -95.0, 6.0),
    Tissue.MUSCLE: (SOFT_TISSUE, 40.0, 52.0, 5.0),
    Tissue.CORTEX: (BONE, 850.0, 1150.0, 60.0),
    Tissue.MARROW: (BONE, 220.0, 330.0, 45.0),
    Tissue.DISC: (SOFT_TISSUE, 75.0, 100.0, 6.0),
    Tissue.CSF: (SOFT_TISSUE, 8.0, 20.0, 3.0),
    Tissue.CARTILAGE: (SOFT_TISSUE, 110.0, 170.0, 25.0),
    Tissue.LUNG: (LUNG, -875.0, -845.0, 14.0),
    Tissue.MED_FAT: (FAT, -105.0, -85.0, 8.0),
    Tissue.HEART: (SOFT_TISSUE, 36.0, 46.0, 3.0),
    Tissue.BLOOD: (SOFT_TISSUE, 38.0, 50.0, 2.0),
    Tissue.LIVER: (LIVER, 55.0, 66.0, 3.5),
    Tissue.SPLEEN: (SOFT_TISSUE, 44.0, 52.0, 3.0),
    Tissue.KIDNEY: (SOFT_TISSUE, 28.0, 38.0, 3.0),
    Tissue.GASTRIC: (SOFT_TISSUE, 5.0, 25.0, 6.0),
    Tissue.BOWEL: (SOFT_TISSUE, 20.0, 45.0, 10.0),
    Tissue.GAS: (AIR, -990.0, -940.0, 15.0),
    Tissue.BILE: (SOFT_TISSUE, 2.0, 16.0, 2.0),
    Tissue.AIRWAY_WALL: (SOFT_TISSUE, 20.0, 40.0, 5.0),
    Tissue.TABLE_SHELL: (AIR, 150.0, 300.0, 10.0),   # the scanner table: outside the patient
    Tissue.TABLE_CORE: (AIR, -900.0, -800.0, 10.0),
}


def organ_lut() -> NDArray[np.uint8]:
    """Organ code of every tissue class, indexable by tissue value."""
    return np.array([_TABLE[t][0] for t in Tissue], dtype=np.uint8)


def draw_tissue_hu(rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-seed mean HU and texture SD of every tissue class, indexable by tissue value."""
    lows = np.array([_TABLE[t][1] for t in Tissue])
    highs = np.array([_TABLE[t][2] for t in Tissue])
    means = lows + rng.random(len(lows)) * (highs - lows)
    amps = np.array([_TABLE[t][3] for t in Tissue])
    return means.astype(np.float32), amps.astype(np.float32)
