"""Walk a study folder safely and read every file's header (never its pixels)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.io.headers import Frame, HeaderError, read_frames
from viewer.io.pool import get_pool

NIFTI_SUFFIXES = (".nii", ".nii.gz")

ProgressFn = Callable[[int, int], None]  # (files done, files found)
CancelFn = Callable[[], bool]


class Cancelled(Exception):
    """The caller asked to stop."""


@dataclass
class ScanResult:
    """Everything a folder scan found: image planes, NIfTI files, problems and counts."""

    root: str
    frames: list[Frame] = field(default_factory=list)
    nifti_files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_seen: int = 0
    hidden_skipped: int = 0


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _info(code: ProblemCode, path: str, message: str) -> Problem:
    return Problem(code, Severity.INFO, message, path)


class _Walker:
    """Depth-first walk: regular files only, links followed only when they stay inside the root."""

    def __init__(self, root: str, result: ScanResult) -> None:
        self.root = os.path.realpath(root)
        self.result = result
        self.seen: set[tuple[int, int]] = set()

    def files(self) -> Iterator[str]:
        st = os.stat(self.root)
        self.seen.add((st.st_dev, st.st_ino))
        stack = [self.root]
        while stack:
            yield from self._visit(stack.pop(), stack)

    def _visit(self, folder: str, stack: list[str]) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.result.problems.append(Problem(
                ProblemCode.UNREADABLE, Severity.ERROR,
                f"folder cannot be read: {exc.strerror}", folder))
            return
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                self.result.hidden_skipped += 1
                continue
            st = self._stat(entry)
            if st is None:
                continue
            key = (st.st_dev, st.st_ino)
            if key in self.seen:
                if stat.S_ISDIR(st.st_mode):
                    self.result.problems.append(_info(
                        ProblemCode.LINK_LOOP, entry.path, "link leads back into the folder; not followed"))
                continue
            self.seen.add(key)
            if stat.S_ISDIR(st.st_mode):
                subfolders.append(entry.path)
            elif stat.S_ISREG(st.st_mode):
                yield entry.path
            else:
                self.result.problems.append(_info(
                    ProblemCode.SPECIAL_FILE, entry.path, "not a regular file (device, pipe or socket); skipped"))
        stack.extend(reversed(subfolders))

    def _stat(self, entry: os.DirEntry[str]) -> os.stat_result | None:
        try:
            if not entry.is_symlink():
                return entry.stat(follow_symlinks=False)
            target = os.path.realpath(entry.path)
            if not _inside(target, self.root):
                self.result.problems.append(_info(
                    ProblemCode.LINK_OUTSIDE, entry.path, "link points outside the study folder; not followed"))
                return None
            return os.stat(entry.path)
        except OSError as exc:
            code = ProblemCode.LINK_LOOP if exc.errno == errno.ELOOP else (
                ProblemCode.BROKEN_LINK if entry.is_symlink() else ProblemCode.UNREADABLE)
            reason = {ProblemCode.LINK_LOOP: "link loops back on itself",
                      ProblemCode.BROKEN_LINK: "link points to nothing"}.get(code, f"cannot be read: {exc.strerror}")
            self.result.problems.append(Problem(code, Severity.WARNING, reason, entry.path))
            return None


def iter_files(root: str, result: ScanResult) -> Iterator[str]:
    """Regular files under ``root`` (sorted, each once); skipped entries go to ``result.problems``."""
    if not os.path.isdir(root):
        raise NotADirectoryError(f"not a folder: {root}")
    return _Walker(root, result).files()


PARALLEL_MIN_FILES = 200  # below this, starting work in other processes costs more than it saves
CHUNK_FILES = 64

Outcome = list[Frame] | Problem


def read_one(path: str) -> Outcome:
    """Frames of one file, or the problem that makes it unusable."""
    try:
        return read_frames(path)
    except HeaderError as exc:
        return exc.problem


def read_chunk(paths: list[str]) -> list[Outcome]:
    """:func:`read_one` for several files (one task for a worker process)."""
    return [read_one(p) for p in paths]


def _outcomes(paths: list[str], cancel: CancelFn | None) -> Iterator[list[Outcome]]:
    """Header outcomes in file order, a chunk at a time; other processes do big folders."""
    chunks = [paths[i:i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    pool = get_pool() if len(paths) >= PARALLEL_MIN_FILES else None
    if pool is None:
        for chunk in chunks:
            if cancel is not None and cancel():
                raise Cancelled()
            yield read_chunk(chunk)
        return
    yield [read_one(paths[0])]  # the first image at once, while the workers start
    futures = [pool.submit(read_chunk, c) for c in [chunks[0][1:], *chunks[1:]]]
    try:
        for future in futures:
            if cancel is not None and cancel():
                raise Cancelled()
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def scan_folder(
    root: str,
    on_progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> ScanResult:
    """Read the headers of every file under ``root``.

    Parameters
    ----------
    root
        The study folder (walked recursively).
    on_progress
        Called as ``(files done, files found)`` after each chunk of files.
    cancel
        Polled between chunks; returning True raises :class:`Cancelled`.
    on_frame
        Called once with the first image plane found, so a caller can show an image at once.
    """
    result = ScanResult(root=os.path.abspath(root))
    paths = list(iter_files(root, result))
    result.files_seen = len(paths)
    result.nifti_files = [p for p in paths if p.lower().endswith(NIFTI_SUFFIXES)]
    dicom = [p for p in paths if not p.lower().endswith(NIFTI_SUFFIXES)]
    done = len(result.nifti_files)
    for chunk in _outcomes(dicom, cancel):
        for outcome in chunk:
            if isinstance(outcome, Problem):
                result.problems.append(outcome)
                continue
            if on_frame is not None and outcome and not result.frames:
                on_frame(outcome[len(outcome) // 2])
            result.frames.extend(outcome)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, len(paths))
    return result


def scan_file(path: str) -> ScanResult:
    """Scan one DICOM or NIfTI file as if it were a folder holding only it."""
    result = ScanResult(root=os.path.dirname(os.path.abspath(path)), files_seen=1)
    if path.lower().endswith(NIFTI_SUFFIXES):
        result.nifti_files.append(path)
        return result
    outcome = read_one(path)
    if isinstance(outcome, Problem):
        result.problems.append(outcome)
    else:
        result.frames.extend(outcome)
    return result
