#!/usr/bin/env bash
# Score calibrated candidates on the eight held-out sets on a lent GPU, one process per set, all
# at once (on a 2-core CPU the 128 phantoms take about 85 minutes; on a GPU host a few).
#
#   OUT=out models/training/gpu_heldout.sh DIR...   # each DIR: weights.pt, manifest.json, training.json
#
# Writes $OUT/NAME.tgz per DIR (evaluation_S.json per set and pooled.json) and $OUT/NAME.log: four
# DIRs at most (a lease returns 8 files), with distinct folder names. Each set's process is
# stopped after LIMIT seconds, so that whatever was scored still comes back.
# Maps are made on CUDA in the manifest's dtype (bfloat16), as the app does there; the operating
# point must already be in the manifest (evaluate.py calibrate, then confirm, on the CPU, where
# the maps are float32 on a CPU without fast bf16: say which when reporting).
# Runs from the repository root with the machine's python3 (torch, numpy, scipy); installs nothing.
set -u
OUT=${OUT:-gpu_out}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
SETS=${SETS:-"20000 30000 40000 50000 60000 70000 80000 90000"}
CASES=${CASES:-16}
LIMIT=${LIMIT:-480}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for dir in "$@"; do
  for first in $SETS; do
    timeout "$LIMIT" $PY models/training/evaluate.py evaluate --model "$dir" --cases "$CASES" --first-seed "$first" --device "$DEVICE" \
      --threads 1 --out "$dir/evaluation_$first.json" >"$dir/evaluate_$first.log" 2>&1 &
  done
done
wait
for dir in "$@"; do
  name=$(basename "$dir")
  files=(); for first in $SETS; do [ -f "$dir/evaluation_$first.json" ] && files+=("$dir/evaluation_$first.json"); done
  $PY models/training/evaluate.py pool "${files[@]}" >"$dir/pooled.json" 2>"$OUT/$name.log"
  cat "$dir"/evaluate_*.log >>"$OUT/$name.log"
  tar czf "$OUT/$name.tgz" -C "$dir" $(cd "$dir" && ls evaluation_*.json pooled.json evaluate_*.log 2>/dev/null)
done
ls -la "$OUT"
