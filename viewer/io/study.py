"""One call from a folder to its series: scan headers, group, check geometry."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from viewer.core.problems import Problem, Severity
from viewer.io.headers import Frame
from viewer.io.scan import CancelFn, ProgressFn, scan_file, scan_folder
from viewer.io.series import LoadMode, SeriesCandidate, build_series


@dataclass
class StudyScan:
    """A scanned folder: its loadable series and the problems of files that were not usable."""

    root: str
    series: list[SeriesCandidate]
    file_problems: list[Problem]
    files_seen: int

    @property
    def ok(self) -> bool:
        """True when every file was read and no series has a warning or error."""
        every = self.file_problems + [p for s in self.series for p in s.problems]
        return self.series != [] and all(p.severity is Severity.INFO for p in every)

    def default(self) -> SeriesCandidate | None:
        """The series to show first: the 3-D stack with the most slices, localizers last; on a tie,
        one that names its modality (a DICOM image) before one that does not (such as a NIfTI label
        map of the same grid, like the demo's ground truth)."""
        if not self.series:
            return None
        return max(self.series, key=lambda s: (not s.is_localizer, s.mode is not LoadMode.PLANES, s.shape[0],
                                               bool(s.meta.modality)))

    def find(self, key: str) -> SeriesCandidate:
        """The series whose key, series UID, or 1-based position in the table is ``key``."""
        if key.isdigit() and 1 <= int(key) <= len(self.series):
            return self.series[int(key) - 1]
        for s in self.series:
            if key in (s.key, s.meta.series_uid):
                return s
        raise KeyError(f"no series {key!r} in {self.root}")


def open_folder(
    root: str,
    on_progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> StudyScan:
    """Scan ``root`` (a folder, or a single DICOM/NIfTI file) and group what it holds into series."""
    if os.path.isfile(root):
        result = scan_file(root)
    else:
        result = scan_folder(root, on_progress, cancel, on_frame)
    series = build_series(result)
    return StudyScan(result.root, series, result.problems, result.files_seen)
