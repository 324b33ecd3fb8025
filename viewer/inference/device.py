"""Choose where inference runs: CUDA, then Apple MPS, then the CPU, unless a setting says otherwise."""

from __future__ import annotations

import os

import torch

CHOICES = ("auto", "cuda", "mps", "cpu")


def choose_device(preference: str | None = None) -> torch.device:
    """The device to use. ``preference`` (or ``LUMEN_DEVICE``) may force one of CHOICES."""
    wanted = (preference or os.environ.get("LUMEN_DEVICE") or "auto").lower()
    if wanted not in CHOICES:
        raise ValueError(f"device must be one of {CHOICES}; got {wanted!r}")
    if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but no CUDA GPU is available")
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if wanted == "mps" or (wanted == "auto" and mps is not None and mps.is_available()):
        if mps is None or not mps.is_available():
            raise RuntimeError("MPS was asked for but is not available")
        return torch.device("mps")
    return torch.device("cpu")
