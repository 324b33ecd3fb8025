"""Train the lesion U-Net of models/lesion-unet-synth on synthetic CT phantoms.

    .venv/bin/python models/training/train_lesion_unet.py --steps 3500 --out models/lesion-unet-synth

Seeded (phantoms, sampling, initial weights). On this project's 2-core CPU, bf16 autocast, about
0.8 s per step (3500 steps ~ 50 min plus ~2 min of phantom generation); on a CUDA GPU, minutes.
Writes weights.pt (fp16 state dict, loadable with torch.load(weights_only=True)) and training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesion_data import (  # noqa: E402
    N_CLASSES,
    PATCH,
    TRAIN_SEEDS,
    Case,
    sample,
    training_params,
)

from viewer.inference.network import UNet3D  # noqa: E402

CLASS_WEIGHTS = (1.0, 1.0, 1.0, 4.0)


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Weighted cross-entropy plus soft Dice on the lesion class; returns (loss, lesion Dice)."""
    weights = torch.tensor(CLASS_WEIGHTS, device=logits.device)
    ce = F.cross_entropy(logits, target, weight=weights)
    prob = torch.softmax(logits, dim=1)[:, 3]
    truth = (target == 3).float()
    inter, total = (prob * truth).sum(), prob.sum() + truth.sum()
    dice = (2 * inter + 1.0) / (total + 1.0)
    return ce + (1 - dice), float(dice.detach())


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < 200:
        return peak * (step + 1) / 200
    t = (step - 200) / max(1, steps - 200)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def batch(cases: list[Case], rng: np.random.Generator, size: int,
          device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [sample(cases[rng.integers(len(cases))], rng) for _ in range(size)]
    x = torch.from_numpy(np.stack([p[0] for p in pairs])).to(device)
    y = torch.from_numpy(np.stack([p[1] for p in pairs])).to(device)
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--cases", type=int, default=40, help="phantoms held in memory")
    ap.add_argument("--refresh", type=int, default=40, help="replace one phantom every N steps")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("models/lesion-unet-synth"))
    ap.add_argument("--work", type=Path, default=Path("models/training/runs"))
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = torch.bfloat16
    args.work.mkdir(parents=True, exist_ok=True)
    log = open(args.work / "log.jsonl", "a")
    t0 = time.time()
    next_seed = TRAIN_SEEDS
    cases = []
    for _ in range(args.cases):
        cases.append(Case.make(next_seed, training_params(np.random.default_rng(next_seed))))
        next_seed += 1
    print(f"{len(cases)} phantoms in {time.time() - t0:.0f} s; patch {PATCH}; device {device}", flush=True)

    model = UNet3D(in_channels=2, out_channels=N_CLASSES).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    losses, dices = [], []
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        x, y = batch(cases, rng, args.batch, device)
        with torch.autocast(device.type, dtype=amp):
            logits = model(x)
        loss, dice = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        dices.append(dice)
        if (step + 1) % args.refresh == 0:
            cases[int(rng.integers(len(cases)))] = Case.make(next_seed, training_params(np.random.default_rng(next_seed)))
            next_seed += 1
        if (step + 1) % 50 == 0:
            entry = {"step": step + 1, "loss": float(np.mean(losses[-50:])), "dice": float(np.mean(dices[-50:])),
                     "lr": learning_rate(step, args.steps, args.lr), "minutes": (time.time() - t0) / 60}
            print(json.dumps(entry), flush=True)
            log.write(json.dumps(entry) + "\n")
            log.flush()
        if (step + 1) % 500 == 0 or step + 1 == args.steps:
            torch.save({"step": step + 1, "model": model.state_dict()}, args.work / "checkpoint.pt")
    save_weights(model, args, time.time() - t0, device, next_seed)


def save_weights(model: UNet3D, args: argparse.Namespace, seconds: float, device: torch.device,
                 next_seed: int) -> None:
    """fp16 state dict (half the size, no loss that matters for inference) and a training record."""
    args.out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
    torch.save(state, args.out / "weights.pt")
    record = {"steps": args.steps, "batch": args.batch, "patch_zyx": list(PATCH), "lr": args.lr,
              "seed": args.seed, "phantoms_used": next_seed - TRAIN_SEEDS, "minutes": round(seconds / 60, 1),
              "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print("saved", args.out / "weights.pt", flush=True)


if __name__ == "__main__":
    main()
