"""Train the lesion U-Net of models/lesion-unet-synth on synthetic CT phantoms.

    .venv/bin/python models/training/train_lesion_unet.py --steps 3500 --out models/lesion-unet-synth

Fine-tune from earlier weights with ``--init FILE`` (a weights.pt or a checkpoint.pt of this
script; loaded with weights_only=True); the card of the model says which chain made its weights.

Seeded (phantoms, sampling, initial weights). bf16 autocast where the hardware does it fast (CUDA,
AMX or AVX-512 BF16), else float32 (``--autocast`` overrides): emulated bf16 would take a minute
per step. On an Intel Xeon with AMX, bf16 channels-last, about 0.36 s per step of batch 2 (run
A's code took 0.8 s); on an AMD EPYC without AMX, float32 channels-last, about 1.5-1.7 s. On a
CUDA GPU, minutes: there give ``--workers`` (phantoms are made in that many processes, ahead of
need, with the same result as without) and a larger ``--batch``. ``--minutes`` fixes the step count at the end of the
warm-up from the speed so far (training.json records it, and the command that reproduces the run).
Writes weights.pt (fp16 state dict, loadable with torch.load(weights_only=True)) and training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from multiprocessing.pool import AsyncResult
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesion_data import (  # noqa: E402
    FAINT_CONTRAST_HU,
    LIVER_CHANNEL,
    N_CLASSES,
    PATCH,
    TRAIN_SEEDS,
    TRAINING_CONTRAST_HU,
    WINDOWS,
    Case,
    Sampling,
    check_training_seeds,
    is_faint,
    recorded_architecture,
    sample,
    training_params,
)

from viewer.inference.device import autocast_dtype  # noqa: E402
from viewer.inference.network import DEFAULT_SMOOTH_SIGMA_VOX, UNet3D  # noqa: E402

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


def blob_dice(logits: torch.Tensor, instances: torch.Tensor) -> torch.Tensor | None:
    """Mean soft Dice of each lesion in the batch on its own, the voxels of every other lesion left
    out ("blob loss", Kofler et al. 2023): the batch-wide Dice of :func:`loss_fn` barely notices a
    missed 30-voxel nodule beside a 3000-voxel metastasis, and per-case Dice is lost on exactly
    such small ones. ``instances`` is each voxel's lesion label (0 elsewhere); None without lesions."""
    prob = torch.softmax(logits, dim=1)[:, 3]
    terms = []
    for p, inst in zip(prob, instances):
        for label in torch.unique(inst[inst > 0]):
            own = inst == label
            inter = (p * own).sum()
            total = (p * ((inst == 0) | own)).sum() + own.sum()
            terms.append((2 * inter + 1.0) / (total + 1.0))
    return torch.stack(terms).mean() if terms else None


def learning_rate(step: int, steps: int, peak: float, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def batch(cases: list[Case], rng: np.random.Generator, size: int, device: torch.device,
          how: Sampling) -> tuple[torch.Tensor, torch.Tensor, list[tuple[Case, np.ndarray]]]:
    picked, triples = [], []
    for _ in range(size):  # case, then its patch: the draw order of the first model's run
        picked.append(cases[rng.integers(len(cases))])
        triples.append(sample(picked[-1], rng, how))
    x = torch.from_numpy(np.stack([t[0] for t in triples])).to(device)
    y = torch.from_numpy(np.stack([t[1] for t in triples])).to(device)
    return x, y, [(case, t[2]) for case, t in zip(picked, triples)]


def lesion_labels(where: list[tuple[Case, np.ndarray]], patch: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The lesion label of every voxel of the sampled patches (their instances, for ``--blob``)."""
    out = []
    for case, start in where:
        assert case.lesions is not None  # Case.make keeps them
        out.append(case.lesions[tuple(slice(int(a), int(a + n)) for a, n in zip(start, patch))])
    return torch.from_numpy(np.stack(out).astype(np.int64)).to(device)


def mirrored(t: torch.Tensor, flips: torch.Tensor | None) -> torch.Tensor:
    """The batch ``t`` with the samples that ``flips`` marks mirrored left-right (x, the last axis).
    Its own inverse: mining maps a mirrored patch's voxels back onto its case with it."""
    if flips is None or not bool(flips.any()):
        return t
    out = t.clone()
    out[flips] = t[flips].flip(-1)
    return out


def mine(logits: torch.Tensor, y: torch.Tensor, where: list[tuple[Case, np.ndarray]],
         rng: np.random.Generator, how: Sampling) -> None:
    """Online mining: voxels the network calls lesion (p > 0.5) that are not one are remembered in
    their case, and later patches are centred on them (hard negatives); with ``by_miss``, how much of
    each lesion it missed steers which lesion later patches show (hard positives)."""
    found = (torch.softmax(logits.detach(), dim=1)[:, 3] > 0.5).cpu().numpy()
    false_pos = found & (y != 3).cpu().numpy()
    for fp, hit, (case, start) in zip(false_pos, found, where):
        if how.hard > 0:
            case.add_hard(np.argwhere(fp) + start, rng)
        if how.by_miss:
            case.add_misses(hit, start)


def make_case(seed: int, faint: float, right_lobe_only: bool) -> Case:
    """Training phantom ``seed`` (a module function: worker processes pickle it)."""
    contrast = FAINT_CONTRAST_HU if is_faint(seed, faint) else TRAINING_CONTRAST_HU
    return Case.make(seed, training_params(np.random.default_rng(seed), right_lobe_only, contrast))


class Phantoms:
    """Training phantoms by seed, in order. With workers, later seeds are made ahead in other
    processes; which phantom arrives at which step does not change, so neither does the run."""

    def __init__(self, first: int, faint: float, right_lobe_only: bool, workers: int) -> None:
        self.next, self.args = first, (faint, right_lobe_only)
        self.pool = mp.get_context("fork").Pool(workers) if workers > 1 else None  # before CUDA starts
        self.ahead: dict[int, AsyncResult[Case]] = {}
        self.depth = 2 * workers

    def take(self) -> Case:
        seed = self.next
        self.next += 1
        if self.pool is None:
            return make_case(seed, *self.args)
        for s in range(seed, seed + self.depth):
            if s not in self.ahead:
                self.ahead[s] = self.pool.apply_async(make_case, (s, *self.args))
        return self.ahead.pop(seed).get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()


FIRST_CONV = "down.0.0.weight"


def load_init(model: UNet3D, path: Path) -> None:
    """Start from earlier weights (fp16 weights.pt or a checkpoint), tensors only. Weights of a
    network with fewer input channels (one without --smooth) get zero weights for the channels
    added, so the network starts out computing what the earlier one did. Weights trained with
    another --smooth-gain are rescaled for the same reason: a checkpoint records its gain, and
    beside a weights.pt the run's training.json or the shipped folder's manifest.json does. Smoothed
    weights with no such record, a record of another smoothed input, or a network without --smooth
    are refused."""
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v.float() for k, v in loaded.get("model", loaded).items()}
    first = model.state_dict()[FIRST_CONV]
    old = state[FIRST_CONV]
    if old.shape[1] < first.shape[1] and old.shape[2:] == first.shape[2:] and old.shape[0] == first.shape[0]:
        state[FIRST_CONV] = torch.cat([old, old.new_zeros(old.shape[0], first.shape[1] - old.shape[1],
                                                          *old.shape[2:])], dim=1)
    if old.shape[1] > first.shape[1]:
        raise ValueError(f"{path}: trained with a smoothed input ({old.shape[1]} input channels); give --smooth "
                         "with its sigmas")
    if model.smooth_channels and old.shape[1] == first.shape[1]:  # trained with the smoothed input: at which gain?
        arch = loaded.get("architecture") or recorded_architecture(path.parent)  # a checkpoint records its own
        if not arch:
            raise ValueError(f"{path}: trained with a smoothed input, but no training.json or manifest.json beside "
                             "it says at which --smooth-gain, so its weights cannot be rescaled for this run")
        mine = (list(model.smooth_channels), [float(v) for v in model.smooth.sigma_zyx])
        theirs = (list(arch.get("smooth_channels", [])),
                  [float(v) for v in arch.get("smooth_sigma_vox", DEFAULT_SMOOTH_SIGMA_VOX)])
        if mine != theirs:
            raise ValueError(f"{path}: its record says smoothed channels {theirs[0]} at sigmas {theirs[1]}; this "
                             f"run smooths {mine[0]} at {mine[1]}")
        ratio = float(arch.get("smooth_gain", 1.0)) / model.smooth_gain
        state[FIRST_CONV][:, first.shape[1] - len(model.smooth_channels):] *= ratio
    model.load_state_dict(state)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)  # training.json's "reproduce" rewrites --minutes literally
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--minutes", type=float, default=None,
                    help="instead of --steps: as many steps as fit in this time (phantoms made before the first "
                         "step not counted), fixed at the end of the warm-up")
    ap.add_argument("--workers", type=int, default=1, help="processes that make phantoms ahead of need")
    ap.add_argument("--cases", type=int, default=40, help="phantoms held in memory")
    ap.add_argument("--refresh", type=int, default=40, help="replace one phantom every N steps")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("models/lesion-unet-synth"))
    ap.add_argument("--work", type=Path, default=Path("models/training/runs"))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights (fine-tune)")
    ap.add_argument("--warmup", type=int, default=200, help="steps of linear learning-rate warm-up")
    ap.add_argument("--first-seed", type=int, default=TRAIN_SEEDS, help="seed of the first training phantom")
    ap.add_argument("--metastases-both-lobes", action="store_true",
                    help="metastases anywhere in the liver (the generator's default: right lobe only)")
    ap.add_argument("--faint", type=float, default=0.0,
                    help="share of phantoms whose metastases are only %g-%g HU darker than the liver" % FAINT_CONTRAST_HU)
    ap.add_argument("--lesion", type=float, default=0.5, help="share of patches centred on a lesion")
    ap.add_argument("--per-lesion", action="store_true", help="pick the lesion first, then a voxel of it")
    ap.add_argument("--by-miss", action="store_true",
                    help="with --per-lesion, pick lesions in proportion to how much of them the network misses")
    ap.add_argument("--hard", type=float, default=0.0, help="share centred on mined false positives")
    ap.add_argument("--dense", type=float, default=0.0, help="share centred on dense lung voxels (vessels)")
    ap.add_argument("--edge", type=float, default=0.0,
                    help="share flush with the scan's first or last slice, on a lung vessel near it")
    ap.add_argument("--organ", type=float, default=0.25, help="share centred in liver or lung")
    ap.add_argument("--mirror", type=float, default=0.0,
                    help="share of patches mirrored left-right, so the network learns both sides alike (then "
                         "mirrored passes at inference can help; runs up to N had none)")
    ap.add_argument("--smooth", type=float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                    help="feed the network a copy of the liver window smoothed by a Gaussian of these sigmas "
                         "(voxels), beside it (with --init from a network without: its weights zero at first)")
    ap.add_argument("--smooth-gain", type=float, default=1.0,
                    help="with --smooth: the smoothed copy times this before the first layer, so that its "
                         "zero-started weights grow this many times as fast under Adam (recorded in the architecture)")
    ap.add_argument("--blob", type=float, default=0.0,
                    help="weight of a per-lesion Dice term (each lesion's own soft Dice, averaged), so small "
                         "lesions count as much as big ones in the loss")
    ap.add_argument("--autocast", choices=["auto", "bfloat16", "float32"], default="auto",
                    help="auto: bfloat16 where the hardware does it fast, else float32 (training.json records "
                         "which); give bfloat16 to remake a bf16 run on a CPU that only emulates it (slow)")
    ap.add_argument("--patch", type=int, nargs=3, default=list(PATCH), help="patch size z y x (voxels)")
    ap.add_argument("--channels-last", action="store_true",
                    help="network and patches channels-last (NDHWC), as the runner predicts: on this project's "
                         "CPU a bf16 step of batch 2 took 0.34 s instead of 0.42 s (runs up to K were NCDHW)")
    args = ap.parse_args()
    if not 0.0 <= args.faint <= 1.0:
        ap.error("--faint is a share of phantoms, within [0, 1]")
    if not 0.0 <= args.mirror <= 1.0:
        ap.error("--mirror is a share of patches, within [0, 1]")
    if args.lesion + args.hard + args.dense + args.edge + args.organ > 1.0 + 1e-9:
        ap.error("--lesion, --hard, --dense, --edge and --organ are shares of the patches: together at most 1")
    if not (math.isfinite(args.blob) and args.blob >= 0):
        ap.error("--blob is a weight: a number >= 0")
    if args.smooth_gain != 1.0 and args.smooth is None:
        ap.error("--smooth-gain scales the smoothed input: give --smooth too")
    if not (math.isfinite(args.smooth_gain) and args.smooth_gain > 0):
        ap.error("--smooth-gain must be a positive number")
    if args.by_miss and not args.per_lesion:
        ap.error("--by-miss weighs the lesions that --per-lesion draws: give both")
    if args.minutes is not None and args.warmup < 10:
        ap.error("--minutes measures the speed during the warm-up: give --warmup 10 or more")
    try:  # with --minutes the step count is known after the warm-up: checked again there
        check_training_seeds(args.first_seed, args.cases + (args.warmup if args.minutes else args.steps) // args.refresh)
    except ValueError as e:
        ap.error(str(e))

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        how = Sampling(lesion=args.lesion, hard=args.hard, dense=args.dense, organ=args.organ, per_lesion=args.per_lesion,
                       patch=tuple(args.patch), by_miss=args.by_miss, edge=args.edge)
    except ValueError as e:
        ap.error(str(e))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    phantoms = Phantoms(args.first_seed, args.faint, not args.metastases_both_lobes, args.workers)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = precision(args.autocast, device)
    args.work.mkdir(parents=True, exist_ok=True)
    log = open(args.work / "log.jsonl", "a")
    cases = [phantoms.take() for _ in range(args.cases)]
    print(f"{len(cases)} phantoms in {time.time() - t0:.0f} s; patch {how.patch}; device {device}", flush=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one patch size: let cuDNN pick its fastest kernels

    model = UNet3D(**architecture(args))
    if args.init is not None:
        load_init(model, args.init)
    model = model.to(device)
    layout = torch.channels_last_3d if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    losses, dices = [], []
    steps = args.steps if args.minutes is None else 10**9
    t_train, t_settled = time.time(), 0.0
    step = 0
    while step < steps:
        if step == 5:
            t_settled = time.time()  # after the first steps (cuDNN tries its kernels there)
        if args.minutes is not None and step == args.warmup:  # the schedule so far did not depend on steps
            per_step = (time.time() - t_settled) / (step - 5)
            left = args.minutes * 60 - (time.time() - t_train)
            steps = max(args.warmup + 1, step + int(left / per_step))
            check_training_seeds(args.first_seed, args.cases + steps // args.refresh)
            print(f"--minutes {args.minutes}: {steps} steps", flush=True)
            args.steps = steps
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, steps, args.lr, args.warmup)
        x, y, where = batch(cases, rng, args.batch, device, how)
        # drawn only when asked for, so that runs without --mirror keep their random stream
        flips = torch.from_numpy(rng.random(len(where)) < args.mirror).to(device) if args.mirror > 0 else None
        x = mirrored(x, flips).contiguous(memory_format=layout)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(x)
        loss, dice = loss_fn(logits.float(), mirrored(y, flips))
        if args.blob > 0:
            per_lesion = blob_dice(logits.float(), mirrored(lesion_labels(where, how.patch, device), flips))
            if per_lesion is not None:
                loss = loss + args.blob * (1 - per_lesion)
        if args.hard > 0 or how.by_miss:  # on the case's own voxels: y as sampled, the logits mirrored back
            mine(mirrored(logits.float(), flips), y, where, rng, how)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        dices.append(dice)
        if (step + 1) % args.refresh == 0:
            cases[int(rng.integers(len(cases)))] = phantoms.take()
        if (step + 1) % 50 == 0:
            entry = {"step": step + 1, "loss": float(np.mean(losses[-50:])), "dice": float(np.mean(dices[-50:])),
                     "lr": learning_rate(step, steps, args.lr, args.warmup), "minutes": (time.time() - t0) / 60}
            print(json.dumps(entry), flush=True)
            log.write(json.dumps(entry) + "\n")
            log.flush()
        if (step + 1) % 250 == 0 or step + 1 == steps:
            torch.save({"step": step + 1, "model": model.state_dict(), "architecture": architecture(args)},
                       args.work / "checkpoint.pt")
        step += 1
    phantoms.close()
    save_weights(model, args, time.time() - t0, device, phantoms.next)
    log.close()


def precision(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--autocast`` (None: float32)."""
    if choice == "auto":
        return autocast_dtype("bfloat16", device)
    return torch.bfloat16 if choice == "bfloat16" else None


def architecture(args: argparse.Namespace) -> dict[str, object]:
    """The network's constructor arguments, as the manifest's "architecture" records them."""
    arch: dict[str, object] = {"in_channels": len(WINDOWS), "out_channels": N_CLASSES}
    if args.smooth is not None:
        arch.update(smooth_channels=(LIVER_CHANNEL,), smooth_sigma_vox=tuple(args.smooth))
        if args.smooth_gain != 1.0:
            arch.update(smooth_gain=args.smooth_gain)
    return arch


def fp16_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights to ship: fp16 on the CPU, in the standard layout whatever the run trained in."""
    return {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}


def save_weights(model: UNet3D, args: argparse.Namespace, seconds: float, device: torch.device,
                 next_seed: int) -> None:
    """fp16 state dict (half the size, no loss that matters for inference) and a training record."""
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(fp16_state(model), args.out / "weights.pt")
    record = {"steps": args.steps, "batch": args.batch, "patch_zyx": list(args.patch), "lr": args.lr,
              "warmup": args.warmup, "seed": args.seed, "first_seed": args.first_seed,
              "phantoms_used": next_seed - args.first_seed, "minutes": round(seconds / 60, 1),
              "device": str(device), "autocast": str(precision(args.autocast, device) or "float32").removeprefix("torch."),
              "architecture": {"name": "unet3d", **architecture(args)}, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "init": str(args.init) if args.init else None, "metastases_both_lobes": args.metastases_both_lobes,
              "faint": args.faint, "mirror": args.mirror, "blob": args.blob, "channels_last": args.channels_last,
              "sampling": {"lesion": args.lesion, "per_lesion": args.per_lesion, "by_miss": args.by_miss, "hard": args.hard,
                           "dense": args.dense, "edge": args.edge, "organ": args.organ},
              "command": " ".join(sys.argv)}
    if args.minutes is not None:  # the same run again, without depending on the speed of the machine
        record["reproduce"] = _reproduce(sys.argv, args.steps)
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print("saved", args.out / "weights.pt", flush=True)


def _reproduce(argv: list[str], steps: int) -> str:
    """``argv`` with ``--minutes M`` replaced by ``--steps N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--minutes":
            skip = True
            out += ["--steps", str(steps)]
        elif a.startswith("--minutes="):
            out.append(f"--steps={steps}")
        else:
            out.append(a)
    return " ".join(out)


if __name__ == "__main__":
    main()
