"""Findings: one lesion each, with one identity, frozen provenance, a review status and measurements.

The UID minted at creation is the finding's identity everywhere (SEG TrackingUID, SR Tracking
Unique Identifier, journal key, PDF label) and is never re-minted on edit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

import numpy as np
from numpy.typing import NDArray


def new_uid() -> str:
    """A DICOM UID from a random UUID (2.25 root), valid as a SEG/SR tracking UID."""
    return f"2.25.{uuid.uuid4().int}"


class Origin(str, Enum):
    """Who made the finding's mask."""

    AI = "ai"
    AI_EDITED = "ai-edited"
    MANUAL = "manual"


class Status(str, Enum):
    """Review status; see TRANSITIONS for the allowed moves."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROPOSED: frozenset({Status.ACCEPTED, Status.REJECTED}),
    Status.ACCEPTED: frozenset({Status.PROPOSED, Status.REJECTED}),
    Status.REJECTED: frozenset({Status.PROPOSED, Status.ACCEPTED}),
}


@dataclass(frozen=True)
class Provenance:
    """Where a finding came from; set once."""

    origin: Origin
    model_id: str = ""
    model_version: str = ""
    weights_sha256: str = ""
    score: float | None = None  # the model's confidence (for our runner: the peak lesion probability)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", Origin(self.origin))
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be within [0, 1]; got {self.score}")


@dataclass(frozen=True, eq=False)
class RegionMask:
    """A binary mask stored cropped to its bounding box, in the volume's (k, j, i) index space."""

    offset: tuple[int, int, int]
    mask: NDArray[np.bool_]

    def __post_init__(self) -> None:
        if self.mask.ndim != 3 or self.mask.dtype != np.bool_:
            raise ValueError(f"mask must be a 3-D bool array; got {self.mask.dtype} {self.mask.shape}")

    @property
    def bbox(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(first, last + 1) index along (k, j, i)."""
        lo = self.offset
        hi = (lo[0] + self.mask.shape[0], lo[1] + self.mask.shape[1], lo[2] + self.mask.shape[2])
        return lo, hi

    def voxels(self) -> NDArray[np.intp]:
        """(n, 3) (k, j, i) indices of the mask's voxels."""
        return np.asarray(np.argwhere(self.mask) + np.array(self.offset), dtype=np.intp)


@dataclass(frozen=True)
class Measurements:
    """Sizes in millimetres and millilitres, endpoints in patient LPS mm."""

    volume_ml: float
    long_axis_mm: float
    short_axis_mm: float
    long_axis_lps: tuple[tuple[float, float, float], tuple[float, float, float]]
    short_axis_lps: tuple[tuple[float, float, float], tuple[float, float, float]]
    max_diameter_mm: float
    bbox_lps_mm: tuple[tuple[float, float, float], tuple[float, float, float]]  # min and max corner
    mean: float  # mean value inside (HU for CT)
    sd: float


@dataclass(frozen=True, eq=False)
class Finding:
    """One lesion: identity, kind, mask, measurements, provenance and review status."""

    uid: str
    kind: str
    region: RegionMask
    measurements: Measurements
    provenance: Provenance
    status: Status = Status.PROPOSED

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if not self.uid.startswith("2.25.") and not self.uid.replace(".", "").isdigit():
            raise ValueError(f"uid must be a DICOM UID; got {self.uid!r}")
