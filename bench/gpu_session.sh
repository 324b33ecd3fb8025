#!/usr/bin/env bash
# One lent-GPU session, prepared to run unattended: two fine-tuning runs of the shipped model on
# the GPU, side by side, then CUDA inference timing of it (bench/inference_bench.py,
# bench/gpu_forward_probe.py). Training goes first because its length is fixed (--minutes, and a
# timeout): the timings that follow are written file by file, so a lease cut short still returns
# the runs and the timings made so far. Session 6 ran an earlier form with 6 minutes of training
# in 599 s of device time.
#
#   OUT=gpu_out bench/gpu_session.sh [training minutes, default 4.5; 0: timing only]
#
# Writes into $OUT (8 files, the most a lease returns): machine.txt; t.log, u.log, t.tgz, u.tgz
# (weights, checkpoint, training.json, log; other names with NAMES); bench_bf16.json and
# bench_fp32.json (inference as the runner does it on CUDA: the CT resampled and windowed on the
# GPU, 16 tiles per call, maps blended there; in bfloat16, then float32); probe.jsonl (the
# forward pass alone).
# Then, in later calls of the same lease (the runs unpacked from t.tgz and u.tgz into git-ignored
# folders and carried): models/training/gpu_calibrate.sh calibrates and confirms them beside the
# shipped model and says which lead it; gpu_heldout.sh scores only a leader's held-out sets.
# Not yet run on a GPU (session 16 had none; a CPU dry run with CASES=2 works): time the checks
# before planning a lease's 15 minutes around them. Give 0 training minutes to time only.
# Runs from the repository root with the machine's python3 (torch, numpy, scipy); installs nothing.
# CASES and WORKERS (phantoms in memory, processes making them) shrink it for a dry run on a CPU.
set -u
OUT=${OUT:-gpu_out}
MINUTES=${1:-4.5}
PY=${PY:-python3}
RUNS=${RUNS:-/tmp/runs_gpu}
CASES=${CASES:-64}
WORKERS=${WORKERS:-6}
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{
  date -u; nvidia-smi; nproc; free -g
  $PY -c "import torch, numpy, scipy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__, 'cuda', torch.cuda.is_available())"
} >"$OUT/machine.txt" 2>&1

if [ "$MINUTES" != 0 ]; then
  # By default from the shipped weights (run S2, v1.7.0; INIT: others) with S2's recipe: N's patch
  # mix at 8x the batch (16), K's peak learning rate (3e-4; K, v1.4.0, was the first GPU run) and
  # the smoothed liver window at a gain of 30. t continues it as it is; u also draws a third of its
  # phantoms with faint metastases (--faint 0.3), the misses v1.7.0 still has most of. Session 14
  # ran r (N + the smoothed input at gain 10) and s (N without it) this way: EXTRA_R="--smooth 0.7
  # 2 2 --smooth-gain 10" EXTRA_S="" with INIT at N's weights (v1.6.0: `git show
  # 22ca0e1:models/lesion-unet-synth/weights.pt`, with that commit's manifest.json beside it, carried
  # to the device). Weights trained with the smoothed input need --smooth with the same sigmas; a
  # gain may differ (rescaled); weights without it start that input at zero.
  # Seeds never used before: never validation or held out (10000-99999), never an earlier run's
  # (K 100000, L 200000, M 300000, N 600000, O 700000, P 800000, Q 900000, sm 1200000, r 1300000,
  # s 1400000, r2 1500000, s2 1600000).
  NAMES=(${NAMES:-t u})
  SEEDS=(${SEEDS:-1700000 1800000})
  EXTRA_R=${EXTRA_R---smooth 0.7 2 2 --smooth-gain 30}
  EXTRA_S=${EXTRA_S---smooth 0.7 2 2 --smooth-gain 30 --faint 0.3}
  INIT=${INIT:-models/lesion-unet-synth/weights.pt}  # another run's weights: carry its training.json too
  train="models/training/train_lesion_unet.py --init $INIT --minutes $MINUTES
    --batch 16 --lr 3e-4 --warmup 50 --cases $CASES --refresh 6 --workers $WORKERS --threads 2
    --metastases-both-lobes --lesion 0.5 --per-lesion --by-miss --hard 0.3 --dense 0.1 --organ 0.05
    --channels-last"
  # A run that overstays (phantoms made too slowly) is stopped; its checkpoint.pt (every 250 steps) remains.
  limit=$($PY -c "print(int($MINUTES * 60 + 90))")
  timeout "$limit" $PY $train --first-seed "${SEEDS[0]}" $EXTRA_R --out "$RUNS/${NAMES[0]}" --work "$RUNS/${NAMES[0]}" >"$OUT/${NAMES[0]}.log" 2>&1 &
  timeout "$limit" $PY $train --first-seed "${SEEDS[1]}" $EXTRA_S --out "$RUNS/${NAMES[1]}" --work "$RUNS/${NAMES[1]}" >"$OUT/${NAMES[1]}.log" 2>&1 &
  wait
  date -u >>"$OUT/machine.txt"
  for name in "${NAMES[@]}"; do tar czf "$OUT/$name.tgz" -C "$RUNS" "$name"; done
fi

$PY bench/inference_bench.py --device cuda --repeat 3 >"$OUT/bench_bf16.json" 2>&1
$PY bench/inference_bench.py --device cuda --dtype float32 --repeat 2 >"$OUT/bench_fp32.json" 2>&1
$PY bench/gpu_forward_probe.py >"$OUT/probe.jsonl" 2>&1
date -u >>"$OUT/machine.txt"
ls -la "$OUT"
