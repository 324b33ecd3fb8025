"""Load a model's network safely: every file's checksum first, and never unpickle code."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from viewer.inference.manifest import ModelManifest
from viewer.inference.network import UNet3D

ARCHITECTURES = {"unet3d": UNet3D}


class ModelLoadError(Exception):
    """The model cannot be used; the message says why in plain words."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(manifest: ModelManifest) -> None:
    """Check that every file exists and has the checksum the manifest records."""
    for f in manifest.files:
        path = manifest.folder / f.path
        if not path.is_file():
            raise ModelLoadError(f"model {manifest.id}: file {f.path} is missing")
        actual = sha256_of(path)
        if actual != f.sha256:
            raise ModelLoadError(f"model {manifest.id}: {f.path} has checksum {actual[:12]}..., "
                                 f"the manifest expects {f.sha256[:12]}...; refusing to load it")


def load_network(manifest: ModelManifest, device: torch.device) -> torch.nn.Module:
    """Verified, ready-to-run network in eval mode on ``device``."""
    verify(manifest)
    path = manifest.folder / manifest.entry
    net: torch.nn.Module
    if manifest.format == "torchscript":
        net = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    else:
        net = _state_dict_network(manifest, path)
    return net.to(device).eval()


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the network's constructor takes."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _state_dict_network(manifest: ModelManifest, path: Path) -> torch.nn.Module:
    arch = dict(manifest.architecture)
    cls = ARCHITECTURES.get(str(arch.pop("name", "")))
    if cls is None:
        raise ModelLoadError(f"model {manifest.id}: unknown architecture {manifest.architecture.get('name')!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code: say so plainly
        raise ModelLoadError(f"model {manifest.id}: {path.name} is not a plain tensor file "
                             f"(it would need to run pickled code to load): {exc}") from exc
    kwargs: dict[str, Any] = {k: _tuples(v) for k, v in arch.items()}
    try:
        net = cls(**kwargs)
    except (TypeError, ValueError) as exc:  # an unknown key or a bad value in the manifest
        raise ModelLoadError(f"model {manifest.id}: its architecture cannot be built: {exc}") from exc
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, AttributeError) as exc:
        raise ModelLoadError(f"model {manifest.id}: weights do not fit the architecture: {exc}") from exc
    return net
