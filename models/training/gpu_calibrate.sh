#!/usr/bin/env bash
# Calibrate and confirm candidate runs on a lent GPU host, beside the shipped model confirmed on
# the same device, so that one GPU session can train, choose and check (on 2 CPU cores this is
# about an hour per candidate: 144 phantoms to make, 96 to predict, and two sweeps).
#
#   OUT=out models/training/gpu_calibrate.sh DIR...   # each DIR: weights.pt and training.json (or soup.json)
#
# For each DIR: evaluate.py calibrate (the 48 validation phantoms: operating point, manifest.json)
# then confirm (the 48 held-out-like ones too); the shipped model is confirmed at its own
# operating point as "shipped". All run side by side; phantoms are made and thresholds swept by
# WORKERS processes each (default: the host's cores shared among them). Maps are made on CUDA in
# the manifest's dtype (bfloat16), so compare a candidate with "shipped" from this run, not with
# the model card's float32 CPU figures. Writes $OUT/NAME.tgz (calibration.json, the sweep,
# manifest.json, confirmation.json, logs) per DIR and for shipped, and $OUT/verdict.txt: whether
# each candidate leads the shipped model by the rule on the 96 (sensitivity >= 10 mm, then Dice
# per case). Score only a leader's held-out sets (gpu_heldout.sh), and only after reading this.
# At most three DIRs, with distinct folder names other than "shipped" (a lease returns 8 files).
# Whatever still runs LIMIT seconds after the start is stopped (default 480: a call on the device
# may last 600 s), so that the rest comes back.
# Runs from the repository root with the machine's python3 (torch, numpy, scipy); installs nothing.
set -u
OUT=${OUT:-gpu_out}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
CASES=${CASES:-48}
LIMIT=${LIMIT:-480}
WORK=${WORK:-/tmp/gpu_calibrate}
if [ $# -lt 1 ] || [ $# -gt 3 ]; then echo "give 1 to 3 run folders" >&2; exit 2; fi
names=$(for dir in "$@"; do basename "$dir"; done)
if [ "$(echo "$names" | sort -u | wc -l)" -ne $# ] || echo "$names" | grep -qx shipped; then
  echo "run folders need distinct names other than 'shipped' (each comes back as NAME.tgz)" >&2; exit 2
fi
mkdir -p "$OUT" "$WORK"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
n=$(( $# + 1 ))
WORKERS=${WORKERS:-$(( $(nproc) / n > 1 ? $(nproc) / n : 1 ))}
evaluate="models/training/evaluate.py --cases $CASES --device $DEVICE --threads 1 --workers $WORKERS"

rm -rf "$WORK/shipped" && cp -r models/lesion-unet-synth "$WORK/shipped"
rm -f "$WORK/shipped/confirmation.json"  # results only from this run: none carried in
for dir in "$@"; do rm -f "$dir"/{confirmation.json,calibration.json,calibration_sweep.json.gz}; done
timeout "$LIMIT" $PY $evaluate confirm --model "$WORK/shipped" --cache "$WORK/shipped_cache" >"$WORK/shipped/confirm.log" 2>&1 &
for dir in "$@"; do  # confirm gets what calibrate left of LIMIT
  ( timeout "$LIMIT" $PY $evaluate calibrate --model "$dir" --cache "$dir/cache_$DEVICE" >"$dir/calibrate.log" 2>&1 &&
    timeout $(( LIMIT - SECONDS > 1 ? LIMIT - SECONDS : 1 )) $PY $evaluate confirm --model "$dir" \
      --cache "$dir/cache_$DEVICE" >"$dir/confirm.log" 2>&1 ) &
done
wait

$PY - "$WORK/shipped" "$@" >"$OUT/verdict.txt" 2>&1 <<'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, "models/training")
from evaluate import choose  # the rule that chose each point: it says which of two points leads

def rule(folder):
    record = Path(folder) / "confirmation.json"
    return json.loads(record.read_text())["rule_on_both"] if record.is_file() else None

shipped = rule(sys.argv[1])
show = lambda r: {k: r[k] for k in ("sensitivity_ge_10mm", "dice_per_case_mean", "false_positives_per_case")}
print("shipped, both validation halves:", shipped and show(shipped))
for folder in sys.argv[2:]:
    mine = rule(folder)
    if mine is None or shipped is None:
        print(folder, "no verdict: a confirmation is missing (see its logs)")
    else:  # shipped first: a tie stays with it
        print(folder, show(mine), "LEADS" if choose([shipped, mine]) is mine else "does not lead")
EOF

for dir in "$WORK/shipped" "$@"; do
  name=$(basename "$dir")
  tar czf "$OUT/$name.tgz" -C "$dir" $(cd "$dir" && ls calibration.json calibration_sweep.json.gz manifest.json \
    confirmation.json calibrate.log confirm.log 2>/dev/null)
done
cat "$OUT/verdict.txt"
ls -la "$OUT"
