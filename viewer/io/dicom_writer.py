"""Write grey-scale image series as real DICOM files (the demo study, test data, benchmarks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PYDICOM_IMPLEMENTATION_UID,
    generate_uid,
)

UID_PREFIX = "1.2.826.0.1.3680043.10.1469."  # our root under pydicom's registered prefix scheme


def make_uid(*entropy: object) -> str:
    """A UID, deterministic when ``entropy`` is given (same inputs, same UID)."""
    if not entropy:
        return str(generate_uid(prefix=UID_PREFIX))
    return str(generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(e) for e in entropy]))


@dataclass(frozen=True)
class SeriesIds:
    """Who and what a written series is."""

    patient_name: str = "DEMO^PHANTOM"
    patient_id: str = "LUMEN-DEMO"
    patient_birth_date: str = "19700101"
    patient_sex: str = "O"
    study_uid: str = field(default_factory=make_uid)
    series_uid: str = field(default_factory=make_uid)
    frame_of_reference_uid: str = field(default_factory=make_uid)
    study_date: str = "20260101"
    study_description: str = "CT CHEST ABDOMEN"
    series_number: int = 1
    series_description: str = "Synthetic CT"
    modality: str = "CT"
    accession_number: str = ""


def _base_dataset(ids: SeriesIds, sop_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage if ids.modality == "CT" else MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.PatientName, ds.PatientID = ids.patient_name, ids.patient_id
    ds.PatientBirthDate, ds.PatientSex = ids.patient_birth_date, ids.patient_sex
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ids.study_uid, ids.series_uid
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = ids.frame_of_reference_uid, ""
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ids.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", ids.accession_number, ""
    ds.StudyDescription, ds.SeriesDescription = ids.study_description, ids.series_description
    ds.Modality, ds.SeriesNumber = ids.modality, ids.series_number
    ds.Manufacturer, ds.ManufacturerModelName = "Lumen", "Synthetic phantom"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    if ids.modality == "CT":
        ds.KVP, ds.ConvolutionKernel = "120", "STANDARD"
    return ds


def slice_dataset(
    stored: NDArray[np.generic],
    position: Sequence[float],
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    ids: SeriesIds,
    instance_number: int,
    *,
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = (40.0, 400.0),
    slice_thickness: float | None = None,
    bits_stored: int = 16,
) -> Dataset:
    """One image as a DICOM dataset; ``stored`` holds the stored values (int16 or uint16)."""
    ds = _base_dataset(ids, make_uid(ids.series_uid, instance_number, *position))
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [f"{float(v):.6g}" for v in position]
    ds.ImageOrientationPatient = [f"{float(v):.8g}" for v in orientation]
    ds.PixelSpacing = [f"{float(v):.8g}" for v in pixel_spacing]
    if slice_thickness is not None:
        ds.SliceThickness = f"{slice_thickness:.6g}"
    ds.Rows, ds.Columns = stored.shape
    ds.PixelRepresentation = int(stored.dtype.kind == "i")
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.RescaleType = "HU" if ids.modality == "CT" else "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    return ds


def save(ds: Dataset, path: str, transfer_syntax: str = ExplicitVRLittleEndian) -> None:
    """Write ``ds`` as a DICOM Part 10 file, compressing if ``transfer_syntax`` asks for it."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if UID(transfer_syntax) != ExplicitVRLittleEndian:
        ds.compress(UID(transfer_syntax))
    ds.save_as(path, enforce_file_format=True)


def write_series(
    folder: str,
    stored: NDArray[np.generic],
    positions: NDArray[np.float64],
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    ids: SeriesIds,
    *,
    intercept: float = 0.0,
    window: tuple[float, float] | None = (40.0, 400.0),
    transfer_syntax: str = ExplicitVRLittleEndian,
    name: str = "IM{:05d}.dcm",
    bits_stored: int = 16,
) -> list[str]:
    """Write ``stored[k]`` at ``positions[k]`` as one file per slice; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for k in range(stored.shape[0]):
        ds = slice_dataset(stored[k], positions[k], orientation, pixel_spacing, ids, k + 1,
                           intercept=intercept, window=window, bits_stored=bits_stored)
        path = os.path.join(folder, name.format(k + 1))
        save(ds, path, transfer_syntax)
        paths.append(path)
    return paths


def axial_positions(n: int, rows: int, cols: int, spacing: tuple[float, float, float],
                    z0: float = 0.0) -> NDArray[np.float64]:
    """Slice origins of an axial stack centred in x and y; ``spacing`` is (z, y, x) mm."""
    sz, sy, sx = spacing
    pos = np.zeros((n, 3))
    pos[:, 0] = -(cols - 1) * sx / 2
    pos[:, 1] = -(rows - 1) * sy / 2
    pos[:, 2] = z0 + np.arange(n) * sz
    return pos
