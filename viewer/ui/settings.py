"""What Lumen remembers between sessions: recent studies, last folder, window layout, presets.

A thin typed layer over :class:`QSettings`. Lists are stored as JSON text because QSettings'
INI and registry back-ends disagree on how they round-trip lists (a one-element list can come
back as a plain string). Pass a ``QSettings`` in tests so they never touch the user's config.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

ORGANIZATION, APPLICATION = "Lumen", "Lumen"
MAX_RECENT = 10


@dataclass(frozen=True)
class UserPreset:
    """A window/level the user saved under a name."""

    name: str
    center: float
    width: float

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a preset needs a name")
        if not self.width > 0:
            raise ValueError(f"preset {self.name!r}: width must be positive; got {self.width}")


class Settings:
    """Typed access to Lumen's persistent settings.

    Parameters
    ----------
    store
        Where to keep them; by default the user's native settings for Lumen.
    """

    def __init__(self, store: QSettings | None = None) -> None:
        # This constructor honours QSettings.setDefaultFormat/setPath (the org/app one does not).
        self.store = store if store is not None else QSettings(
            QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    # --- recent studies ---------------------------------------------------------------------

    def add_recent(self, path: str) -> None:
        """Put ``path`` first in the recent list (once), keeping at most :data:`MAX_RECENT`."""
        path = _normal(path)
        kept = [p for p in self._json_list("recent/studies") if isinstance(p, str) and _normal(p) != path]
        self._set_json("recent/studies", [path, *kept][:MAX_RECENT])

    def recent(self) -> list[str]:
        """Recent studies, most recent first, leaving out those that no longer exist.

        Missing paths are hidden, not forgotten: an unmounted share comes back when remounted.
        """
        return [p for p in self._json_list("recent/studies") if isinstance(p, str) and os.path.exists(p)]

    def clear_recent(self) -> None:
        """Forget every recent study."""
        self.store.remove("recent/studies")

    # --- last folder, layout -----------------------------------------------------------------

    @property
    def last_folder(self) -> str:
        """The folder the open dialog starts in (the home folder when unset or gone)."""
        value = self.store.value("recent/last_folder", "")
        folder = value if isinstance(value, str) else ""
        return folder if folder and os.path.isdir(folder) else os.path.expanduser("~")

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("recent/last_folder", _normal(folder))

    @property
    def layout_name(self) -> str:
        """Name of the viewport layout last used (empty when never set)."""
        value = self.store.value("window/layout", "")
        return value if isinstance(value, str) else ""

    @layout_name.setter
    def layout_name(self, name: str) -> None:
        self.store.setValue("window/layout", str(name))

    @property
    def ai_device(self) -> str:
        """Where models run: "auto" (CUDA, then MPS, then CPU), "cuda", "mps" or "cpu"."""
        value = self.store.value("ai/device", "auto")
        return value if value in ("auto", "cuda", "mps", "cpu") else "auto"

    @ai_device.setter
    def ai_device(self, device: str) -> None:
        if device not in ("auto", "cuda", "mps", "cpu"):
            raise ValueError(f"device must be auto, cuda, mps or cpu; got {device!r}")
        self.store.setValue("ai/device", device)

    # --- window geometry and dock/toolbar state ----------------------------------------------

    def save_window(self, window: QMainWindow) -> None:
        """Remember ``window``'s geometry and its docks' and toolbars' state.

        Docks and toolbars need an ``objectName`` for Qt to restore them.
        """
        self.store.setValue("window/geometry", window.saveGeometry())
        self.store.setValue("window/state", window.saveState())

    def restore_window(self, window: QMainWindow) -> bool:
        """Give ``window`` the geometry and state saved last; False if none was saved or it failed."""
        geometry, state = self.store.value("window/geometry"), self.store.value("window/state")
        if not isinstance(geometry, QByteArray) or not isinstance(state, QByteArray):
            return False
        return bool(window.restoreGeometry(geometry)) and bool(window.restoreState(state))

    # --- user window presets -----------------------------------------------------------------

    def window_presets(self) -> list[UserPreset]:
        """The user's own window/level presets, in the order saved; malformed entries are skipped."""
        out: list[UserPreset] = []
        for entry in self._json_list("presets/window"):
            if not isinstance(entry, list) or len(entry) != 3:
                continue
            try:
                out.append(UserPreset(str(entry[0]), float(entry[1]), float(entry[2])))
            except (TypeError, ValueError):
                continue
        return out

    def set_window_presets(self, presets: list[UserPreset] | list[tuple[str, float, float]]) -> None:
        """Replace the user's presets (``UserPreset`` or ``(name, center, width)`` tuples)."""
        made = [p if isinstance(p, UserPreset) else UserPreset(str(p[0]), float(p[1]), float(p[2]))
                for p in presets]
        self._set_json("presets/window", [[p.name, p.center, p.width] for p in made])

    def sync(self) -> None:
        """Write pending changes to disk now (Qt otherwise does it later, and at exit)."""
        self.store.sync()

    # --- storage -------------------------------------------------------------------------------

    def _json_list(self, key: str) -> list[object]:
        raw = self.store.value(key, "")
        try:
            value = json.loads(raw) if isinstance(raw, str) and raw else []
        except json.JSONDecodeError:  # hand-edited or corrupt: start afresh rather than fail
            return []
        return value if isinstance(value, list) else []

    def _set_json(self, key: str, value: object) -> None:
        self.store.setValue(key, json.dumps(value))


def _normal(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))
