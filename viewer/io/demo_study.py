"""The demo study: a synthetic CT phantom written as a real DICOM series, with its ground truth.

Layout of the folder it writes::

    <folder>/dicom/IM00001.dcm ...   the CT series (what the viewer opens)
    <folder>/truth/lesions.nii.gz    lesion label map on the same grid (1..n)
    <folder>/truth/lesions.json      each lesion: kind, centre (LPS mm), RECIST axes, volume
    <folder>/COMPLETE                written last: a folder without it is an interrupted run
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from viewer.io.dicom_writer import SeriesIds, axial_positions, make_uid, write_series
from viewer.synth.phantom import Phantom, PhantomParams, generate_phantom

DEMO_SEED = 7
DEMO_VERSION = 2  # bump when the generator's output changes, so caches regenerate
CT_INTERCEPT = -1024.0


def demo_ids(seed: int) -> SeriesIds:
    """Deterministic identifiers, so the same seed always gives the same study."""
    return SeriesIds(
        patient_name="DEMO^PHANTOM", patient_id=f"LUMEN-DEMO-{seed}",
        study_uid=make_uid("study", seed, DEMO_VERSION), series_uid=make_uid("series", seed, DEMO_VERSION),
        frame_of_reference_uid=make_uid("for", seed, DEMO_VERSION),
        study_description="CT CHEST ABDOMEN (synthetic)",
        series_description=f"Synthetic CT phantom, seed {seed}", accession_number=f"DEMO{seed}",
    )


def _affine(phantom: Phantom, positions: NDArray[np.float64]) -> NDArray[np.float64]:
    sz, sy, sx = phantom.spacing
    affine = np.diag([sx, sy, sz, 1.0])
    affine[:3, 3] = positions[0]
    return affine


def _write_truth(folder: Path, phantom: Phantom, affine: NDArray[np.float64]) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(phantom.lesions)
    image.SetSpacing([float(s) for s in phantom.spacing[::-1]])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    sitk.WriteImage(image, str(folder / "lesions.nii.gz"), useCompression=True)
    sz, sy, sx = phantom.spacing
    lesions = []
    for t in phantom.truth:
        centre = affine[:3, 3] + np.array(t.centre_mm)  # generator mm are offsets from voxel 0
        lesions.append({
            "label": t.label, "kind": t.kind, "centre_lps_mm": [round(float(v), 3) for v in centre],
            "long_axis_mm": round(t.long_axis_mm, 3), "short_axis_mm": round(t.short_axis_mm, 3),
            "volume_ml": round(t.volume_ml, 4), "max_diameter_mm": round(t.max_diameter_mm, 3),
        })
    doc = {"seed": phantom.seed, "spacing_zyx_mm": [sz, sy, sx], "lesions": lesions}
    (folder / "lesions.json").write_text(json.dumps(doc, indent=2))


def write_demo_study(folder: str | Path, seed: int = DEMO_SEED,
                     params: PhantomParams | None = None) -> Path:
    """Generate the phantom and write it (DICOM + truth) into ``folder``; returns the DICOM folder."""
    folder = Path(folder)
    phantom = generate_phantom(seed, params or PhantomParams())
    k, rows, cols = phantom.hu.shape
    positions = axial_positions(k, rows, cols, phantom.spacing, z0=-(k - 1) * phantom.spacing[0] / 2)
    stored = (phantom.hu.astype(np.int32) - int(CT_INTERCEPT)).clip(0, 4095).astype(np.uint16)
    write_series(str(folder / "dicom"), stored, positions, (1, 0, 0, 0, 1, 0),
                 (phantom.spacing[1], phantom.spacing[2]), demo_ids(seed), intercept=CT_INTERCEPT,
                 bits_stored=12)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    _write_truth(folder / "truth", phantom, _affine(phantom, positions))
    (folder / "COMPLETE").write_text(f"version {DEMO_VERSION}\n")
    return folder / "dicom"


def ensure_demo_study(cache: str | Path, seed: int = DEMO_SEED) -> Path:
    """The cached demo study's DICOM folder, generated on first use (atomically: temp dir, rename)."""
    final = Path(cache) / f"demo-v{DEMO_VERSION}-seed{seed}"
    if (final / "COMPLETE").exists():
        return final / "dicom"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=final.parent))
    try:
        write_demo_study(tmp, seed)
        if final.exists():  # an interrupted earlier run
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "dicom"
