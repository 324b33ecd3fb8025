"""Persistent settings round-trip through a private INI file, never the user's own config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from viewer.ui.settings import MAX_RECENT, Settings, UserPreset

pytestmark = pytest.mark.qt


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path) -> Iterator[None]:
    """Even a default-constructed QSettings lands in tmp_path during these tests."""
    before = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qt-config"))
    yield
    QSettings.setDefaultFormat(before)


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    return tmp_path / "lumen.ini"


def _settings(ini: Path) -> Settings:
    return Settings(QSettings(str(ini), QSettings.Format.IniFormat))


def _folders(tmp_path: Path, n: int) -> list[str]:
    out = []
    for k in range(n):
        (tmp_path / f"study, {k}").mkdir()  # a comma on purpose: INI lists split on commas
        out.append(str(tmp_path / f"study, {k}"))
    return out


def test_recent_is_most_recent_first_and_unique(ini: Path, tmp_path: Path) -> None:
    a, b, c = _folders(tmp_path, 3)
    s = _settings(ini)
    for path in (a, b, c, a + "/", b):
        s.add_recent(path)
    assert s.recent() == [b, a, c]
    s.sync()
    assert _settings(ini).recent() == [b, a, c]  # read back from the file


def test_recent_keeps_at_most_ten(ini: Path, tmp_path: Path) -> None:
    folders = _folders(tmp_path, MAX_RECENT + 3)
    s = _settings(ini)
    for path in folders:
        s.add_recent(path)
    assert s.recent() == folders[::-1][:MAX_RECENT]


def test_recent_hides_folders_that_are_gone(ini: Path, tmp_path: Path) -> None:
    a, b = _folders(tmp_path, 2)
    s = _settings(ini)
    s.add_recent(a)
    s.add_recent(b)
    Path(a).rmdir()
    assert s.recent() == [b]
    s.clear_recent()
    assert s.recent() == []


def test_single_recent_entry_round_trips(ini: Path, tmp_path: Path) -> None:
    [a] = _folders(tmp_path, 1)
    s = _settings(ini)
    s.add_recent(a)
    s.sync()
    assert _settings(ini).recent() == [a]


def test_last_folder_layout_and_presets(ini: Path, tmp_path: Path) -> None:
    s = _settings(ini)
    assert s.last_folder == str(Path.home()) and s.layout_name == "" and s.window_presets() == []
    s.last_folder = str(tmp_path)
    s.layout_name = "2x2 MPR"
    s.set_window_presets([("Liver", 60.0, 160.0), UserPreset("Lung, wide", -600.0, 1600.0)])
    s.sync()
    again = _settings(ini)
    assert again.last_folder == str(tmp_path) and again.layout_name == "2x2 MPR"
    assert again.window_presets() == [UserPreset("Liver", 60.0, 160.0), UserPreset("Lung, wide", -600.0, 1600.0)]
    with pytest.raises(ValueError, match="width"):
        s.set_window_presets([("Bad", 0.0, 0.0)])


def test_corrupt_values_do_not_break_reading(ini: Path) -> None:
    store = QSettings(str(ini), QSettings.Format.IniFormat)
    store.setValue("recent/studies", "{not json")
    store.setValue("presets/window", '[["ok", 1, 2], ["short"], 5]')
    s = Settings(store)
    assert s.recent() == [] and s.window_presets() == [UserPreset("ok", 1.0, 2.0)]


def _window() -> QMainWindow:
    w = QMainWindow()
    w.setCentralWidget(QLabel("view"))
    dock = QDockWidget("Series", w)
    dock.setObjectName("series_dock")
    dock.setWidget(QLabel("series"))
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    return w


def test_window_geometry_and_state_round_trip(qtbot, ini: Path) -> None:  # type: ignore[no-untyped-def]
    first = _window()
    qtbot.addWidget(first)
    first.resize(700, 500)
    first.show()
    qtbot.waitExposed(first)
    first.findChild(QDockWidget, "series_dock").hide()
    s = _settings(ini)
    assert s.restore_window(first) is False  # nothing saved yet
    s.save_window(first)
    s.sync()
    second = _window()
    qtbot.addWidget(second)
    assert _settings(ini).restore_window(second) is True
    second.show()
    qtbot.waitExposed(second)
    assert second.size() == first.size()
    assert second.findChild(QDockWidget, "series_dock").isHidden()


def test_default_store_is_redirected_by_the_fixture(tmp_path: Path) -> None:
    s = Settings()
    s.layout_name = "single"
    s.sync()
    assert Path(s.store.fileName()).is_relative_to(tmp_path)
