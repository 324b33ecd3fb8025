"""Inference benchmark (issue: local AI): a 512 x 512 x 300 CT through the shipped model.

    .venv/bin/python bench/inference_bench.py [--device cpu|cuda] [--dtype float32|bfloat16]

Prints per-stage seconds and the peak memory growth relative to the volume's size, as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def _status_bytes(key: str) -> int:
    line = next(x for x in open("/proc/self/status") if x.startswith(key))
    return int(line.split()[1]) * 1024


def reset_peak() -> int:
    """Start a new peak-memory count (Linux: the peak so far is generating the phantom, which can
    exceed what inference needs) and return the resident memory now, in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="override the manifest's inference dtype")
    ap.add_argument("--model", default="lesion-unet-synth")
    args = ap.parse_args()
    from viewer.core.volume import SeriesMeta, Volume
    from viewer.inference.registry import discover
    from viewer.inference.runner import Runner
    from viewer.synth.phantom import PhantomParams, generate_phantom

    phantom = generate_phantom(42, PhantomParams(shape=(300, 512, 512), spacing=(2.5, 0.7, 0.7)))
    volume = Volume(phantom.hu, np.diag([0.7, 0.7, 2.5, 1.0]), SeriesMeta(modality="CT", units="HU"))
    manifest = discover().get(args.model)
    if args.dtype:
        manifest = dataclasses.replace(manifest, inference=dataclasses.replace(manifest.inference, dtype=args.dtype))
    del phantom
    import torch

    base = reset_peak()
    t0 = time.perf_counter()
    result = Runner(manifest, args.device).run(volume)
    total = time.perf_counter() - t0
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "device": result.device, "dtype": manifest.inference.dtype, "shape_kji": list(volume.shape),
        "stages_s": result.timings_s, "total_s": round(total, 2),
        "peak_memory_x_volume": round((_status_bytes("VmHWM") - base) / volume.nbytes, 2),
        "findings": len(result.findings),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
