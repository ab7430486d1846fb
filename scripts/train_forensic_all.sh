#!/usr/bin/env bash
# Train every shipped forensic weight set on this CPU, one after another, within a time budget:
# adapters (decoder and paper placements) at each quality, and the fully fine-tuned codec.
# Each run first probes its speed for PROBE seconds, then resumes with the step count that fills
# its budget (RUNS entries are quality:placement[:seconds], SECONDS_PER_RUN by default), so the
# learning-rate schedule (halved at 60%) runs to its end.
# Usage (repository root):  DATA=datasets/demo bash scripts/train_forensic_all.sh
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
DATA=${DATA:-datasets/demo}
PROBE=${PROBE:-60}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-420}
BATCH=${BATCH:-4}
PATCHES=${PATCHES:-16}
RUNS=${RUNS:-"1:decoder:600 1:paper:600 1:full:480 2:decoder 2:paper 3:decoder 3:paper 4:decoder 4:paper"}
LOGS=${LOGS:-runs/forensic}
FCC=${FCC:-.venv/bin/fcc}
mkdir -p "$LOGS"

train() {  # quality placement extra-args...
  q=$1; placement=$2; shift 2
  "$FCC" train-adapter -q "$q" --placement "$placement" --data "$DATA" --batch-size "$BATCH" --patches "$PATCHES" \
    --checkpoint-dir "$LOGS/q$q-$placement" --seed "$q" --device cpu --no-progress "$@"
}

for run in $RUNS; do
  IFS=: read -r q placement budget <<< "$run"; budget=${budget:-$SECONDS_PER_RUN}
  log="$LOGS/q$q-$placement.log"
  rm -rf "$LOGS/q$q-$placement"
  train "$q" "$placement" --steps 1000000 --max-seconds "$PROBE" --no-export > "$log" 2>&1
  done_steps=$(python3 -c "import json; print(json.loads(open('$LOGS/q$q-$placement/train_log.jsonl').readlines()[-1])['step'])" 2>/dev/null)
  if [ -z "$done_steps" ]; then echo "q$q $placement: the probe failed"; tail -n 5 "$log"; continue; fi
  target=$(( done_steps * budget / PROBE ))
  echo "q$q $placement: $done_steps steps in ${PROBE}s -> $target steps ($(date +%H:%M))"
  train "$q" "$placement" --steps "$target" --resume --validate-every $(( target / 2 > 0 ? target / 2 : 1 )) \
    --max-seconds $(( budget * 2 )) --force >> "$log" 2>&1
  tail -n 1 "$log"
done
