"""The headless ``lumen`` commands: what they print and what their exit status says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from viewer.cli import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, main
from viewer.io.dicom_writer import SeriesIds, axial_positions, write_series


def _series(folder: Path, n: int = 6, positions: np.ndarray | None = None) -> None:
    stored = np.full((n, 16, 16), 1024, dtype=np.uint16)
    pos = axial_positions(n, 16, 16, (3.0, 0.8, 0.8)) if positions is None else positions
    write_series(str(folder), stored, pos, (1, 0, 0, 0, 1, 0), (0.8, 0.8), SeriesIds(),
                 intercept=-1024.0)


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_scan_clean_folder_exits_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _series(tmp_path)
    assert main(["scan", str(tmp_path), "--json"]) == EXIT_OK
    doc = _json(capsys)
    assert doc["ok"] is True and len(doc["series"]) == 1
    assert doc["series"][0]["shape"] == [6, 16, 16]
    assert doc["series"][0]["spacing_mm"] == [0.8, 0.8, 3.0]


def test_scan_names_broken_file_and_still_lists_series(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _series(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    assert main(["scan", str(tmp_path), "--json"]) == EXIT_WARNINGS
    doc = _json(capsys)
    assert len(doc["series"]) == 1
    [problem] = doc["file_problems"]
    assert problem["code"] == "not_dicom" and problem["path"].endswith("notes.txt")


def test_scan_text_table_shows_geometry_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos = axial_positions(6, 16, 16, (3.0, 0.8, 0.8))
    _series(tmp_path, 5, np.delete(pos, 2, axis=0))  # one slice missing
    assert main(["scan", str(tmp_path)]) == EXIT_WARNINGS
    out = capsys.readouterr().out
    assert "missing_slices" in out and "3d-resampled" in out


def test_scan_of_empty_or_missing_folder_fails(tmp_path: Path) -> None:
    assert main(["scan", str(tmp_path)]) == EXIT_FAILED
    assert main(["scan", str(tmp_path / "nope")]) == EXIT_FAILED


def test_info_prints_affine_in_lps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _series(tmp_path)
    assert main(["info", str(tmp_path), "--json"]) == EXIT_OK
    doc = _json(capsys)
    affine = np.array(doc["affine"])
    assert np.allclose(np.diag(affine)[:3], [0.8, 0.8, 3.0])
    assert doc["axis_letters_ijk"] == ["L", "P", "S"]
    assert doc["value_range"] == [0.0, 0.0]  # stored 1024 with intercept -1024 is water
    assert main(["info", str(tmp_path), "--series", "9"]) == EXIT_FAILED


def test_infer_prints_findings_of_a_user_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from tests.data.tiny_model import BrightBlob, write_manifest

    models = tmp_path / "models" / "blob"
    models.mkdir(parents=True)
    torch.jit.save(torch.jit.script(BrightBlob()), str(models / "model.ts"))
    write_manifest(models, models / "model.ts")
    monkeypatch.setenv("LUMEN_MODELS_DIR", str(tmp_path / "models"))
    stored = np.full((12, 48, 48), 1024, dtype=np.uint16)
    stored[4:9, 16:30, 18:32] = 1024 + 300  # a bright block: 14 x 14 x 15 mm
    _series(tmp_path / "ct", 12)
    write_series(str(tmp_path / "ct2"), stored, axial_positions(12, 48, 48, (3.0, 1.0, 1.0)),
                 (1, 0, 0, 0, 1, 0), (1.0, 1.0), SeriesIds(), intercept=-1024.0)
    assert main(["infer", str(tmp_path / "ct2"), "--model", "test-bright-blob", "--json"]) == EXIT_OK
    doc = _json(capsys)
    [finding] = doc["findings"]
    assert doc["model"]["id"] == "test-bright-blob" and doc["model"]["trained_on"]
    assert 12 <= finding["long_axis_mm"] <= 24 and finding["score"] > 0.5
    assert main(["infer", str(tmp_path / "ct2"), "--model", "no-such-model"]) == EXIT_FAILED
    capsys.readouterr()
    assert main(["models"]) == EXIT_OK
    assert "trained on: none: a rule for tests" in capsys.readouterr().out
