"""A loaded image volume: voxels, the affine that places them in the patient, and what they are."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from viewer.core import geometry
from viewer.core.problems import Problem


@dataclass(frozen=True)
class WindowPreset:
    """A display window in the volume's units (HU for CT)."""

    center: float
    width: float
    name: str = ""

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"window width must be positive; got {self.width}")


@dataclass(frozen=True)
class InstanceRef:
    """The DICOM image plane a slice came from (for SEG/SR references later)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame: int = 0  # 0-based frame number inside a multi-frame instance
    instance_number: int | None = None  # as the DICOM header says (what PACS shows as "Im")


@dataclass(frozen=True)
class SeriesMeta:
    """Who and what a volume shows; empty strings where the source does not say."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    frame_of_reference_uid: str = ""
    units: str = ""  # "HU" for CT after rescale
    windows: tuple[WindowPreset, ...] = ()
    source: str = ""  # folder or file it was read from


@dataclass(frozen=True, eq=False)
class Volume:
    """Voxels ``array[k, j, i]`` placed in the patient by ``affine`` ((i, j, k, 1) -> LPS mm).

    ``resampled`` is True when the voxels are not the acquired slices but were interpolated onto a
    regular grid (tilted gantry, missing or irregular slices); ``problems`` says why.
    ``instances[k]`` names the DICOM plane of slice k where the slice is an acquired one.
    """

    array: NDArray[np.generic]
    affine: NDArray[np.float64]
    meta: SeriesMeta = field(default_factory=SeriesMeta)
    resampled: bool = False
    instances: tuple[InstanceRef | None, ...] = ()
    problems: tuple[Problem, ...] = ()

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"array must be 3-D (k, j, i); got shape {self.array.shape}")
        aff = np.asarray(self.affine, dtype=np.float64)
        if aff.shape != (4, 4) or abs(np.linalg.det(aff[:3, :3])) < 1e-9:
            raise ValueError(f"affine must be an invertible 4x4 matrix; got {aff.tolist()}")
        object.__setattr__(self, "affine", aff)
        if self.instances and len(self.instances) != self.array.shape[0]:
            raise ValueError(
                f"instances has {len(self.instances)} entries for {self.array.shape[0]} slices"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        k, j, i = self.array.shape
        return int(k), int(j), int(i)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (i, j, k)."""
        return geometry.spacing_of(self.affine)

    @property
    def direction(self) -> NDArray[np.float64]:
        """Columns: unit LPS directions of the i, j, k axes."""
        return geometry.direction_of(self.affine)

    @property
    def origin(self) -> NDArray[np.float64]:
        """LPS position of the centre of voxel (0, 0, 0)."""
        return self.affine[:3, 3].copy()

    def index_to_lps(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """LPS mm of index points (..., 3) in (i, j, k) order."""
        return geometry.index_to_lps(self.affine, ijk)

    def lps_to_index(self, lps: ArrayLike) -> NDArray[np.float64]:
        """Continuous (i, j, k) index of LPS points (..., 3)."""
        return geometry.lps_to_index(self.affine, lps)

    @property
    def nbytes(self) -> int:
        """Memory used by the voxels."""
        return int(self.array.nbytes)
