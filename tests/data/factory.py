"""Small DICOM and NIfTI files written by code, so that every test states the truth it checks.

Built on :mod:`viewer.io.dicom_writer`. Images are tiny (32 x 32 by default, a few slices) so that
tests stay fast. Geometry helpers here are written from the DICOM standard (PS3.3 C.7.6.2.1.1) with
numpy only, independently of :mod:`viewer.core.geometry`, which is what the tests check.

Sections: geometry, pixel content, writing files, multi-frame, encoders pydicom lacks, damaged files.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    BasicTextSRStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
)

from viewer.io.dicom_writer import SeriesIds, make_uid, save, slice_dataset

FloatArray = NDArray[np.float64]
Edit = Callable[[Dataset, int], None]  # change slice k's dataset before it is saved

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # rows run to the patient's left, columns to posterior
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # rows to the left, columns downwards (inferior)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # rows to posterior, columns downwards
ROWS = COLS = 32
PIXEL_SPACING = (0.7, 0.9)  # DICOM order: between rows, between columns (anisotropic on purpose)
ORIGIN = (-12.0, -15.0, 40.0)


# --- Geometry, from the standard -------------------------------------------------------------


def normal(orientation: Sequence[float]) -> FloatArray:
    """Slice normal: row direction x column direction."""
    return np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float))


def oblique(about_z_deg: float, about_x_deg: float) -> tuple[float, ...]:
    """An axial orientation rotated about z, then about x (a double-oblique plane)."""
    a, b = np.radians(about_z_deg), np.radians(about_x_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rot = rx @ rz
    return (*(rot @ [1.0, 0, 0]), *(rot @ [0, 1.0, 0]))


def stack_positions(n: int, step: float, orientation: Sequence[float] = AXIAL,
                    origin: Sequence[float] = ORIGIN) -> FloatArray:
    """Origins of ``n`` parallel slices ``step`` mm apart along the slice normal."""
    return np.asarray(origin, float) + np.outer(np.arange(n) * step, normal(orientation))


def pixel_lps(position: Sequence[float], orientation: Sequence[float],
              pixel_spacing: Sequence[float], i: float, j: float) -> FloatArray:
    """LPS centre of the pixel in column ``i``, row ``j`` of a slice (PS3.3 C.7.6.2.1.1)."""
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float)
    return np.asarray(position, float) + i * pixel_spacing[1] * row + j * pixel_spacing[0] * col


# --- Pixel content ---------------------------------------------------------------------------


def ramp(n: int, rows: int = ROWS, cols: int = COLS, base: int = 1000,
         dtype: type[np.integer] = np.uint16) -> NDArray[np.integer]:
    """Stored values that tell slices apart: pixel (0, 0) of slice k holds ``base + 100 k``."""
    k, j, i = np.ogrid[:n, :rows, :cols]
    return (base + 100 * k + (i + 2 * j) % 50).astype(dtype)


def with_marker(stored: NDArray[np.integer], k: int, j: int, i: int, value: int) -> NDArray[np.integer]:
    """A copy of ``stored`` with one bright voxel at [k, j, i]."""
    out = stored.copy()
    out[k, j, i] = value
    return out


# --- Writing files ---------------------------------------------------------------------------


def new_ids(**changes: object) -> SeriesIds:
    """Fresh identifiers (new UIDs), with any field changed."""
    return SeriesIds(**changes)  # type: ignore[arg-type]


def file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """Part 10 file meta information for ``ds``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    return meta


def save_as(ds: Dataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    """Write ``ds`` in any syntax the tests use: pydicom's encoders, or ours where it has none."""
    if transfer_syntax == ExplicitVRBigEndian:
        _save_big_endian(ds, path)
    elif transfer_syntax in OWN_ENCODERS:
        frames = [OWN_ENCODERS[transfer_syntax](f) for f in stored_frames(ds)]
        save_encapsulated(ds, path, transfer_syntax, frames)
    else:
        save(ds, str(path), transfer_syntax)
    return path


def write_stack(
    folder: Path,
    positions: FloatArray,
    *,
    stored: NDArray[np.integer] | None = None,
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: Sequence[float] = PIXEL_SPACING,
    ids: SeriesIds | None = None,
    names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    edit: Edit | None = None,
    **slice_options: object,
) -> list[Path]:
    """One file per slice: ``stored[k]`` at ``positions[k]``; returns the paths in slice order.

    ``slice_options`` go to :func:`viewer.io.dicom_writer.slice_dataset` (slope, intercept,
    slice_thickness, bits_stored, window).
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = len(positions)
    stored = ramp(n) if stored is None else stored
    ids = ids or new_ids()
    paths = []
    for k in range(n):
        number = instance_numbers[k] if instance_numbers is not None else k + 1
        ds = slice_dataset(stored[k], positions[k], orientation, pixel_spacing, ids, number,
                           **slice_options)  # type: ignore[arg-type]
        ds.SOPInstanceUID = make_uid()  # unique even where two files share a position
        if edit is not None:
            edit(ds, k)
        name = names[k] if names is not None else f"IM{k + 1:05d}.dcm"
        paths.append(save_as(ds, folder / name, transfer_syntax))
    return paths


def axial_series(folder: Path, n: int = 6, step: float = 2.5, **options: object) -> list[Path]:
    """A regular axial CT series (the good series that must still load next to broken files)."""
    return write_stack(folder, stack_positions(n, step), intercept=-1024.0, **options)  # type: ignore[arg-type]


def as_localizer(ds: Dataset, k: int) -> None:
    """Edit: make the image a scout (ImageType LOCALIZER)."""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]


def eight_bit(ds: Dataset, k: int = 0) -> None:
    """Edit: describe 8-bit unsigned stored values (the data must be uint8)."""
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0


def stored_frames(ds: Dataset) -> list[NDArray[np.integer]]:
    """The native frames of ``ds``'s PixelData as arrays (frames, rows, columns)."""
    kind = "i" if ds.PixelRepresentation == 1 else "u"
    dtype = np.dtype(f"<{kind}{ds.BitsAllocated // 8}")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return list(np.frombuffer(ds.PixelData, dtype).reshape(frames, ds.Rows, ds.Columns))


def save_encapsulated(ds: Dataset, path: Path, transfer_syntax: str, frames: list[bytes]) -> None:
    """Write ``ds`` with already-compressed ``frames`` as its encapsulated pixel data."""
    ds.file_meta = file_meta(ds, transfer_syntax)
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def _save_big_endian(ds: Dataset, path: Path) -> None:
    frames = np.stack(stored_frames(ds))
    ds.PixelData = frames.astype(frames.dtype.newbyteorder(">")).tobytes()
    ds.file_meta = file_meta(ds, ExplicitVRBigEndian)
    ds.save_as(path, enforce_file_format=True)


def non_image(path: Path, ids: SeriesIds) -> Path:
    """A valid DICOM file with no image: a Basic Text SR document."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = BasicTextSRStorage, make_uid()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = ids.patient_id, ids.study_uid, make_uid()
    ds.Modality, ds.ValueType, ds.CompletionFlag = "SR", "CONTAINER", "COMPLETE"
    ds.file_meta = file_meta(ds, ExplicitVRLittleEndian)
    ds.save_as(path, enforce_file_format=True)
    return path


# --- Multi-frame (Enhanced CT / MR) ----------------------------------------------------------


def _item(**values: object) -> DicomSequence:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return DicomSequence([item])


def _rescale(slope: float, intercept: float) -> DicomSequence:
    return _item(RescaleSlope=f"{slope:g}", RescaleIntercept=f"{intercept:g}", RescaleType="US")


def enhanced_dataset(
    stored: NDArray[np.integer],
    positions: FloatArray,
    *,
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: Sequence[float] = PIXEL_SPACING,
    ids: SeriesIds | None = None,
    rescale: Sequence[tuple[float, float]] | tuple[float, float] = (1.0, -1024.0),
) -> Dataset:
    """One multi-frame image: frame f holds ``stored[f]`` at ``positions[f]``.

    Geometry lives in functional groups only (orientation and pixel spacing shared, positions
    per frame). ``rescale`` is one (slope, intercept) for all frames, in the shared groups, or
    one pair per frame, in the per-frame groups.
    """
    ids = ids or new_ids()
    ds = slice_dataset(stored[0], positions[0], orientation, pixel_spacing, ids, 1)
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                    "RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth"):
        delattr(ds, keyword)
    ds.SOPClassUID = EnhancedCTImageStorage if ids.modality == "CT" else EnhancedMRImageStorage
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.NumberOfFrames = len(stored)
    ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    shared = Dataset()
    shared.PlaneOrientationSequence = _item(ImageOrientationPatient=[f"{v:.8g}" for v in orientation])
    shared.PixelMeasuresSequence = _item(PixelSpacing=[f"{v:.8g}" for v in pixel_spacing],
                                         SliceThickness="1")
    per_frame_rescale = isinstance(rescale[0], Sequence)
    if not per_frame_rescale:
        shared.PixelValueTransformationSequence = _rescale(*rescale)  # type: ignore[misc]
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for f, position in enumerate(positions):
        group = Dataset()
        group.PlanePositionSequence = _item(ImagePositionPatient=[f"{v:.6g}" for v in position])
        if per_frame_rescale:
            group.PixelValueTransformationSequence = _rescale(*rescale[f])  # type: ignore[misc]
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    return ds


# --- Encoders pydicom lacks: JPEG Lossless SV1 (written here) and JPEG baseline (Pillow) -----


def _sv1_differences(image: NDArray[np.integer], precision: int) -> NDArray[np.int64]:
    """Prediction differences of JPEG lossless, selection value 1 (ITU T.81 H.1.2)."""
    x = image.astype(np.int64) & ((1 << precision) - 1)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred) % 65536
    return np.where(diff > 32768, diff - 65536, diff)


def _sv1_bits(diff: int) -> str:
    """Huffman code (every category has the 5-bit code of its own number) plus extra bits."""
    ssss = abs(diff).bit_length()
    extra = "" if ssss in (0, 16) else format(diff if diff > 0 else diff + (1 << ssss) - 1, f"0{ssss}b")
    return format(ssss, "05b") + extra


def _stuffed(bits: str) -> bytes:
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return data.replace(b"\xff", b"\xff\x00")


def jpeg_lossless_sv1(image: NDArray[np.integer], precision: int = 16) -> bytes:
    """A JPEG Lossless (Process 14, selection value 1) codestream of one grey-scale frame."""
    rows, cols = image.shape
    sof = struct.pack(">HHBHHBBBB", 0xFFC3, 11, precision, rows, cols, 1, 1, 0x11, 0)
    dht = struct.pack(">HHB", 0xFFC4, 36, 0x00) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))
    sos = struct.pack(">HHBBBBBB", 0xFFDA, 8, 1, 1, 0x00, 1, 0, 0)
    bits = "".join(_sv1_bits(int(d)) for d in _sv1_differences(image, precision).ravel())
    return b"\xff\xd8" + sof + dht + sos + _stuffed(bits) + b"\xff\xd9"


def jpeg_baseline(image: NDArray[np.integer]) -> bytes:
    """A lossy 8-bit grey-scale JPEG codestream (Pillow's encoder)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


OWN_ENCODERS: dict[str, Callable[[NDArray[np.integer]], bytes]] = {
    JPEGLosslessSV1: jpeg_lossless_sv1,
    JPEGBaseline8Bit: jpeg_baseline,
}


# --- Damaged and hostile files ---------------------------------------------------------------


def write_bytes(path: Path, data: bytes) -> Path:
    """A file holding exactly ``data``."""
    path.write_bytes(data)
    return path


def cut(path: Path, size: int) -> Path:
    """Keep only the first ``size`` bytes of ``path`` (a transfer that stopped early)."""
    os.truncate(path, size)
    return path


def element_header(tag: int, vr: str, length: int) -> bytes:
    """An explicit VR little endian element header."""
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, length)
    return struct.pack("<HH2sH", group, elem, vr.encode(), length)


def find_element(data: bytes, tag: int, vr: str) -> int:
    """File offset of the last element header with ``tag`` and ``vr`` (explicit VR little endian)."""
    at = data.rfind(element_header(tag, vr, 0)[:6])
    if at < 0:
        raise LookupError(f"no element ({tag:08X}) {vr} in the file")
    return at


def set_length(path: Path, tag: int, vr: str, length: int) -> Path:
    """Make the element ``tag`` declare ``length`` bytes, leaving its value as it was."""
    data = bytearray(path.read_bytes())
    at = find_element(bytes(data), tag, vr)
    header = element_header(tag, vr, length)
    data[at:at + len(header)] = header
    return write_bytes(path, bytes(data))


PIXEL_DATA = 0x7FE00010


def pixel_data_offset(path: Path) -> int:
    """File offset of the first pixel data byte of a native (OW) file."""
    return find_element(path.read_bytes(), PIXEL_DATA, "OW") + 12


def garble_codestream(path: Path, seed: int = 0) -> Path:
    """Replace the first compressed fragment's bytes with noise, keeping the encapsulation intact."""
    data = bytearray(path.read_bytes())
    at = find_element(bytes(data), PIXEL_DATA, "OB") + 12
    table = struct.unpack("<I", data[at + 4:at + 8])[0]  # basic offset table item
    fragment = at + 8 + table
    length = struct.unpack("<I", data[fragment + 4:fragment + 8])[0]
    noise = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    data[fragment + 8:fragment + 8 + length] = noise
    return write_bytes(path, bytes(data))
