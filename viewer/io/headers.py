"""Read one file's DICOM header safely and describe each image plane (frame) it holds.

pydicom is the gatekeeper: nothing else reads a file before it has passed here. Large values are
deferred (never allocated), and the pixel data element is located by hand so that its declared
length can be checked against the file size and the image size before anything decodes it.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_dataset
from pydicom.uid import UID

from viewer.core.problems import Problem, ProblemCode, Severity

MAX_FRAME_PIXELS = 8192 * 8192  # far above any CT/MR matrix; stops a hostile header's huge allocation
_DEFER_BYTES = 16 * 1024  # values larger than this are not read during the header scan
_PIXEL_TAG = (0x7FE0, 0x0010)
_NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2.2",  # explicit VR big endian (retired, still met)
}
DEFLATED = "1.2.840.10008.1.2.1.99"
_INFLATE_RATIO, _INFLATE_MIN, _INFLATE_MAX = 50, 16 << 20, 2 << 30  # bounds on a deflated dataset
_META_PEEK = 4096  # bytes of the file meta group searched for the deflated syntax UID
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR"}


class HeaderError(Exception):
    """A file could not be used; carries the :class:`Problem` that says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PixelInfo:
    """How a file stores its pixels, checked against the file's size."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    transfer_syntax: str
    encapsulated: bool
    offset: int | None  # file offset of native pixel bytes; None if they must be decoded
    big_endian: bool = False

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native frame."""
        return self.rows * self.columns * self.samples * (self.bits_allocated // 8)


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What a scanned image file is and who it belongs to (shared by all its frames)."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    study_uid: str
    study_date: str
    study_description: str
    accession_number: str
    series_uid: str
    series_number: int | None
    series_description: str
    modality: str
    frame_of_reference_uid: str
    image_type: tuple[str, ...]
    instance_number: int | None
    gantry_tilt: float | None
    pixels: PixelInfo


@dataclass(frozen=True, slots=True)
class Frame:
    """One image plane: a single-frame file, or one frame of a multi-frame file."""

    file: FileInfo
    index: int
    position: tuple[float, float, float] | None  # ImagePositionPatient
    orientation: tuple[float, ...] | None  # ImageOrientationPatient (6 values)
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns)
    slope: float
    intercept: float
    window: tuple[float, float] | None  # (center, width)


def _problem(code: ProblemCode, path: str, message: str, **details: float | int | str) -> HeaderError:
    severity = Severity.WARNING if code is ProblemCode.NOT_DICOM else Severity.ERROR
    return HeaderError(Problem(code, severity, message, path, details))


# Plain-ASCII and binary VRs are parsed straight from the raw bytes: pydicom's general value
# conversion costs more than the rest of the header scan. Text that may need a character set
# (names, descriptions) still goes through pydicom.
_ASCII_VRS = {"UI", "DA", "CS", "DS", "IS", "TM", "AS", "DT"}
_TEXT_VRS = {"LO", "SH", "PN", "LT", "ST"}  # raw path only when pure ASCII (no ISO 2022 escapes)
_BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


@lru_cache(maxsize=None)
def _tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag, dictionary_VR(tag)


def _get(ds: Dataset | None, keyword: str) -> list[Any]:
    """The values of ``keyword`` in ``ds`` as a list (empty when absent or unreadable)."""
    if ds is None:
        return []
    tag, vr = _tag_and_vr(keyword)
    try:
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement) and elem.value is not None:
            vr = elem.VR or vr
            if vr in _ASCII_VRS or (vr in _TEXT_VRS and elem.value.isascii() and b"\x1b" not in elem.value):
                text = elem.value.decode("ascii", "replace").strip("\x00 ")
                return [v.strip("\x00 ") for v in text.split("\\")] if text else []
            if vr in _BINARY_VRS:
                fmt = _BINARY_VRS[vr]
                n = len(elem.value) // struct.calcsize(fmt)
                return list(struct.unpack(("<" if elem.is_little_endian else ">") + fmt * n,
                                          elem.value[: n * struct.calcsize(fmt)]))
        return _values(ds[tag].value) if elem is not None else []
    except Exception:  # a malformed value must not sink the file
        return []


def _text(ds: Dataset | None, keyword: str) -> str:
    return "\\".join(str(v).strip() for v in _get(ds, keyword))


def _int(ds: Dataset, keyword: str) -> int | None:
    values = _get(ds, keyword)
    try:
        return int(float(values[0])) if values and values[0] != "" else None
    except (TypeError, ValueError):
        return None


def _floats(ds: Dataset, keyword: str, n: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in _get(ds, keyword))
    except (TypeError, ValueError):
        return None
    return values if len(values) == n and all(math.isfinite(v) for v in values) else None


def _first(seq_owner: Dataset | None, keyword: str) -> Dataset | None:
    try:
        seq = seq_owner.get(keyword) if seq_owner is not None else None
        return seq[0] if seq else None
    except Exception:
        return None


def _looks_like_dicom(fp: Any, size: int) -> bool | None:
    """True: has a preamble; None: no preamble but starts like a raw dataset; False: not DICOM."""
    head = fp.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    # Old files without preamble usually start with group 0x0008 (little endian).
    return None if size >= 16 and head[:2] in (b"\x08\x00", b"\x02\x00") else False


def _read_dataset(path: str, size: int) -> tuple[Dataset, int, bool, bytes, bytes | None]:
    """Header only: the dataset, where reading stopped, whether it had DICM, the next 12 bytes,
    and for a deflated file its inflated dataset (checked to stay bounded)."""
    try:
        with open(path, "rb") as fp:
            kind = _looks_like_dicom(fp, size)
            if kind is False:
                raise _problem(ProblemCode.NOT_DICOM, path, "not a DICOM file (no DICM marker)")
            inflated = _inflate_if_deflated(fp, path, size) if kind is True else None
            fp.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(
                    fp, stop_before_pixels=True, defer_size=_DEFER_BYTES, force=kind is None
                )
            stop = fp.tell()
            return ds, stop, kind is True, fp.read(12), inflated
    except HeaderError:
        raise
    except InvalidDicomError as exc:
        raise _problem(ProblemCode.NOT_DICOM, path, f"not a DICOM file ({exc})") from exc
    except (EOFError, struct.error) as exc:
        raise _problem(ProblemCode.TRUNCATED, path, f"the file ends inside its header ({exc})") from exc
    except MemoryError as exc:
        raise _problem(ProblemCode.BAD_LENGTH, path, "a header length field is impossible") from exc
    except OSError as exc:
        raise _problem(ProblemCode.UNREADABLE, path, f"cannot be read: {exc.strerror or exc}") from exc
    except Exception as exc:  # pydicom raises many kinds on garbage; all mean the same to a reader
        raise _problem(ProblemCode.TRUNCATED, path, f"the header is damaged ({exc})") from exc


def inflate_bounded(data: bytes, size: int, path: str) -> bytes:
    """Inflate a deflated dataset, refusing one that would expand far beyond any image."""
    limit = min(max(_INFLATE_MIN, _INFLATE_RATIO * size), _INFLATE_MAX)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise _problem(ProblemCode.TRUNCATED, path, f"the deflated data is damaged ({exc})") from exc
    if inflater.unconsumed_tail:
        raise _problem(ProblemCode.BAD_LENGTH, path,
                       f"the deflated data expands beyond {limit >> 20} MB; not read", limit=limit)
    return out


def _inflate_if_deflated(fp: Any, path: str, size: int) -> bytes | None:
    """The inflated dataset of a deflated file (None for others), inflated with a bound before
    pydicom inflates the file whole, so it cannot expand without limit."""
    fp.seek(128 + 4)
    head = fp.read(_META_PEEK)
    meta_end = struct.unpack("<I", head[8:12])[0] + 12 if head[:4] == b"\x02\x00\x00\x00" else len(head) + 1
    if meta_end <= len(head) and DEFLATED.encode() not in head[:meta_end]:
        return None  # the common case, decided from the meta group's bytes without parsing them
    fp.seek(128 + 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = _read_file_meta_info(fp)
    if str(meta.get("TransferSyntaxUID", "")) != DEFLATED:
        return None
    return inflate_bounded(fp.read(), size, path)


def _pixel_element(head: bytes, pos: int, implicit: bool, big: bool) -> tuple[int, int] | None:
    """(value offset, declared length) of the pixel data element whose first bytes are ``head``."""
    if len(head) < 8:
        return None
    endian = ">" if big else "<"
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group, elem) != _PIXEL_TAG:
        return None
    if implicit:
        return pos + 8, struct.unpack("<I", head[4:8])[0]
    if head[4:6] in _LONG_VRS:
        if len(head) < 12:
            return None
        return pos + 12, struct.unpack(endian + "I", head[8:12])[0]
    return pos + 8, struct.unpack(endian + "H", head[6:8])[0]


def _deflated_pixel_info(ds: Dataset, path: str, inflated: bytes) -> PixelInfo:
    """Pixel description of a deflated file, its pixel data's length checked in the inflated data."""
    rows, cols, bits = _int(ds, "Rows"), _int(ds, "Columns"), _int(ds, "BitsAllocated")
    if not rows or not cols or bits not in (8, 16, 32) or (_int(ds, "SamplesPerPixel") or 1) != 1:
        raise _problem(ProblemCode.UNSUPPORTED_IMAGE, path,
                       f"unsupported image description (rows={rows}, columns={cols}, bits allocated={bits})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = read_dataset(io.BytesIO(inflated), False, True, defer_size=_DEFER_BYTES)
    frames = max(1, _int(ds, "NumberOfFrames") or 1)
    info = PixelInfo(rows=rows, columns=cols, frames=frames, samples=1, bits_allocated=bits,
                     bits_stored=_int(ds, "BitsStored") or bits, signed=_int(ds, "PixelRepresentation") == 1,
                     photometric=_text(ds, "PhotometricInterpretation") or "MONOCHROME2",
                     transfer_syntax=DEFLATED, encapsulated=False, offset=None)
    element = full.get_item(_PIXEL_TAG, keep_deferred=True)
    found = element.length if isinstance(element, RawDataElement) else 0
    if found < info.frame_bytes * frames:
        raise _problem(ProblemCode.PIXEL_DATA_SHORT, path,
                       f"pixel data holds {found} bytes but {rows}x{cols}x{frames} images need "
                       f"{info.frame_bytes * frames}", expected=info.frame_bytes * frames, found=found)
    return info


def _uid_name(value: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(UID(value).name)


def _pixel_info(ds: Dataset, path: str, stop: int, size: int, head: bytes) -> PixelInfo:
    """Check the pixel description and the pixel data's declared length; raise if unusable."""
    meta = getattr(ds, "file_meta", None)
    ts = _text(meta, "TransferSyntaxUID") if meta is not None else ""
    implicit = ts in ("", "1.2.840.10008.1.2")
    big = ts == "1.2.840.10008.1.2.2"
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    bits = _int(ds, "BitsAllocated")
    if stop > size:
        raise _problem(
            ProblemCode.BAD_LENGTH, path,
            f"an element declares more bytes than the file holds ({size} bytes)", file_size=size,
        )
    located = _pixel_element(head, stop, implicit, big)
    if located is None and (rows and cols and stop >= size or _ends_inside_element(ds, size)):
        raise _problem(ProblemCode.TRUNCATED, path, "the file ends before its pixel data")
    if located is None:
        what = _text(ds, "SOPClassUID") or (_text(meta, "MediaStorageSOPClassUID") if meta else "")
        name = _uid_name(what) if what else "no SOP class"
        raise HeaderError(Problem(
            ProblemCode.NO_PIXEL_DATA, Severity.INFO, f"no image data ({name}); skipped", path,
        ))
    if rows and cols and rows * cols > MAX_FRAME_PIXELS:
        raise _problem(
            ProblemCode.UNSUPPORTED_IMAGE, path,
            f"image of {rows} x {cols} pixels is larger than a CT/MR image can be; not read",
        )
    if not rows or not cols or bits not in (8, 16, 32):
        raise _problem(
            ProblemCode.UNSUPPORTED_IMAGE, path,
            f"unsupported image description (rows={rows}, columns={cols}, bits allocated={bits})",
        )
    value_at, length = located
    frames = max(1, _int(ds, "NumberOfFrames") or 1)
    samples = _int(ds, "SamplesPerPixel") or 1
    if samples != 1:
        raise _problem(
            ProblemCode.UNSUPPORTED_IMAGE, path,
            f"colour image ({_text(ds, 'PhotometricInterpretation') or samples}); "
            "only grey-scale CT/MR images are read",
        )
    info = PixelInfo(
        rows=rows, columns=cols, frames=frames, samples=samples, bits_allocated=bits,
        bits_stored=_int(ds, "BitsStored") or bits, signed=_int(ds, "PixelRepresentation") == 1,
        photometric=_text(ds, "PhotometricInterpretation") or "MONOCHROME2",
        transfer_syntax=ts, encapsulated=length == 0xFFFFFFFF, offset=None, big_endian=big,
    )
    _check_syntax(info, path)
    if info.encapsulated:
        if frames * 8 > size - value_at:  # every frame needs at least one 8-byte item header
            raise _problem(
                ProblemCode.PIXEL_DATA_SHORT, path,
                f"compressed pixel data holds {max(0, size - value_at)} bytes, too few for "
                f"{frames} images", frames=frames, found=max(0, size - value_at),
            )
        return info
    expected = info.frame_bytes * frames
    available = size - value_at
    if length < expected or available < expected:
        raise _problem(
            ProblemCode.PIXEL_DATA_SHORT, path,
            f"pixel data holds {min(length, available)} bytes but {rows}x{cols}x{frames} "
            f"images need {expected}", expected=expected, found=min(length, available),
        )
    if length > available:
        raise _problem(
            ProblemCode.BAD_LENGTH, path,
            f"the pixel data declares {length} bytes but the file holds {available}",
            declared=length, file_size=size,
        )
    return PixelInfo(**{**_as_dict(info), "offset": value_at})


def _ends_inside_element(ds: Dataset, size: int) -> bool:
    """True if the file was cut inside its last header element (pydicom reads a short value quietly)."""
    try:
        last = ds.get_item(max(ds.keys()))
    except ValueError:
        return False
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF:
        return False
    end = last.value_tell + last.length
    return end > size or 0 < size - end < 8  # value cut, or a piece of the next element's header


def _as_dict(info: PixelInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in PixelInfo.__slots__}


def _check_syntax(info: PixelInfo, path: str) -> None:
    ts = info.transfer_syntax
    if (ts in _NATIVE_SYNTAXES or ts == DEFLATED) and not info.encapsulated:
        return
    with warnings.catch_warnings():  # a malformed UID must not leak a pydicom warning
        warnings.simplefilter("ignore")
        uid = UID(ts)
    if not uid.is_transfer_syntax:
        raise _problem(
            ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX, path,
            f"unknown transfer syntax {ts or '(none)'}; cannot read the pixels", transfer_syntax=ts,
        )
    from pydicom.pixels.decoders.base import get_decoder

    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        raise _problem(
            ProblemCode.NO_DECODER, path,
            f"no decoder installed for {uid.name}", transfer_syntax=ts,
        )


def read_frames(path: str) -> list[Frame]:
    """Read a file's header and return its image planes; raise :class:`HeaderError` if unusable."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise _problem(ProblemCode.UNREADABLE, path, f"cannot be read: {exc.strerror}") from exc
    ds, stop, marked, head, inflated = _read_dataset(path, size)
    if len(ds) == 0:
        if marked:
            raise _problem(ProblemCode.TRUNCATED, path, "the file ends inside its header")
        raise _problem(ProblemCode.NOT_DICOM, path, "not a DICOM file (no recognisable header)")
    if inflated is not None:
        pixels = _deflated_pixel_info(ds, path, inflated)
    else:
        pixels = _pixel_info(ds, path, stop, size, head)
    info = _file_info(ds, path, pixels)
    if pixels.frames > 1 and "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced_frames(ds, info)
    return [_plain_frame(ds, info, i) for i in range(pixels.frames)]


def _file_info(ds: Dataset, path: str, pixels: PixelInfo) -> FileInfo:
    return FileInfo(
        path=path,
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        study_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        modality=_text(ds, "Modality"),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        image_type=tuple(str(v).upper() for v in _get(ds, "ImageType")),
        instance_number=_int(ds, "InstanceNumber"),
        gantry_tilt=(_floats(ds, "GantryDetectorTilt", 1) or (None,))[0],
        pixels=pixels,
    )


def _values(value: Any) -> list[Any]:
    """A DICOM value as a list, whether it is single- or multi-valued."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _window(ds: Dataset | None) -> tuple[float, float] | None:
    centers, widths = _get(ds, "WindowCenter"), _get(ds, "WindowWidth")
    try:
        center, width = float(centers[0]), float(widths[0])
    except (IndexError, TypeError, ValueError):
        return None
    return (center, width) if width > 0 and math.isfinite(center) else None


def _orientation(values: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """ImageOrientationPatient if its row and column directions are non-zero and perpendicular."""
    if values is None:
        return None
    row, col = values[:3], values[3:]
    norms = math.hypot(*row) * math.hypot(*col)
    dot = sum(r * c for r, c in zip(row, col, strict=True))
    return values if norms > 1e-6 and abs(dot) < 0.01 * norms else None


def _spacing(values: tuple[float, ...] | None) -> tuple[float, float] | None:
    """PixelSpacing if both values are positive."""
    return (values[0], values[1]) if values is not None and min(values) > 0 else None


def _point(values: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    return (values[0], values[1], values[2]) if values is not None and len(values) == 3 else None


def _plain_frame(ds: Dataset, info: FileInfo, index: int) -> Frame:
    pos = _floats(ds, "ImagePositionPatient", 3)
    ps = _floats(ds, "PixelSpacing", 2)
    return Frame(
        file=info, index=index,
        position=_point(pos) if info.pixels.frames == 1 or index == 0 else None,
        orientation=_orientation(_floats(ds, "ImageOrientationPatient", 6)),
        pixel_spacing=_spacing(ps),
        slope=(_floats(ds, "RescaleSlope", 1) or (1.0,))[0],
        intercept=(_floats(ds, "RescaleIntercept", 1) or (0.0,))[0],
        window=_window(ds),
    )


def _group_value(groups: list[Dataset | None], seq: str, keyword: str, n: int) -> tuple[float, ...] | None:
    """First of per-frame then shared functional groups that holds ``seq > keyword``."""
    for group in groups:
        item = _first(group, seq)
        if item is not None:
            value = _floats(item, keyword, n)
            if value is not None:
                return value
    return None


def _enhanced_frames(ds: Dataset, info: FileInfo) -> list[Frame]:
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    frames = []
    for index in range(info.pixels.frames):
        groups = [per_frame[index] if index < len(per_frame) else None, shared]
        pos = _group_value(groups, "PlanePositionSequence", "ImagePositionPatient", 3)
        iop = _group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
        ps = _group_value(groups, "PixelMeasuresSequence", "PixelSpacing", 2)
        slope = _group_value(groups, "PixelValueTransformationSequence", "RescaleSlope", 1)
        intercept = _group_value(groups, "PixelValueTransformationSequence", "RescaleIntercept", 1)
        voi = next((_first(g, "FrameVOILUTSequence") for g in groups if _first(g, "FrameVOILUTSequence")), None)
        frames.append(Frame(
            file=info, index=index, position=_point(pos), orientation=_orientation(iop),
            pixel_spacing=_spacing(ps),
            slope=slope[0] if slope else 1.0, intercept=intercept[0] if intercept else 0.0,
            window=_window(voi),
        ))
    return frames
