"""Benchmark series written once into bench/out/ (ignored by git) and reused while they exist."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from viewer.io.dicom_writer import SeriesIds, axial_positions, make_uid, write_series

OUT = Path(__file__).resolve().parent / "out"


def ct_like(n: int, size: int = 512, seed: int = 0) -> np.ndarray:
    """Stored values (uint16, intercept -1024) of a CT-like stack: body, organs, bone, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    body = ((x / 0.85) ** 2 + (y / 0.65) ** 2 < 1)
    lungs = (((np.abs(x) - 0.4) / 0.25) ** 2 + (y / 0.4) ** 2 < 1)
    spine = (x ** 2 + (y - 0.45) ** 2 < 0.01)
    base = np.where(body, 1024 + 40, 24).astype(np.float32)
    base[lungs] = 1024 - 850
    base[spine] = 1024 + 700
    out = np.empty((n, size, size), dtype=np.uint16)
    for k in range(n):
        noise = rng.normal(0, 12, (size, size)).astype(np.float32)
        out[k] = np.clip(base + noise + 20 * np.sin(k / 7.0), 0, 4095)
    return out


def series(name: str, n: int, size: int = 512, transfer_syntax: str = "1.2.840.10008.1.2.1",
           spacing: tuple[float, float, float] = (2.5, 0.7, 0.7)) -> str:
    """Folder of an n-slice series (written on first use; file names shuffled on purpose)."""
    folder = OUT / name
    done = folder / ".complete"
    if done.exists():
        return str(folder)
    stored = ct_like(n, size)
    ids = SeriesIds(study_uid=make_uid(name, "st"), series_uid=make_uid(name, "se"),
                    frame_of_reference_uid=make_uid(name, "for"))
    order = np.random.default_rng(1).permutation(n)  # names must not give away slice order
    write_series(str(folder), stored[order], axial_positions(n, size, size, spacing)[order],
                 (1, 0, 0, 0, 1, 0), spacing[1:], ids, intercept=-1024.0,
                 transfer_syntax=transfer_syntax, bits_stored=12)
    done.write_text("ok")
    return str(folder)


def many_files(name: str, n: int) -> str:
    """A folder of n small single-slice files in 50 series (for the header-scan benchmark)."""
    folder = OUT / name
    if (folder / ".complete").exists():
        return str(folder)
    per = n // 50
    for s in range(50):
        ids = SeriesIds(series_uid=make_uid(name, s), series_number=s + 1)
        write_series(str(folder / f"s{s:02d}"), ct_like(per, 64, seed=s),
                     axial_positions(per, 64, 64, (1.0, 1.0, 1.0)), (1, 0, 0, 0, 1, 0), (1.0, 1.0),
                     ids, intercept=-1024.0, bits_stored=12)
    (folder / ".complete").write_text("ok")
    return str(folder)


def files_in(folder: str) -> list[str]:
    """All files of a benchmark folder (not the marker)."""
    return sorted(str(p) for p in Path(folder).rglob("*.dcm"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    print(series("ct300", 300))
