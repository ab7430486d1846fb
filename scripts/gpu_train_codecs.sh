#!/usr/bin/env bash
# Train the shipped `small` codec at all four qualities at once on one GPU (run through the
# device tool from the repository root; the photographs travel as datasets/photos).
# Phase 1 runs PROBE seconds to measure the speed; phase 2 resumes with the step count that
# fills TOTAL seconds, so the learning-rate schedule (halved at 60% and 90%) runs to its end.
# The raw state files (no entropy tables) land in $OUT; `scripts/export_states.py` registers them.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
DATA=${DATA:-datasets/photos}
PROBE=${PROBE:-60}
TOTAL=${TOTAL:-480}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-16}
CROP=${CROP:-256}
QUALITIES=${QUALITIES:-"1 2 3 4"}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

run() {
  q=$1; shift
  python3 -m forensiccodec train-codec --data "$DATA" -q "$q" --config small --no-export \
    --batch-size "$BATCH" --crop-size "$CROP" --device "$DEVICE" --seed "$q" \
    --checkpoint-dir "/tmp/run-q$q" --no-progress "$@" >> "$OUT/train-q$q.log" 2>&1
}

for q in $QUALITIES; do rm -rf "/tmp/run-q$q"; run "$q" --steps 1000000 --max-seconds "$PROBE" & done; wait
for q in $QUALITIES; do
  done_steps=$(python3 -c "import json; print(json.loads(open('/tmp/run-q$q/train_log.jsonl').readlines()[-1])['step'])" 2>/dev/null)
  if [ -z "$done_steps" ]; then echo "quality $q: the probe failed"; tail -n 5 "$OUT/train-q$q.log"; continue; fi
  target=$(( done_steps * TOTAL / PROBE ))
  echo "quality $q: $done_steps steps in ${PROBE}s -> $target steps in total"
  run "$q" --steps "$target" --resume --max-seconds $(( TOTAL - PROBE + 45 )) \
    --save-state "$OUT/tic-small-q$q.safetensors" &
done; wait
for q in $QUALITIES; do tail -n 2 "$OUT/train-q$q.log"; cp "/tmp/run-q$q/train_log.jsonl" "$OUT/train-q$q.jsonl" 2>/dev/null; done
ls -la "$OUT"
