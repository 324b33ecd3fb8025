"""The series browser in a real Qt window: thumbnails arrive, problems show, rows open and drag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.data import factory as F
from viewer.core.problems import ProblemCode, Severity
from viewer.io.study import StudyScan, open_folder
from viewer.ui.panels.series_panel import SERIES_MIME, SEVERITY_ROLE, ProblemsPanel, SeriesList, series_row

pytestmark = pytest.mark.qt

AIR, BONE = 1024 - 1000, 1024 + 1000


def _write(folder: Path, description: str, number: int, n: int = 6, drop: int | None = None,
           rows: int = 32, cols: int = 32) -> None:
    stored = np.full((n, rows, cols), AIR, dtype=np.uint16)
    stored[:, rows // 3:2 * rows // 3, cols // 2:cols - 2] = BONE  # a block on the patient's left
    kept = [k for k in range(n) if k != drop]
    ids = F.new_ids(series_description=description, series_number=number)
    F.write_stack(folder, F.stack_positions(n, 2.5)[kept], stored=stored[kept], ids=ids, intercept=-1024.0)


@pytest.fixture
def study(tmp_path: Path) -> StudyScan:
    _write(tmp_path / "a", "Axial 2.5", 1)
    _write(tmp_path / "b", "Gappy", 2, n=8, drop=3)  # one missing slice: a warning
    _write(tmp_path / "c", "Wide", 3, rows=24, cols=48)
    return open_folder(str(tmp_path))


@pytest.fixture
def series_list(qtbot) -> SeriesList:  # type: ignore[no-untyped-def]
    w = SeriesList()
    qtbot.addWidget(w)
    w.resize(320, 400)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.stop_thumbnails()
    w.wait_thumbnails(10000)


def _row(series_list: SeriesList, text: str) -> int:
    return next(r for r in range(series_list.count()) if text in series_list.item(r).text())


def test_rows_describe_each_series(series_list: SeriesList, study: StudyScan) -> None:
    series_list.set_study(study, thumbnails=False)
    assert series_list.count() == 3
    text = series_list.item(_row(series_list, "Axial")).text()
    assert "1: Axial 2.5" in text and "CT" in text and "6 images" in text and "2.50 mm" in text
    assert "32 \u00d7 32" in series_list.item(_row(series_list, "Axial")).text()
    assert "48 \u00d7 24" in series_list.item(_row(series_list, "Wide")).text()


def test_thumbnails_arrive_with_content(qtbot, series_list: SeriesList, study: StudyScan) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(series_list.thumbnails_finished, timeout=20000):
        series_list.set_study(study)
    for row in range(series_list.count()):
        thumb = series_list.thumbnail_image(row)
        assert thumb is not None and thumb.max() > 200 and thumb.min() == 0
        assert not series_list.item(row).icon().isNull()
    axial = series_list.thumbnail_image(_row(series_list, "Axial"))
    assert axial is not None
    half = axial.shape[1] // 2
    assert axial[:, half:].mean() > 10 * max(axial[:, :half].mean(), 1.0)  # patient left on the right


def test_a_newer_study_drops_the_old_studys_thumbnails(qtbot, series_list: SeriesList,  # type: ignore[no-untyped-def]
                                                       study: StudyScan, tmp_path: Path) -> None:
    _write(tmp_path / "other" / "x", "Other", 7, n=4)
    other = open_folder(str(tmp_path / "other"))
    series_list.set_study(study)
    stale = series_list._generation  # noqa: SLF001 - the token the old study's jobs carry
    with qtbot.waitSignal(series_list.thumbnails_finished, timeout=20000):
        series_list.set_study(other)
    assert series_list.count() == 1 and "Other" in series_list.item(0).text()
    fresh = series_list.thumbnail_image(0)
    assert fresh is not None
    # A result of the old study arriving late (as a queued signal would) must not land on row 0.
    series_list._relay.done.emit(stale, 0, np.full_like(fresh, 255), "")  # noqa: SLF001
    assert series_list.thumbnail_image(0) is fresh and series_list.pending_thumbnails() == 0


def test_problem_badge_and_tooltip(series_list: SeriesList, study: StudyScan) -> None:
    series_list.set_study(study, thumbnails=False)
    gappy = series_list.item(_row(series_list, "Gappy"))
    assert series_list.severity(_row(series_list, "Gappy")) is Severity.WARNING
    assert gappy.data(SEVERITY_ROLE) == "warning"
    assert "missing" in gappy.toolTip() and gappy.toolTip().startswith("WARNING")
    candidate = series_list.candidate(_row(series_list, "Gappy"))
    assert any(p.code is ProblemCode.MISSING_SLICES for p in candidate.problems)
    clean = series_list.item(_row(series_list, "Axial"))
    assert series_list.severity(_row(series_list, "Axial")) is None and clean.toolTip() == "No problems found"
    # The badge is painted: the icon's top-right corner is amber on the warned row only.
    def corner(item) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
        image = item.icon().pixmap(80, 80).toImage()
        c = image.pixelColor(int(image.width() * 0.76), int(image.height() * 0.26))  # beside the "!"
        return c.red(), c.green(), c.blue()
    r, g, b = corner(gappy)
    assert r > 200 and 120 < g < 200 and b < 80
    assert corner(clean)[0] < 60


def test_double_click_and_enter_choose_the_series(qtbot, series_list: SeriesList,  # type: ignore[no-untyped-def]
                                                  study: StudyScan) -> None:
    series_list.set_study(study, thumbnails=False)
    row = _row(series_list, "Wide")
    rect = series_list.visualItemRect(series_list.item(row))
    qtbot.mouseClick(series_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(series_list.series_chosen) as chosen:
        qtbot.mouseDClick(series_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert chosen.args[0] is study.series[row]
    series_list.setCurrentRow(0)
    with qtbot.waitSignal(series_list.series_chosen) as chosen:
        qtbot.keyClick(series_list, Qt.Key.Key_Return)
    assert chosen.args[0] is study.series[0]


def test_drag_payload_names_the_row(series_list: SeriesList, study: StudyScan) -> None:
    series_list.set_study(study, thumbnails=False)
    mime = series_list.mimeData([series_list.item(2)])
    assert mime.hasFormat(SERIES_MIME) and series_row(mime) == 2
    assert series_list.dragEnabled() and SERIES_MIME in series_list.mimeTypes()
    assert series_list.model().mimeData([series_list.model().index(1, 0)]).data(SERIES_MIME) == b"1"


def test_problems_panel_lists_the_worst_first(qtbot, study: StudyScan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    panel.set_study(open_folder(str(tmp_path)))
    severities = [panel.topLevelItem(i).text(0) for i in range(panel.topLevelItemCount())]
    assert severities[0] == "error" and "warning" in severities
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_an_undecodable_series_gets_a_placeholder_and_says_why(qtbot, series_list: SeriesList,  # type: ignore[no-untyped-def]
                                                               study: StudyScan) -> None:
    row = _row_of(study, "Axial")
    middle = study.series[row].frames[len(study.series[row].frames) // 2].file.path
    data = Path(middle).read_bytes()
    Path(middle).write_bytes(data[:-200])  # cut short after the scan
    with qtbot.waitSignal(series_list.thumbnails_finished, timeout=20000):
        series_list.set_study(study)
    assert series_list.thumbnail_image(row) is None
    assert "Thumbnail:" in series_list.item(row).toolTip() and Path(middle).name in series_list.item(row).toolTip()
    assert not series_list.item(row).icon().isNull()
    assert all(series_list.thumbnail_image(r) is not None for r in range(3) if r != row)


def _row_of(study: StudyScan, text: str) -> int:
    return next(r for r, s in enumerate(study.series) if text in s.description)
