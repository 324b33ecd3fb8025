"""Inference benchmark (issue: local AI): a 512 x 512 x 300 CT through the shipped model.

    .venv/bin/python bench/inference_bench.py [--device cpu|cuda] [--dtype float32|bfloat16]
        [--tiles-per-call N] [--repeat N] [--mirror x] [--crop-to-body on|off]

Prints per-stage seconds and the peak memory growth relative to the volume's size, as JSON.
``--repeat`` runs the same volume again in the same process: on a GPU the first run also pays
for CUDA's start and cuDNN's kernel choice, which a reading session pays once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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
    ap.add_argument("--mirror", default=None, help="override the manifest's mirrored passes: axes, e.g. x ('' for none)")
    ap.add_argument("--crop-to-body", choices=["on", "off"], default=None,
                    help="override the manifest's inference.crop_to_body (predict only the body's box)")
    ap.add_argument("--tiles-per-call", type=int, default=None, help="default: the runner's choice for the device")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its kernels on the first tiles")
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
    if args.mirror is not None:
        manifest = dataclasses.replace(manifest, inference=dataclasses.replace(manifest.inference,
                                                                                mirror_axes=tuple(args.mirror)))
    if args.crop_to_body is not None:
        manifest = dataclasses.replace(manifest, inference=dataclasses.replace(
            manifest.inference, crop_to_body=args.crop_to_body == "on"))
    del phantom
    import torch

    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    from viewer.inference.device import autocast_dtype

    runner = Runner(manifest, args.device, args.tiles_per_call)
    runs = []
    for _ in range(args.repeat):
        base = reset_peak()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        tiles: list[int] = []
        result = runner.run(volume, lambda stage, done, total: tiles.append(total))
        total = time.perf_counter() - t0
        runs.append({
            "stages_s": result.timings_s, "total_s": round(total, 2),
            "peak_memory_x_volume": round((_status_bytes("VmHWM") - base) / volume.nbytes, 2),
            "gpu_peak_memory_x_volume": round(torch.cuda.max_memory_allocated() / volume.nbytes, 2)
            if torch.cuda.is_available() else None,
            "tiles": tiles[-1], "findings": len(result.findings), "notes": list(result.notes)})
    computed = autocast_dtype(manifest.inference.dtype, torch.device(result.device)) or torch.float32  # as run
    print(json.dumps({
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "device": result.device, "dtype": manifest.inference.dtype,
        "computed_in": str(computed).removeprefix("torch."), "shape_kji": list(volume.shape),
        "mirror_axes": list(manifest.inference.mirror_axes), "crop_to_body": manifest.inference.crop_to_body,
        "tiles_per_call": args.tiles_per_call, "cudnn_benchmark": args.cudnn_benchmark,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **runs[-1], "runs": runs if len(runs) > 1 else None,
    }, indent=2))


def _cpu_model() -> str:
    """The CPU's model name (platform.processor() says only x86_64 on Linux)."""
    try:
        return next(x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
