"""The shipped model end to end on the demo study: DICOM files -> loader -> runner -> findings in LPS.

The demo's ground truth says where its lesions are. The model must propose at least one of them
where it is (a mirrored or shifted pipeline would put it centimetres away, on the other side) and
measure it close to its true size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from viewer.inference.registry import discover
from viewer.inference.runner import Runner
from viewer.io.demo_study import write_demo_study
from viewer.io.loader import load_series
from viewer.io.study import open_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo-ai")
    write_demo_study(root)  # the default demo a reader sees first (seed 7)
    return root


def test_shipped_model_finds_a_demo_lesion_where_it_is(demo: Path) -> None:
    truth = json.loads((demo / "truth" / "lesions.json").read_text())["lesions"]
    volume = load_series(open_folder(str(demo / "dicom")).default())
    result = Runner(discover().get("lesion-unet-synth"), "cpu").run(volume)
    matches = []
    for finding in result.findings:
        lo, hi = (np.asarray(c) for c in finding.measurements.bbox_lps_mm)
        centre = (lo + hi) / 2
        for lesion in truth:
            if np.linalg.norm(centre - np.asarray(lesion["centre_lps_mm"])) < 5.0:
                matches.append((finding, lesion))
    assert matches, f"no proposed finding within 5 mm of a true lesion: {[f.measurements.bbox_lps_mm for f in result.findings]}"
    for finding, lesion in matches:
        assert finding.measurements.long_axis_mm == pytest.approx(lesion["long_axis_mm"], rel=0.3)
        assert finding.provenance.model_id == "lesion-unet-synth"
