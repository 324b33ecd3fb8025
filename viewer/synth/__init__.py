"""Synthetic CT phantoms (demo study, tests, model training). numpy and scipy only."""

from viewer.synth.measure import LesionMeasurement, lesion_measurements
from viewer.synth.phantom import (
    AIR,
    BONE,
    FAT,
    LIVER,
    LIVER_METASTASIS,
    LUNG,
    LUNG_NODULE,
    ORGAN_NAMES,
    SOFT_TISSUE,
    LesionTruth,
    Phantom,
    PhantomParams,
    generate_phantom,
)

__all__ = ["AIR", "BONE", "FAT", "LIVER", "LIVER_METASTASIS", "LUNG", "LUNG_NODULE", "ORGAN_NAMES",
           "SOFT_TISSUE", "LesionMeasurement", "LesionTruth", "Phantom", "PhantomParams", "generate_phantom",
           "lesion_measurements"]
