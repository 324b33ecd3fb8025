"""Findings outlined again from the CT (output.grow): a faint liver metastasis that the network
found only in part becomes the whole lesion; a lesion it found whole, or an organ without
contrast, is left as the network drew it; the organ's border holds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from scipy import ndimage

from tests.data.tiny_model import BrightBlob, write_manifest
from viewer.core.volume import Volume
from viewer.inference.extent import grow_to_contrast
from viewer.inference.manifest import GrowSpec, Label, ManifestError, ModelManifest, read
from viewer.inference.postprocess import findings_from_probability

SPACING = (2.5, 1.4, 1.4)  # the shipped model's grid (z, y, x), anisotropic
SHAPE = (40, 80, 80)
LIVER, LUNG, LIVER_HU, NOISE_HU = 2, 3, 60.0, 12.0
CENTRE_MM = np.array([50.0, 56.0, 56.0])  # (z, y, x)
RADIUS_MM = 11.0
SPEC = GrowSpec(organ=LIVER)


def _distance_mm(centre: NDArray[np.float64] = CENTRE_MM) -> NDArray[np.float64]:
    grids = np.ogrid[tuple(slice(0, n) for n in SHAPE)]
    return np.sqrt(sum(((g * s) - c) ** 2 for g, s, c in zip(grids, SPACING, centre)))  # type: ignore[no-any-return]


def _liver_ct(contrast_hu: float, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.bool_], NDArray[np.bool_]]:
    """HU of a liver filling the box, a metastasis ``contrast_hu`` darker (blurred, then noisy as
    the phantoms are), the liver mask and the lesion's true voxels."""
    lesion = _distance_mm() <= RADIUS_MM
    hu = np.full(SHAPE, LIVER_HU, np.float32)
    hu[lesion] -= contrast_hu
    hu = ndimage.gaussian_filter(hu, (0.4, 0.7, 0.7))
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32), (0, 0.8, 0.8))
    hu += noise * (NOISE_HU / noise.std())
    return hu, np.ones(SHAPE, bool), lesion


def _dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_faint_metastasis_found_in_part_is_outlined_whole(seed: int) -> None:
    """15 HU darker than the liver in 12 HU of noise: the network was sure of a 4 mm core only."""
    hu, liver, lesion = _liver_ct(15.0, seed)
    core = _distance_mm() <= 4.0
    grown = grow_to_contrast(core, core, hu, liver, SPACING, SPEC)
    assert grown is not None
    assert _dice(core, lesion) < 0.2
    assert _dice(grown, lesion) > 0.8
    assert grown[core].all()  # what the network was sure of stays


def test_a_lesion_found_whole_or_without_contrast_is_left_as_drawn() -> None:
    hu, liver, lesion = _liver_ct(30.0)
    assert grow_to_contrast(lesion, lesion, hu, liver, SPACING, SPEC) is None
    flat, _, _ = _liver_ct(0.0)
    core = _distance_mm() <= 4.0
    assert grow_to_contrast(core, core, flat, liver, SPACING, SPEC) is None


def test_growth_stays_inside_the_organ() -> None:
    """Muscle beside the liver, as dark as the metastasis and touching it: the outline must not
    run into it (ignoring the organ, it does)."""
    hu, liver, lesion = _liver_ct(15.0)
    outside = np.zeros(SHAPE, bool)
    outside[:, :, :33] = True  # x < 46 mm: the lesion (45-67 mm) reaches it
    hu[outside] -= 20.0
    liver &= ~outside
    core = _distance_mm() <= 4.0
    grown = grow_to_contrast(core, core, hu, liver, SPACING, SPEC)
    assert grown is not None and not (grown & outside).any()
    assert _dice(grown, lesion) > 0.75
    careless = grow_to_contrast(core, core, hu, np.ones(SHAPE, bool), SPACING, SPEC)
    assert careless is not None and (careless & outside).sum() > 20


@pytest.fixture
def manifest(tmp_path: Path) -> ModelManifest:
    folder = tmp_path / "bright-blob"
    folder.mkdir()
    torch.jit.save(torch.jit.script(BrightBlob()), str(folder / "model.ts"))
    plain = read(write_manifest(folder, folder / "model.ts"))
    labels = (*plain.output.labels, Label(LIVER, "liver"), Label(LUNG, "lung"))
    return dataclasses.replace(plain, output=dataclasses.replace(
        plain.output, labels=labels, gate_labels=(LIVER, LUNG), min_gate_fraction=(0.5, 0.5), threshold=0.5,
        min_volume_mm3=0.0))


def test_findings_in_the_organ_are_grown_and_measured_whole(manifest: ModelManifest) -> None:
    """Through the postprocess: the finding's volume and RECIST long axis are the lesion's, in mm
    on the volume's own grid, once the manifest asks for growth; without it, the core's."""
    hu, _, lesion = _liver_ct(15.0)
    sz, sy, sx = SPACING
    volume = Volume(np.rint(hu).astype(np.int16), np.diag([sx, sy, sz, 1.0]))
    prob = np.where(_distance_mm() <= 4.0, 0.99, 0.0).astype(np.float32)
    organs = np.full(SHAPE, LIVER, np.uint8)
    [plain] = findings_from_probability(prob, volume.affine, volume, manifest, organs)
    grows = dataclasses.replace(manifest, output=dataclasses.replace(manifest.output, grow=SPEC))
    [grown] = findings_from_probability(prob, volume.affine, volume, grows, organs)
    truth_ml = float(lesion.sum()) * sz * sy * sx / 1000
    assert plain.measurements.volume_ml < 0.1 * truth_ml
    assert grown.measurements.volume_ml == pytest.approx(truth_ml, rel=0.2)
    assert grown.measurements.long_axis_mm == pytest.approx(2 * RADIUS_MM, abs=3.0)
    assert grown.provenance.score == plain.provenance.score  # still the network's confidence
    [other] = findings_from_probability(prob, volume.affine, volume, grows, np.full(SHAPE, LUNG, np.uint8))
    assert other.measurements.volume_ml == plain.measurements.volume_ml  # only the liver's are grown


def test_grow_in_a_manifest_is_checked(tmp_path: Path) -> None:
    folder = tmp_path / "bright-blob"
    folder.mkdir()
    torch.jit.save(torch.jit.script(BrightBlob()), str(folder / "model.ts"))
    write_manifest(folder, folder / "model.ts")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["output"]["labels"].append({"value": LIVER, "name": "liver"})
    doc["output"].update(gate_labels=[LIVER], min_gate_fraction=0.5)
    for grow, wrong in [({"organ": 7}, "organ"), ({"level": 0.5}, "organ"), ({"organ": LIVER, "size": 3}, "size"),
                        ({"organ": LIVER, "level": 1.5}, "level"), ({"organ": LIVER, "reach": "far"}, "numbers"),
                        ([LIVER], "object")]:
        doc["output"]["grow"] = grow
        (folder / "manifest.json").write_text(json.dumps(doc))
        with pytest.raises(ManifestError, match=wrong):
            read(folder)
    doc["output"]["grow"] = {"organ": LIVER, "level": 0.5}
    (folder / "manifest.json").write_text(json.dumps(doc))
    assert read(folder).output.grow == GrowSpec(organ=LIVER, level=0.5)
