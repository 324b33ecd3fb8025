"""The ``lumen`` command: open the viewer, or scan / inspect studies headlessly.

Exit status of ``scan`` and ``info``: 0 all read without warnings, 1 read but with warnings or
unreadable files, 2 nothing could be read (or bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_WARNINGS, EXIT_FAILED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    from viewer import PRODUCT_NAME, __version__

    p = argparse.ArgumentParser(prog="lumen", description=f"{PRODUCT_NAME} {__version__}: "
                                "a reading workstation for tumour CT/MR cases.")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command")
    view = sub.add_parser("view", help="open the viewer (the default command)")
    view.add_argument("path", nargs="?", help="study folder or file; the demo study if omitted")
    scan = sub.add_parser("scan", help="list the series and problems of a folder")
    scan.add_argument("folder")
    scan.add_argument("--json", action="store_true", help="machine-readable output")
    info = sub.add_parser("info", help="load one series and print its geometry")
    info.add_argument("path", help="study folder, DICOM file or NIfTI file")
    info.add_argument("--series", default="1", help="row number in `scan`, series key or UID")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    infer = sub.add_parser("infer", help="run a lesion model on one series, print the findings")
    infer.add_argument("path", help="study folder, DICOM file or NIfTI file")
    infer.add_argument("--series", default=None, help="row number in `scan`, series key or UID")
    infer.add_argument("--model", default=None, help="model id (default: the first one found)")
    infer.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    infer.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("models", help="list the models found and what they were trained on")
    demo = sub.add_parser("demo", help="write the synthetic demo study (DICOM + ground truth)")
    demo.add_argument("--out", help="folder to write (default: the user cache)")
    demo.add_argument("--seed", type=int, default=None)
    return p


def _status(problems: Sequence[object], loaded_any: bool) -> int:
    from viewer.core.problems import Severity

    if not loaded_any:
        return EXIT_FAILED
    serious = [p for p in problems if getattr(p, "severity", None) is not Severity.INFO]
    return EXIT_WARNINGS if serious else EXIT_OK


def cmd_scan(folder: str, as_json: bool) -> int:
    """Print the series table and problems of ``folder``."""
    from viewer.cli_format import scan_table, scan_to_dict
    from viewer.io.study import open_folder

    try:
        study = open_folder(folder)
    except (OSError, NotADirectoryError) as exc:
        print(f"lumen: cannot scan {folder}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(scan_to_dict(study), indent=2) if as_json else scan_table(study))
    every = study.file_problems + [p for s in study.series for p in s.problems]
    return _status(every, bool(study.series))


def cmd_info(path: str, key: str, as_json: bool) -> int:
    """Load one series of ``path`` and print its geometry."""
    from viewer.cli_format import volume_table, volume_to_dict
    from viewer.io.loader import LoadError, load_series
    from viewer.io.study import open_folder

    try:
        study = open_folder(path)
        candidate = study.find(key)
        volume = load_series(candidate)
    except (OSError, KeyError, LoadError) as exc:
        print(f"lumen: cannot load {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(volume_to_dict(volume, candidate), indent=2) if as_json
          else volume_table(volume, candidate))
    return _status(list(volume.problems), True)


def cmd_models() -> int:
    """List the models the registry finds."""
    from viewer.inference.registry import discover

    found = discover()
    for m in found.models:
        print(f"{m.id} {m.version}: {m.name}\n  trained on: {m.training_data}\n  use: {m.intended_use}")
    for folder, error in found.errors:
        print(f"unusable model in {folder}: {error}", file=sys.stderr)
    return EXIT_OK if found.models else EXIT_FAILED


def cmd_infer(path: str, key: str | None, model_id: str | None, device: str | None, as_json: bool) -> int:
    """Load a series, run a model, print the proposed findings."""
    from viewer.cli_format import findings_table, findings_to_dict
    from viewer.inference.loading import ModelLoadError
    from viewer.inference.registry import discover
    from viewer.inference.runner import Runner
    from viewer.io.loader import LoadError, load_series
    from viewer.io.study import open_folder

    try:
        found = discover()
        manifest = found.get(model_id) if model_id else found.models[0]
        study = open_folder(path)
        candidate = study.find(key) if key else study.default()
        if candidate is None:
            raise LoadError(f"no images in {path}", [])
        volume = load_series(candidate)
        result = Runner(manifest, device).run(volume)
    except (OSError, KeyError, IndexError, LoadError, ModelLoadError, RuntimeError) as exc:
        print(f"lumen: cannot run inference on {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(findings_to_dict(result, manifest), indent=2) if as_json else findings_table(result, manifest))
    return EXIT_OK


def cmd_demo(out: str | None, seed: int | None) -> int:
    """Write the demo study and print where."""
    from viewer.io.demo_study import DEMO_SEED, ensure_demo_study, write_demo_study
    from viewer.paths import cache_dir

    seed = DEMO_SEED if seed is None else seed
    folder = write_demo_study(out, seed) if out else ensure_demo_study(cache_dir(), seed)
    print(folder)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lumen`` and ``python -m viewer``."""
    args = _parser().parse_args(argv)
    if args.command == "scan":
        return cmd_scan(args.folder, args.json)
    if args.command == "info":
        return cmd_info(args.path, args.series, args.json)
    if args.command == "infer":
        return cmd_infer(args.path, args.series, args.model, args.device, args.json)
    if args.command == "models":
        return cmd_models()
    if args.command == "demo":
        return cmd_demo(args.out, args.seed)
    from viewer.app import run

    return run(getattr(args, "path", None))
