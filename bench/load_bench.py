"""Study loading benchmark (issue: foundation). Warm page cache, one run, side by side.

    .venv/bin/python bench/load_bench.py            # all cases (first run writes ~1.5 GB to bench/out)
    .venv/bin/python bench/load_bench.py --quick    # the 300-slice case only

Prints a Markdown table for docs/benchmarks.md. Times are the median of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets  # noqa: E402

from viewer.io.loader import load_series, read_frame  # noqa: E402
from viewer.io.pool import shutdown, warm_up  # noqa: E402
from viewer.io.study import open_folder  # noqa: E402

JPEG_LS = "1.2.840.10008.1.2.4.80"
J2K = "1.2.840.10008.1.2.4.90"
RLE = "1.2.840.10008.1.2.5"


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median wall time in ms of ``runs`` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def cat(folder: str) -> None:
    subprocess.run(f"cat {folder}/*.dcm > /dev/null", shell=True, check=True)


def ours(folder: str, workers: int | None = None) -> object:
    return load_series(open_folder(folder).series[0], workers=workers)


def first_image_ms(folder: str) -> float:
    """Time from the start of opening the folder to the first decoded image."""
    shown: list[float] = []
    t0 = time.perf_counter()

    def on_frame(frame: object) -> None:
        read_frame(frame)  # type: ignore[arg-type]
        shown.append((time.perf_counter() - t0) * 1000)

    open_folder(folder, on_frame=on_frame)
    return shown[0]


def sitk(folder: str) -> object:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return sitk.GetArrayFromImage(reader.Execute())


def pydicom_one_by_one(folder: str) -> object:
    import numpy as np
    import pydicom

    slices = [pydicom.dcmread(f) for f in datasets.files_in(folder)]
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in slices])


def pydicom_header_scan(folder: str) -> object:
    import pydicom

    heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in datasets.files_in(folder)]
    return sorted(heads, key=lambda d: float(d.ImagePositionPatient[2]))


def peak_memory_ratio(folder: str) -> float:
    """Peak memory growth while loading, divided by the volume's size (in a fresh process).

    Uses VmHWM (reset by exec) rather than ru_maxrss, which a child inherits from its parent.
    """
    code = (
        "import json\n"
        "from viewer.io.study import open_folder\n"
        "from viewer.io.loader import load_series\n"
        "def hwm():\n"
        "    line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "    return int(line.split()[1]) * 1024\n"
        "if __name__ == '__main__':\n"
        "    import SimpleITK, pydicom.pixels\n"
        "    base = hwm()\n"
        f"    v = load_series(open_folder({folder!r}).series[0])\n"
        "    print(json.dumps((hwm() - base) / v.nbytes))\n"
    )
    script = datasets.OUT / "peak_memory.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def pool_start_ms() -> float:
    """Cost of starting the worker processes (paid once per app run, at start-up)."""
    shutdown()
    t0 = time.perf_counter()
    warm_up()
    return (time.perf_counter() - t0) * 1000


def uncompressed(name: str, n: int, spacing: tuple[float, float, float], runs: int,
                 slow: bool) -> dict[str, float]:
    folder = datasets.series(name, n, spacing=spacing)
    row = {"slices": n, "cat": timed(lambda: cat(folder), runs),
           "ours": timed(lambda: ours(folder), runs),
           "first_image": statistics.median(first_image_ms(folder) for _ in range(runs)),
           "sitk": timed(lambda: sitk(folder), max(1, runs // 2)),
           "peak_mem_x": peak_memory_ratio(folder)}
    if slow:
        row["pydicom_scan"] = timed(lambda: pydicom_header_scan(folder), runs)
        row["pydicom_full"] = timed(lambda: pydicom_one_by_one(folder), max(1, runs // 2))
    return row


def compressed(runs: int) -> dict[str, dict[str, float]]:
    out = {}
    for label, ts in (("RLE", RLE), ("JPEG-LS", JPEG_LS), ("JPEG 2000", J2K)):
        folder = datasets.series(f"ct100_{label.replace(' ', '').lower()}", 100, transfer_syntax=ts)
        one = timed(lambda: ours(folder, workers=1), runs)
        par = timed(lambda: ours(folder), runs)
        out[label] = {"one_by_one": one, "parallel": par, "speedup": one / par}
    return out


def header_scan(n_files: int, runs: int) -> float:
    folder = datasets.many_files(f"scan{n_files}", n_files)
    return timed(lambda: open_folder(folder), runs)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print tables for docs/benchmarks.md")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": machine(), "pool_start_ms": pool_start_ms()}
    results["ct300"] = uncompressed("ct300", 300, (2.5, 0.7, 0.7), args.runs, slow=True)
    if not args.quick:
        results["ct2000"] = uncompressed("ct2000", 2000, (0.5, 0.7, 0.7), 3, slow=False)
        results["compressed"] = compressed(3)
        results["scan5000_ms"] = header_scan(5000, 3)
    print(markdown(results) if args.markdown else json.dumps(results, indent=2))


def markdown(r: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md."""
    lines = [f"Machine: {r['machine']}. Worker pool start (once per app run): {r['pool_start_ms']:.0f} ms.", "",
             "| series | `cat` | Lumen full load | x `cat` | SimpleITK | Lumen faster by | first image "
             "| first image / full | peak memory / volume |", "|---|---|---|---|---|---|---|---|---|"]
    for key in ("ct300", "ct2000"):
        if key in r:
            c = r[key]
            lines.append(f"| {c['slices']} x 512 x 512 uncompressed | {c['cat']:.0f} ms | {c['ours']:.0f} ms | "
                         f"{c['ours'] / c['cat']:.1f} | {c['sitk']:.0f} ms | {c['sitk'] / c['ours']:.1f}x | "
                         f"{c['first_image']:.1f} ms | {100 * c['first_image'] / c['ours']:.1f} % | "
                         f"{c['peak_mem_x']:.2f} |")
    if "pydicom_full" in r.get("ct300", {}):
        c = r["ct300"]
        lines += ["", f"For reference on the 300-slice series: pydicom header scan + sort "
                      f"{c['pydicom_scan']:.0f} ms, pydicom dcmread + pixel_array one by one {c['pydicom_full']:.0f} ms."]
    if "compressed" in r:
        lines += ["", "| 100 x 512 x 512 compressed | one by one | parallel (2 cores) | speed-up |", "|---|---|---|---|"]
        for name, c in r["compressed"].items():
            lines.append(f"| {name} | {c['one_by_one']:.0f} ms | {c['parallel']:.0f} ms | {c['speedup']:.2f}x |")
    if "scan5000_ms" in r:
        lines += ["", f"Header scan of a 5,000-file folder (50 series): {r['scan5000_ms']:.0f} ms."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
