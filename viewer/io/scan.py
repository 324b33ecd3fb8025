"""Walk a study folder safely and read every file's header (never its pixels)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.io.headers import Frame, HeaderError, read_frames

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
            code = ProblemCode.LINK_LOOP if exc.errno == 40 else (
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
        Called as ``(files done, files found so far)`` every few files.
    cancel
        Polled between files; returning True raises :class:`Cancelled`.
    on_frame
        Called with the first image plane found, so a caller can show an image at once.
    """
    result = ScanResult(root=os.path.abspath(root))
    paths = list(iter_files(root, result))
    result.files_seen = len(paths)
    first_sent = on_frame is None
    for done, path in enumerate(paths, 1):
        if cancel is not None and cancel():
            raise Cancelled()
        if path.lower().endswith(NIFTI_SUFFIXES):
            result.nifti_files.append(path)
            continue
        try:
            frames = read_frames(path)
        except HeaderError as exc:
            result.problems.append(exc.problem)
            continue
        result.frames.extend(frames)
        if not first_sent and on_frame is not None and frames:
            on_frame(frames[len(frames) // 2])
            first_sent = True
        if on_progress is not None and (done % 32 == 0 or done == len(paths)):
            on_progress(done, len(paths))
    return result


def scan_file(path: str) -> ScanResult:
    """Scan one DICOM or NIfTI file as if it were a folder holding only it."""
    result = ScanResult(root=os.path.dirname(os.path.abspath(path)), files_seen=1)
    if path.lower().endswith(NIFTI_SUFFIXES):
        result.nifti_files.append(path)
        return result
    try:
        result.frames.extend(read_frames(path))
    except HeaderError as exc:
        result.problems.append(exc.problem)
    return result
