"""Average the weights of runs fine-tuned from one another: a uniform model soup.

    .venv/bin/python models/training/soup.py --out models/training/runs/s RUN_A/weights.pt RUN_B/weights.pt ...

Fine-tunes that start from the same weights stay in one basin of the loss, where the mean of
their weights often beats each of them (Wortsman et al., "Model soups", ICML 2022). The mean of
runs N, O and P led N on validation and fell behind it on the held-out sets, so it was not
shipped (models/lesion-unet-synth/README.md). Calibrate and evaluate a soup like any run.
Every ingredient must have the same tensors (names, shapes, dtypes); the mean
is taken in float64 and stored in the ingredients' dtype. Writes weights.pt and soup.json (each
ingredient's sha256, their common architecture and the command), loadable with
torch.load(weights_only=True). evaluate.py reads the architecture from soup.json as from a run's
training.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from viewer.inference.loading import sha256_of  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesion_data import full_architecture  # noqa: E402


def soup(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of ``states``, tensor by tensor; refuses states that are not of one network."""
    if not states:
        raise ValueError("a soup needs at least one set of weights")
    first = states[0]
    integers = [name for name, tensor in first.items() if not tensor.is_floating_point()]
    if integers:  # a mean of integer buffers (step counters, indices) would be truncated nonsense
        raise ValueError(f"weights hold tensors that are not floating point: {integers[:5]}")
    for n, state in enumerate(states[1:], 2):
        if state.keys() != first.keys():
            raise ValueError(f"weights {n} have other tensors than weights 1: "
                             f"{sorted(state.keys() ^ first.keys())[:5]}")
        for name, tensor in state.items():
            if tensor.shape != first[name].shape or tensor.dtype != first[name].dtype:
                raise ValueError(f"weights {n}: {name} is {tuple(tensor.shape)} {tensor.dtype}, "
                                 f"weights 1 have {tuple(first[name].shape)} {first[name].dtype}")
    return {name: (torch.stack([s[name].to(torch.float64) for s in states]).mean(dim=0)
                   .to(tensor.dtype).contiguous())
            for name, tensor in first.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", type=Path, help="weights.pt files of runs that share a starting point")
    ap.add_argument("--out", type=Path, required=True, help="folder for weights.pt and soup.json")
    args = ap.parse_args()
    if (args.out / "training.json").exists():  # it would be read as this soup's architecture
        ap.error(f"{args.out} holds a run (training.json): give the soup a folder of its own")
    # Defaults filled in: the shipped folder's manifest spells out what a run's training.json leaves out.
    archs = {json.dumps(full_architecture(p.parent), sort_keys=True) for p in args.weights}
    if len(archs) > 1:  # same shapes can still differ in what they compute (a smoothed input's gain)
        ap.error(f"these runs' training.json record different architectures: {sorted(archs)}")
    states = [torch.load(path, map_location="cpu", weights_only=True) for path in args.weights]
    mixed = soup(states)  # refuses before anything is written
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(mixed, args.out / "weights.pt")
    record = {"ingredients": [{"path": str(p), "sha256": sha256_of(p)} for p in args.weights],
              "architecture": json.loads(archs.pop()),
              "weights_sha256": sha256_of(args.out / "weights.pt"), "command": " ".join(sys.argv)}
    (args.out / "soup.json").write_text(json.dumps(record, indent=2) + "\n")
    print("soup of", len(states), "->", args.out / "weights.pt", record["weights_sha256"], flush=True)


if __name__ == "__main__":
    main()
