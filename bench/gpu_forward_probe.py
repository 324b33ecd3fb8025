"""Where a GPU's inference time goes: the shipped network's forward pass alone, on 16 training-size
tiles, in bf16 and float32, NCDHW and channels-last (NDHWC), with and without cuDNN autotuning;
then sliding-window prediction over a 300 x 256 x 256 grid (the 512 x 512 x 300 CT on the model's
grid) without a phantom, tiles windowed on the host (session 6 measured it before blending moved
to the device; the runner now also windows on the device). Prints milliseconds as JSON lines.

    python3 bench/gpu_forward_probe.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from viewer.inference.loading import load_network
    from viewer.inference.preprocess import Window, window_channels
    from viewer.inference.registry import discover
    from viewer.inference.sliding_window import predict

    device = torch.device(args.device)
    manifest = discover().get("lesion-unet-synth")
    net = load_network(manifest, device)
    x = torch.randn(16, 2, 24, 80, 80, device=device)
    for bench in (False, True):
        torch.backends.cudnn.benchmark = bench
        for fmt in ("ncdhw", "ndhwc"):
            mf = torch.channels_last_3d if fmt == "ndhwc" else torch.contiguous_format
            net = net.to(memory_format=mf)
            xi = x.contiguous(memory_format=mf)
            for dtype in (torch.bfloat16, None):
                with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                            enabled=dtype is not None):
                    for _ in range(2):
                        net(xi)
                    _sync(device)
                    t = time.perf_counter()
                    for _ in range(args.reps):
                        net(xi)
                    _sync(device)
                print(json.dumps({"forward_16_tiles_ms": round((time.perf_counter() - t) / args.reps * 1e3, 1),
                                  "cudnn_benchmark": bench, "format": fmt, "dtype": str(dtype)}), flush=True)
    net = net.to(memory_format=torch.contiguous_format)
    shape = (300, 256, 256)
    hu = np.random.default_rng(0).integers(-1000, 400, shape).astype(np.int16)
    windows = [Window(lo, hi) for lo, hi in manifest.input.windows]
    for fmt in ("ncdhw", "ndhwc"):
        net = net.to(memory_format=torch.channels_last_3d if fmt == "ndhwc" else torch.contiguous_format)
        t = time.perf_counter()
        predict(net, lambda box: window_channels(hu[box], windows), shape, (24, 80, 80), 0.25, 0.125,
                [[3], [1], [2]], device, autocast=torch.bfloat16, dtypes=[np.float32, np.float16, np.float16],
                tiles_per_call=16, channels_last=fmt == "ndhwc")
        print(json.dumps({"predict_s": round(time.perf_counter() - t, 2), "format": fmt,
                          "cudnn_benchmark": True}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
