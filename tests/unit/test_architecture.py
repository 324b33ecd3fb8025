"""The rings of ARCHITECTURE.md hold, and heavy libraries stay out of light entry points."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is part of the test dependencies"
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout)}


def test_core_imports_no_heavy_library() -> None:
    loaded = _modules_after("import viewer.core.volume, viewer.core.resample, viewer.core.geometry")
    assert not loaded & {"torch", "PySide6", "vtkmodules", "pydicom", "SimpleITK", "highdicom"}


def test_cli_and_io_start_without_gui_or_torch() -> None:
    loaded = _modules_after("import viewer.cli, viewer.io.study, viewer.io.loader")
    assert not loaded & {"torch", "PySide6", "vtkmodules", "pyqtgraph"}


def test_main_window_starts_without_torch() -> None:
    loaded = _modules_after("import viewer.app, viewer.ui.main_window")
    assert "PySide6" in loaded and "torch" not in loaded
