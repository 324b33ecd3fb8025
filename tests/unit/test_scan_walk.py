"""Walking a study folder: every image once, links that leave or loop are not followed, nothing blocks."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path

import pytest

from tests.data import factory as F
from viewer.core.problems import Problem, ProblemCode
from viewer.io import scan
from viewer.io.loader import load_series
from viewer.io.series import LoadMode
from viewer.io.study import StudyScan, open_folder

N = 6


def _series(folder: Path, n: int = N, **options: object) -> list[Path]:
    return F.axial_series(folder, n=n, ids=F.new_ids(), **options)


def _problem_at(study: StudyScan, path: Path) -> Problem:
    found = [p for p in study.file_problems if p.path == str(path)]
    assert len(found) == 1, study.file_problems
    return found[0]


def _frames(study: StudyScan) -> int:
    return sum(len(s.frames) for s in study.series)


def test_a_series_spread_over_nested_folders_is_one_series(tmp_path: Path) -> None:
    paths = _series(tmp_path / "spread")
    for n, path in enumerate(paths):
        target = tmp_path / "spread" / ("a" if n % 2 else "b") / ("deep" * (n % 3)) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    study = open_folder(str(tmp_path))
    assert study.file_problems == [] and study.files_seen == N
    [series] = study.series
    assert series.mode is LoadMode.VOLUME and series.problems == []


def test_a_link_to_a_file_inside_is_read_once(tmp_path: Path) -> None:
    paths = _series(tmp_path / "series")
    (tmp_path / "link.dcm").symlink_to(paths[2])
    (tmp_path / "copy-of-link.dcm").symlink_to(tmp_path / "link.dcm")
    study = open_folder(str(tmp_path))
    assert study.files_seen == N and study.file_problems == []
    [series] = study.series
    assert len(series.frames) == N and series.problems == []


def test_a_copied_file_is_read_once_and_noted(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    copy = Path(shutil.copy(paths[2], tmp_path / "ZZ-copy.dcm"))
    study = open_folder(str(tmp_path))
    [series] = study.series
    assert len(series.frames) == N and series.problems == []
    assert _problem_at(study, copy).code is ProblemCode.DUPLICATE_INSTANCE


def test_a_link_to_a_folder_outside_is_not_followed(tmp_path: Path) -> None:
    _series(tmp_path / "outside", n=3)
    _series(tmp_path / "study" / "series")
    link = tmp_path / "study" / "elsewhere"
    link.symlink_to(tmp_path / "outside", target_is_directory=True)
    study = open_folder(str(tmp_path / "study"))
    assert _problem_at(study, link).code is ProblemCode.LINK_OUTSIDE
    assert len(study.series) == 1 and _frames(study) == N
    assert study.files_seen == N


def test_a_link_to_a_file_outside_is_not_followed(tmp_path: Path) -> None:
    [outside] = _series(tmp_path / "outside", n=1)
    _series(tmp_path / "study")
    link = tmp_path / "study" / "secret.dcm"
    link.symlink_to(outside)
    study = open_folder(str(tmp_path / "study"))
    assert _problem_at(study, link).code is ProblemCode.LINK_OUTSIDE
    assert _frames(study) == N


@pytest.mark.parametrize("target", ["..", ".", "self"])
def test_a_link_loop_is_reported_and_does_not_hang(tmp_path: Path, target: str) -> None:
    study_dir = tmp_path / "study"
    _series(study_dir / "series")
    link = study_dir / "series" / "loop"
    link.symlink_to(link if target == "self" else target, target_is_directory=True)
    study = open_folder(str(study_dir))
    assert _problem_at(study, link).code is ProblemCode.LINK_LOOP
    assert _frames(study) == N and study.files_seen == N


def test_a_dangling_link_is_reported(tmp_path: Path) -> None:
    _series(tmp_path)
    link = tmp_path / "gone.dcm"
    link.symlink_to(tmp_path / "deleted-since.dcm")
    study = open_folder(str(tmp_path))
    assert _problem_at(study, link).code is ProblemCode.BROKEN_LINK
    assert _frames(study) == N


def test_a_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    _series(tmp_path)
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    study = open_folder(str(tmp_path))
    assert _problem_at(study, fifo).code is ProblemCode.SPECIAL_FILE
    assert _frames(study) == N


def test_a_link_to_a_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    _series(tmp_path)
    (tmp_path / ".private").mkdir()  # hidden: only the link leads there
    os.mkfifo(tmp_path / ".private" / "pipe")
    link = tmp_path / "pipe-link.dcm"
    link.symlink_to(tmp_path / ".private" / "pipe")
    study = open_folder(str(tmp_path))
    assert _problem_at(study, link).code is ProblemCode.SPECIAL_FILE
    assert _frames(study) == N


def test_an_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _series(tmp_path)
    locked = str(paths[3])
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):  # we run as root, so permissions cannot stop us
        if os.fspath(file) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    study = open_folder(str(tmp_path))
    problem = _problem_at(study, paths[3])
    assert problem.code is ProblemCode.UNREADABLE and "Permission denied" in problem.message
    [series] = study.series
    assert len(series.frames) == N - 1
    assert ProblemCode.MISSING_SLICES in {p.code for p in series.problems}  # and the gap is named


def test_an_unreadable_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _series(tmp_path / "ok")
    _series(tmp_path / "locked", n=3)
    real_scandir = os.scandir

    def guarded_scandir(path):
        if os.fspath(path) == str(tmp_path / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", guarded_scandir)
    study = open_folder(str(tmp_path))
    assert _problem_at(study, tmp_path / "locked").code is ProblemCode.UNREADABLE
    assert _frames(study) == N


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    _series(tmp_path / ".trash", n=3)
    F.write_bytes(tmp_path / "series" / ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(100))
    study = open_folder(str(tmp_path))
    assert study.file_problems == [] and study.files_seen == N
    assert len(study.series) == 1 and _frames(study) == N


def test_a_large_folder_read_in_parallel_gives_the_same_series(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _series(tmp_path / "one", n=9)
    _series(tmp_path / "two", n=5)
    F.write_bytes(tmp_path / "notes.txt", b"not an image")
    serial = open_folder(str(tmp_path))
    monkeypatch.setattr(scan, "PARALLEL_MIN_FILES", 2)  # worker processes for a small folder
    monkeypatch.setattr(scan, "CHUNK_FILES", 3)
    parallel = open_folder(str(tmp_path))
    assert [len(s.frames) for s in parallel.series] == [len(s.frames) for s in serial.series]
    assert [p.path for p in parallel.file_problems] == [p.path for p in serial.file_problems]
    for a, b in zip(parallel.series, serial.series, strict=True):
        assert (load_series(a).array == load_series(b).array).all()


def test_a_single_file_can_be_opened_directly(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    study = open_folder(str(paths[0]))
    assert study.files_seen == 1 and len(study.series) == 1
    assert study.series[0].mode is LoadMode.PLANES
