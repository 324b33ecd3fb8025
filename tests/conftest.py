"""Shared set-up: the generated test data in tests/data is importable as ``tests.data``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # `pytest` started as a script does not put the checkout on the path
    sys.path.insert(0, ROOT)
