"""Find models: the ones shipped under models/ and the ones a user copies into their models folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from viewer.inference.manifest import ManifestError, ModelManifest, read


def shipped_dir() -> Path:
    """models/ of the source tree."""
    return Path(__file__).resolve().parents[2] / "models"


def user_dir() -> Path:
    """Where users drop their own models (``LUMEN_MODELS_DIR`` overrides)."""
    override = os.environ.get("LUMEN_MODELS_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lumen" / "models"


@dataclass(frozen=True)
class Discovery:
    """Models found, and folders that looked like models but could not be read."""

    models: tuple[ModelManifest, ...]
    errors: tuple[tuple[Path, str], ...]

    def get(self, model_id: str) -> ModelManifest:
        """The model with ``model_id``."""
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(m.id for m in self.models) or "none"
        raise KeyError(f"no model {model_id!r} (found: {known})")


def discover(*folders: Path) -> Discovery:
    """Models in every immediate subfolder with a manifest.json; later folders do not shadow earlier."""
    roots = folders or (shipped_dir(), user_dir())
    models: dict[str, ModelManifest] = {}
    errors: list[tuple[Path, str]] = []
    for root in roots:
        for folder in sorted(p for p in root.glob("*") if (p / "manifest.json").is_file()):
            try:
                manifest = read(folder)
            except ManifestError as exc:
                errors.append((folder, str(exc)))
                continue
            models.setdefault(manifest.id, manifest)
    return Discovery(tuple(models.values()), tuple(errors))
