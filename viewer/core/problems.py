"""Problems found while reading a study: named, with a plain-language reason and the numbers behind it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    """How much a problem matters to the reader."""

    INFO = "info"  # worth knowing, nothing was changed or lost
    WARNING = "warning"  # the data was opened but differs from what was acquired (resampled, files dropped)
    ERROR = "error"  # a file or series could not be opened


class ProblemCode(str, Enum):
    """Stable names for every problem kind; tests, the CLI's JSON and the UI key on these."""

    # One file.
    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    BAD_LENGTH = "bad_length"
    PIXEL_DATA_SHORT = "pixel_data_short"
    NO_PIXEL_DATA = "no_pixel_data"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"
    NO_DECODER = "no_decoder"
    DECODE_FAILED = "decode_failed"
    UNSUPPORTED_IMAGE = "unsupported_image"
    UNREADABLE = "unreadable"
    BROKEN_LINK = "broken_link"
    LINK_OUTSIDE = "link_outside"
    LINK_LOOP = "link_loop"
    SPECIAL_FILE = "special_file"
    DUPLICATE_INSTANCE = "duplicate_instance"
    # One series.
    MISSING_GEOMETRY = "missing_geometry"
    MISSING_SLICES = "missing_slices"
    DUPLICATE_POSITIONS = "duplicate_positions"
    NONUNIFORM_SPACING = "nonuniform_spacing"
    GANTRY_TILT = "gantry_tilt"
    MIXED_ORIENTATION = "mixed_orientation"
    MIXED_SIZE = "mixed_size"
    MIXED_PATIENTS = "mixed_patients"
    MIXED_FRAME_OF_REFERENCE = "mixed_frame_of_reference"
    LOCALIZER_SPLIT = "localizer_split"
    SINGLE_SLICE = "single_slice"
    RESAMPLED = "resampled"
    LOADED_2D = "loaded_2d"


@dataclass(frozen=True)
class Problem:
    """One problem: what, how bad, where, and the numbers a reader or a script needs.

    Parameters
    ----------
    code
        The problem kind (a :class:`ProblemCode` or its string value).
    severity
        A :class:`Severity` or its string value.
    message
        One plain-language sentence for the reader.
    path
        The file concerned, if the problem is about one file.
    details
        Numbers and names behind the message (e.g. ``{"angle_deg": 12.0}``).
    """

    code: ProblemCode
    severity: Severity
    message: str
    path: str | None = None
    details: Mapping[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ProblemCode(self.code))
        object.__setattr__(self, "severity", Severity(self.severity))
        if not self.message:
            raise ValueError("message must not be empty")

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form."""
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "path": self.path,
            "details": dict(self.details),
        }


def worst(problems: Iterable[Problem]) -> Severity | None:
    """The most serious severity among ``problems``, or None if there are none."""
    order = [Severity.INFO, Severity.WARNING, Severity.ERROR]
    found = [order.index(p.severity) for p in problems]
    return order[max(found)] if found else None
