"""Where the app keeps its files: the user cache (demo study) and settings."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """User cache folder; ``LUMEN_CACHE_DIR`` overrides it (tests, portable installs)."""
    override = os.environ.get("LUMEN_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "lumen"


def repo_root() -> Path:
    """The source checkout (for models/ and resources/ when running from a clone)."""
    return Path(__file__).resolve().parent.parent
