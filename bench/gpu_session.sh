#!/usr/bin/env bash
# One lent-GPU session, prepared to run unattended: CUDA inference timing of the shipped model
# (bench/inference_bench.py, bench/gpu_forward_probe.py) and two fine-tuning runs of it on the
# GPU, side by side. Session 6 ran it with 6 minutes of training in 599 s of device time.
#
#   OUT=gpu_out bench/gpu_session.sh [training minutes, default 6; 0: timing only]
#
# Writes into $OUT: machine.txt; bench_*.json (inference as the runner does it on CUDA: the CT
# resampled and windowed on the GPU, 16 tiles per call, maps blended there; then with cuDNN
# autotuning on, and in float32); probe.jsonl (forward pass alone); r.log, s.log, r.tgz, s.tgz (weights,
# checkpoint, training.json, log; other names with NAMES).
# Runs from the repository root with the machine's python3 (torch, numpy, scipy); installs nothing.
# CASES and WORKERS (phantoms in memory, processes making them) shrink it for a dry run on a CPU.
set -u
OUT=${OUT:-gpu_out}
MINUTES=${1:-6}
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

$PY bench/inference_bench.py --device cuda --repeat 3 >"$OUT/bench_bf16.json" 2>&1
$PY bench/inference_bench.py --device cuda --repeat 3 --cudnn-benchmark >"$OUT/bench_bf16_cudnn.json" 2>&1
$PY bench/inference_bench.py --device cuda --dtype float32 --repeat 2 >"$OUT/bench_fp32.json" 2>&1
$PY bench/gpu_forward_probe.py >"$OUT/probe.jsonl" 2>&1
date -u >>"$OUT/machine.txt"
[ "$MINUTES" = 0 ] && exit 0

# The recipe of run N (models/lesion-unet-synth/training.json), from the shipped weights, with 8x
# the batch, in two runs that differ only in learning rate (session 6 named them K and L, from
# seeds 100000 and 200000; runs M, N, O, P and Q took 300000, 600000, 700000, 800000 and 900000).
# Its runs can be calibrated alone or averaged with other fine-tunes of the shipped weights
# (models/training/soup.py; the model card says what one such mean did). NAMES and SEEDS name
# this session's two, from seeds never used before: never validation or held out (10000-99999),
# never an earlier run's.
NAMES=(${NAMES:-r s})
SEEDS=(${SEEDS:-400000 500000})
train="models/training/train_lesion_unet.py --init models/lesion-unet-synth/weights.pt --minutes $MINUTES
  --batch 16 --warmup 50 --cases $CASES --refresh 6 --workers $WORKERS --threads 2 --metastases-both-lobes
  --lesion 0.5 --per-lesion --by-miss --hard 0.3 --dense 0.1 --organ 0.05 --channels-last"
# A run that overstays (phantoms made too slowly) is stopped; its checkpoint.pt (every 250 steps) remains.
limit=$(python3 -c "print(int($MINUTES * 60 + 90))")
timeout "$limit" $PY $train --lr 3e-4 --first-seed "${SEEDS[0]}" --out "$RUNS/${NAMES[0]}" --work "$RUNS/${NAMES[0]}" >"$OUT/${NAMES[0]}.log" 2>&1 &
timeout "$limit" $PY $train --lr 1e-4 --first-seed "${SEEDS[1]}" --out "$RUNS/${NAMES[1]}" --work "$RUNS/${NAMES[1]}" >"$OUT/${NAMES[1]}.log" 2>&1 &
wait
date -u >>"$OUT/machine.txt"
for name in "${NAMES[@]}"; do tar czf "$OUT/$name.tgz" -C "$RUNS" "$name"; done
ls -la "$OUT"
