"""A model described as data: what it expects, what it outputs, where its files are, what it is.

Every model lives in a folder with a ``manifest.json``; the runner drives any of them through the
same stages. Constructors validate, so a bad manifest fails when it is read, naming the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

FORMATS = ("state-dict", "torchscript")  # state-dict: torch.load(weights_only=True) into a known net
MIRROR_AXES = ("z", "y", "x")


class ManifestError(ValueError):
    """The manifest is missing a field or has an impossible value."""


class Task(str, Enum):
    """What the model does."""

    SEGMENTATION = "segmentation"


@dataclass(frozen=True)
class ModelFile:
    """A file of the model, with the checksum it must have."""

    path: str
    sha256: str
    size: int | None = None

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ManifestError(f"files[].sha256 must be 64 lower-case hex digits; got {self.sha256!r}")
        if Path(self.path).is_absolute() or ".." in Path(self.path).parts:
            raise ManifestError(f"files[].path must stay inside the model folder; got {self.path!r}")


@dataclass(frozen=True)
class Label:
    """One output class."""

    value: int
    name: str
    snomed: tuple[str, str] | None = None  # (code, meaning), e.g. ("108369006", "Neoplasm")
    lesion: bool = False  # components of this class become findings


@dataclass(frozen=True)
class InputSpec:
    """How a volume becomes the model's input."""

    spacing_zyx: tuple[float, float, float]
    windows: tuple[tuple[float, float], ...]  # per channel: HU window (low, high) scaled to [0, 1]
    modalities: tuple[str, ...] = ("CT",)

    def __post_init__(self) -> None:
        if len(self.spacing_zyx) != 3 or min(self.spacing_zyx) <= 0:
            raise ManifestError(f"input.spacing_zyx must be three positive mm; got {self.spacing_zyx}")
        if not self.windows or any(high <= low for low, high in self.windows):
            raise ManifestError(f"input.windows must be (low, high) pairs with low < high; got {self.windows}")


@dataclass(frozen=True)
class InferenceSpec:
    """Sliding-window settings."""

    patch_zyx: tuple[int, int, int]
    overlap: float = 0.5
    sigma_scale: float = 0.125  # Gaussian blending weight: sigma = patch * sigma_scale
    dtype: str = "float32"  # "bfloat16": autocast where the hardware does it fast (AMX, CUDA)
    # Test-time mirroring: each axis named ("z", "y", "x" of the model's grid) adds one pass of every
    # tile flipped along it (flipped back before blending); the softmax of all passes is averaged.
    mirror_axes: tuple[str, ...] = ()
    # Predict only the box holding the body (CT): the air around it, and the scanner table, have
    # nothing to find, and a 512 x 512 CT's field of view is often a quarter wider than the body.
    crop_to_body: bool = False

    def __post_init__(self) -> None:
        if not set(self.mirror_axes) <= set(MIRROR_AXES) or len(set(self.mirror_axes)) != len(self.mirror_axes):
            raise ManifestError(f"inference.mirror_axes must name distinct axes among {MIRROR_AXES}; "
                                f"got {list(self.mirror_axes)}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ManifestError(f"inference.dtype must be float32 or bfloat16; got {self.dtype!r}")
        if not 0 <= self.overlap < 1:
            raise ManifestError(f"inference.overlap must be in [0, 1); got {self.overlap}")
        if min(self.patch_zyx) < 1:
            raise ManifestError(f"inference.patch_zyx must be positive; got {self.patch_zyx}")


@dataclass(frozen=True)
class OutputSpec:
    """What the network returns and how lesions are cut out of it."""

    labels: tuple[Label, ...]
    threshold: float = 0.5  # on the lesion probability: a lesion's extent
    min_volume_mm3: float = 30.0
    gate_labels: tuple[int, ...] = ()  # organs a lesion must lie in (e.g. liver, lung) ...
    # ... as the share of a shell around it that its organ covers, one minimum per gate label: a
    # liver metastasis at the liver's edge has less liver around it than a nodule has lung.
    min_gate_fraction: tuple[float, ...] = ()
    # Hysteresis: a component of prob > threshold is kept only if its peak exceeds this (None: the
    # threshold itself). A low threshold outlines the whole lesion, a high seed keeps out noise.
    seed_threshold: float | None = None
    # Shape: a component whose maximal 3-D diameter is over this multiple of the diameter of a sphere
    # of its volume is not proposed (None: any shape). Vessels and tissue bands are long, the
    # tumours a model was trained on may be round; a model with irregular tumours leaves it None.
    max_elongation: float | None = None

    def __post_init__(self) -> None:
        if not any(label.lesion for label in self.labels):
            raise ManifestError("output.labels must mark at least one label as a lesion")
        if not 0 < self.threshold < 1:
            raise ManifestError(f"output.threshold must be in (0, 1); got {self.threshold}")
        if self.seed_threshold is not None and not self.threshold <= self.seed_threshold < 1:
            raise ManifestError(f"output.seed_threshold must be in [threshold, 1) = [{self.threshold}, 1); "
                                f"got {self.seed_threshold}")
        if self.max_elongation is not None and not (math.isfinite(self.max_elongation) and self.max_elongation >= 1):
            raise ManifestError(f"output.max_elongation must be >= 1 (a sphere); got {self.max_elongation}")
        organs = {label.value for label in self.labels if not label.lesion and label.value > 0}
        if len(set(self.gate_labels)) != len(self.gate_labels) or not set(self.gate_labels) <= organs:
            raise ManifestError(f"output.gate_labels must be distinct organ labels of the output (not a lesion, "
                                f"not 0): {sorted(organs)}; got {list(self.gate_labels)}")
        if any(g > 255 for g in self.gate_labels):  # the organ map is uint8
            raise ManifestError(f"output.gate_labels must be <= 255; got {list(self.gate_labels)}")
        if len(self.min_gate_fraction) != len(self.gate_labels):
            raise ManifestError(f"output.min_gate_fraction needs one value per gate label {self.gate_labels}; "
                                f"got {self.min_gate_fraction}")
        if not all(0 <= f <= 1 for f in self.min_gate_fraction):  # NaN fails too
            raise ManifestError(f"output.min_gate_fraction must be in [0, 1]; got {self.min_gate_fraction}")

    @property
    def seed(self) -> float:
        """The peak probability a component needs to become a finding."""
        return self.threshold if self.seed_threshold is None else self.seed_threshold

    def gate_minimum(self, organ: int) -> float:
        """The share of a lesion's shell that ``organ`` must cover (0: no gating organ around it,
        which only passes when no organ asks for any share)."""
        if organ in self.gate_labels:
            return self.min_gate_fraction[self.gate_labels.index(organ)]
        return max(self.min_gate_fraction, default=0.0)


@dataclass(frozen=True)
class ModelManifest:
    """Everything the app needs to know about one model."""

    id: str
    name: str
    version: str
    task: Task
    format: str
    entry: str  # the weights or program file, one of ``files``
    files: tuple[ModelFile, ...]
    input: InputSpec
    inference: InferenceSpec
    output: OutputSpec
    architecture: Mapping[str, Any] = field(default_factory=dict)  # for state-dict: network kwargs
    licence: str = ""
    training_data: str = ""
    intended_use: str = ""
    folder: Path = Path(".")

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))
        if self.format not in FORMATS:
            raise ManifestError(f"format must be one of {FORMATS}; got {self.format!r}")
        if self.entry not in {f.path for f in self.files}:
            raise ManifestError(f"entry {self.entry!r} must be listed in files")
        if not self.id or not self.version:
            raise ManifestError("id and version must not be empty")
        if self.inference.crop_to_body and set(self.input.modalities) != {"CT"}:
            raise ManifestError("inference.crop_to_body finds the body by its Hounsfield units: CT models only; "
                                f"this one takes {list(self.input.modalities)}")

    @property
    def weights_sha256(self) -> str:
        """Checksum of the entry file (recorded in every finding's provenance)."""
        return next(f.sha256 for f in self.files if f.path == self.entry)


def _tuple(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{field_name} must be a list of names; got {value!r}")
    return tuple(value)


def _flag(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise ManifestError(f"{field_name} must be true or false; got {value!r}")
    return value


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _gate_labels(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ManifestError(f"output.gate_labels must be a list of label values (integers); got {value!r}")
    return tuple(value)


def _gate_minimums(value: Any, gates: tuple[int, ...]) -> tuple[float, ...]:
    """``min_gate_fraction`` as one number for every gate label, one per label in their order, or
    {"label": share} (a gate label left out asks for no share)."""
    try:
        if isinstance(value, Mapping):
            unknown = set(value) - {str(g) for g in gates}
            if unknown:
                raise ManifestError(f"output.min_gate_fraction names labels that do not gate: {sorted(unknown)}")
            return tuple(float(value.get(str(g), 0.0)) for g in gates)
        if isinstance(value, list):
            if len(value) != len(gates):
                raise ManifestError(f"output.min_gate_fraction needs one value per gate label {list(gates)}; "
                                    f"got {value}")
            return tuple(float(v) for v in value)
        return tuple(float(value) for _ in gates)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"output.min_gate_fraction must be a number, a list or a mapping of numbers; "
                            f"got {value!r}") from exc


def parse(doc: Mapping[str, Any], folder: Path) -> ModelManifest:
    """Build a manifest from its JSON form (raises ManifestError naming the bad field)."""
    try:
        out = doc["output"]
        if not isinstance(out, Mapping):
            raise ManifestError(f"manifest in {folder}: output must be an object; got {type(out).__name__}")
        gates = _gate_labels(out.get("gate_labels", []))
        return ModelManifest(
            id=doc["id"], name=doc["name"], version=str(doc["version"]), task=doc["task"],
            format=doc["format"], entry=doc["entry"],
            files=tuple(ModelFile(**f) for f in doc["files"]),
            input=InputSpec(tuple(doc["input"]["spacing_zyx"]), _tuple(doc["input"]["windows"]),
                            tuple(doc["input"].get("modalities", ["CT"]))),
            inference=InferenceSpec(tuple(doc["inference"]["patch_zyx"]),
                                    float(doc["inference"].get("overlap", 0.5)),
                                    float(doc["inference"].get("sigma_scale", 0.125)),
                                    str(doc["inference"].get("dtype", "float32")),
                                    _names(doc["inference"].get("mirror_axes", []), "inference.mirror_axes"),
                                    _flag(doc["inference"].get("crop_to_body", False), "inference.crop_to_body")),
            output=OutputSpec(tuple(Label(l["value"], l["name"], tuple(l["snomed"]) if l.get("snomed") else None,
                                          bool(l.get("lesion", False))) for l in out["labels"]),
                              float(out.get("threshold", 0.5)), float(out.get("min_volume_mm3", 30.0)),
                              gates, _gate_minimums(out.get("min_gate_fraction", 0.0), gates),
                              _optional(out.get("seed_threshold")), _optional(out.get("max_elongation"))),
            architecture=dict(doc.get("architecture", {})), licence=doc.get("licence", ""),
            training_data=doc.get("training_data", ""), intended_use=doc.get("intended_use", ""),
            folder=folder)
    except KeyError as exc:
        raise ManifestError(f"manifest in {folder} lacks the field {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"manifest in {folder}: {exc}") from exc


def read(folder: Path) -> ModelManifest:
    """Read ``folder/manifest.json``."""
    path = folder / "manifest.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    return parse(doc, folder)
