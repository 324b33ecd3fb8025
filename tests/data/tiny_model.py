"""A tiny model a user could bring (TorchScript + manifest) that marks bright blobs as lesions,
and a sagittal, anisotropic volume with two known spheres: the geometry of what comes out is known."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from viewer.core.geometry import affine_from_dicom
from viewer.core.volume import Volume


class BrightBlob(torch.nn.Module):
    """Two classes from the soft-tissue window: lesion where HU > about 100."""

    divisor = (1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lesion = 40.0 * (x[:, 1:2] - 0.6)
        return torch.cat([-lesion, lesion], dim=1)


def write_manifest(folder: Path, weights: Path, **changes: object) -> Path:
    doc = {
        "id": "test-bright-blob", "name": "Bright blob (test)", "version": "1", "task": "segmentation",
        "format": "torchscript", "entry": weights.name,
        "files": [{"path": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}],
        "input": {"spacing_zyx": [2.0, 2.0, 2.0], "windows": [[-1000, 400], [-100, 240]]},
        "inference": {"patch_zyx": [16, 32, 32], "overlap": 0.25},
        "output": {"labels": [{"value": 0, "name": "background"},
                              {"value": 1, "name": "lesion", "lesion": True,
                               "snomed": ["52988006", "Lesion"]}],
                   "threshold": 0.5, "min_volume_mm3": 20},
        "training_data": "none: a rule for tests", "intended_use": "tests only",
    }
    doc.update(changes)
    (folder / "manifest.json").write_text(json.dumps(doc))
    return folder


def sagittal_volume() -> tuple[Volume, list[tuple[np.ndarray, float]]]:
    """Sagittal acquisition (columns -> P, rows -> I, slices -> L), anisotropic, with two spheres."""
    affine = affine_from_dicom([0, 1, 0, 0, 0, -1], [-40.0, -60.0, 60.0], [0.8, 0.9], [3.0, 0, 0])
    shape = (28, 140, 150)
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    lps = (affine[:3, :3] @ np.stack([i, j, k]).reshape(3, -1)).T + affine[:3, 3]
    spheres = [(np.array([-10.0, 0.0, 10.0]), 9.0), (np.array([20.0, 30.0, -20.0]), 6.0)]
    hu = np.zeros(len(lps), dtype=np.int16)
    for centre, radius in spheres:
        hu[np.linalg.norm(lps - centre, axis=1) <= radius] = 300
    return Volume(hu.reshape(shape), affine), spheres
