"""NIfTI volumes (research data), read with SimpleITK, which reports geometry in LPS like DICOM."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.core.volume import SeriesMeta, Volume
from viewer.io.series import LoadMode, SeriesCandidate


def _affine(image: Any) -> NDArray[np.float64]:
    cosines = np.array(image.GetDirection(), dtype=np.float64)
    n = round(cosines.size ** 0.5)  # 4 for a 4-D image: keep the spatial 3 x 3 block
    direction = cosines.reshape(n, n)[:3, :3]
    affine = np.eye(4)
    affine[:3, :3] = direction * np.array(image.GetSpacing(), dtype=np.float64)[None, :3]
    affine[:3, 3] = image.GetOrigin()[:3]
    return affine


def _meta(path: str) -> SeriesMeta:
    name = os.path.basename(path)
    return SeriesMeta(series_uid=f"nifti:{os.path.abspath(path)}", series_description=name,
                      source=os.path.abspath(path))


def nifti_candidate(path: str, problems: list[Problem]) -> SeriesCandidate | None:
    """Describe a NIfTI file from its header; a broken file goes to ``problems``."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        problems.append(Problem(ProblemCode.TRUNCATED, Severity.ERROR,
                                f"NIfTI header cannot be read ({str(exc).splitlines()[0][:120]})", path))
        return None
    size = reader.GetSize()
    if len(size) < 3 or reader.GetNumberOfComponents() != 1:
        problems.append(Problem(ProblemCode.UNSUPPORTED_IMAGE, Severity.ERROR,
                                f"NIfTI image of size {size} is not a grey-scale volume", path))
        return None
    candidate = SeriesCandidate(
        key=f"nifti:{os.path.abspath(path)}", meta=_meta(path), frames=[], mode=LoadMode.VOLUME,
        affine=_affine(reader), nifti_path=path, nifti_shape=(size[2], size[1], size[0]))
    if len(size) > 3 and size[3] > 1:
        candidate.problems.append(Problem(ProblemCode.UNSUPPORTED_IMAGE, Severity.WARNING,
                                          f"4-D NIfTI: only the first of {size[3]} volumes is shown", path))
    return candidate


def load_nifti(path: str, meta: SeriesMeta | None = None) -> Volume:
    """Load a NIfTI file as a volume (int16 when its values are integers that fit, else float32)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(path)
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        image = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, 0])
    array = sitk.GetArrayFromImage(image)
    if array.dtype.kind in "iu" and array.min() >= -32768 and array.max() <= 32767:
        array = array.astype(np.int16, copy=False)
    else:
        array = array.astype(np.float32, copy=False)
    return Volume(np.ascontiguousarray(array), _affine(image), meta or _meta(path))
