#!/usr/bin/env bash
# Train every forensic weight set at once on one GPU machine, all runs side by side, so that
# the whole set ends before a fixed wall-clock DEADLINE (seconds from the start).
#
# Each run first probes its own speed for PROBE seconds (with all the others running, so the
# contention is in the measurement), then resumes with the step count that fills the time left,
# so the learning-rate schedule (halved at 60%) runs to its end. Every run trains and exports
# into a private copy of weights/ (runs write their manifests in parallel), and the results are
# packed into a few tar files under OUT; `fcc register-weights RUN_DIR... --force` registers
# them here afterwards.
#
# RUNS entries are quality:placement[:lambda-scale], placement in decoder|paper|full.
# A short smoke run of each placement goes first and stops the script if anything fails.
# PATCH_AGGREGATE=top trains on the detector's inference rule (fcc train-adapter --help).
# STEPS=N skips the probe and trains N steps; KEEP_BEST=1 (with VALIDATE_EVERY) exports the
# weights of the best validation; PACK_EACH=1 packs each run as it ends (one tar per run), so
# that a run cut short by the machine's time limit loses only the runs still going.
#
# Usage (repository root, GPU machine):  OUT=/tmp/out bash scripts/train_forensic_gpu.sh
# On a CPU, for a dry run:  DEVICE=cpu DEADLINE=150 PROBE=20 BATCH=2 PATCHES=4 RUNS="1:decoder" ...
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
started=$(date +%s)
DATA=${DATA:-datasets/demo}
DEVICE=${DEVICE:-cuda}
DEADLINE=${DEADLINE:-480}
PROBE=${PROBE:-45}
BATCH=${BATCH:-8}
PATCHES=${PATCHES:-50}
PATCH_AGGREGATE=${PATCH_AGGREGATE:-mean}
WORKERS=${WORKERS:-0}
RUNS=${RUNS:-"1:decoder 2:decoder 3:decoder 4:decoder 1:paper 2:paper 3:paper 4:paper 1:full 2:full 3:full 4:full"}
WORK=${WORK:-/tmp/fcc-forensic-gpu}
OUT=${OUT:-runs/forensic-gpu-out}
FCC=${FCC:-python3 -m forensiccodec}
SMOKE=${SMOKE:-1}
STEPS=${STEPS:-}
VALIDATE_EVERY=${VALIDATE_EVERY:-}
KEEP_BEST=${KEEP_BEST:-0}
PACK_EACH=${PACK_EACH:-0}
rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"
OUT=$(cd "$OUT" && pwd)  # the packing below runs in $WORK

elapsed() { echo $(( $(date +%s) - started )); }

train() {  # dir quality placement lambda-scale extra-args...
  local dir=$1 q=$2 placement=$3 scale=$4; shift 4
  local common=(-q "$q" --data "$DATA" --batch-size "$BATCH" --patches "$PATCHES" --patch-aggregate "$PATCH_AGGREGATE" --lambda-scale "$scale"
                --workers "$WORKERS" --checkpoint-dir "$dir/checkpoints" --weights-dir "$dir/weights"
                --seed "$q" --device "$DEVICE")
  $FCC train-adapter --placement "$placement" "${common[@]}" --no-progress "$@"
}

prepare() {  # dir: a private weights folder (each run registers its result in its own manifest)
  mkdir -p "$1" && cp -r weights "$1/weights"
}

last_step() {  # checkpoint dir -> last logged training step
  python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]['step'])" "$1/train_log.jsonl" 2>/dev/null
}

pack_run() {  # run dir, destination folder: its exported file, its manifest, its logs
  local dir=$1 dest=$2/$(basename "$1") exported
  mkdir -p "$dest"
  cp "$dir/train.log" "$dir/checkpoints/train_log.jsonl" "$dir/weights/manifest.json" "$dest/" 2>/dev/null
  exported=$(tail -n 1 "$dir/train.log" | python3 -c "import json,sys; print(json.loads(sys.stdin.read()).get('exported',''))" 2>/dev/null)
  [ -n "$exported" ] && cp "$dir/weights/$exported" "$dest/"
}

run_one() {  # quality placement [lambda-scale]
  local q=$1 placement=$2 scale=${3:-1}
  local name="q$q-$placement"; [ "$scale" = 1 ] || name="$name-x$scale"
  local dir="$WORK/$name" log="$WORK/$name/train.log" target left
  local extra=(); [ "$KEEP_BEST" = 1 ] && extra+=(--keep-best)
  prepare "$dir"
  if [ -n "$STEPS" ]; then
    target=$STEPS; left=$(( DEADLINE - $(elapsed) - 20 )); : > "$log"
  else
    train "$dir" "$q" "$placement" "$scale" --steps 1000000 --max-seconds "$PROBE" --no-export > "$log" 2>&1
    local done_steps; done_steps=$(last_step "$dir/checkpoints")
    if [ -z "$done_steps" ]; then echo "$name: the probe failed"; tail -n 5 "$log"; return 1; fi
    # The time left, less a margin for the restart, the validations and the export.
    left=$(( DEADLINE - $(elapsed) - 40 ))
    target=$(( done_steps + done_steps * left / PROBE ))
    echo "$name: $done_steps steps in ${PROBE}s -> $target steps, $(elapsed)s in"
    extra+=(--resume)
  fi
  train "$dir" "$q" "$placement" "$scale" --steps "$target" "${extra[@]}" \
    --validate-every "${VALIDATE_EVERY:-$(( target / 2 > 0 ? target / 2 : 1 ))}" \
    --max-seconds $(( left + 10 )) --force >> "$log" 2>&1
  echo "$name: $(tail -n 1 "$log" | cut -c1-400)"
  if [ "$PACK_EACH" = 1 ]; then
    pack_run "$dir" "$WORK/pack" && tar cf "$OUT/$name.tar" -C "$WORK/pack" "$name"
  fi
}

if [ "$SMOKE" = 1 ]; then
  # Two steps of each placement, validated and exported, before the long runs are started.
  for placement in decoder paper full; do
    ( prepare "$WORK/smoke-$placement" &&
      train "$WORK/smoke-$placement" 1 "$placement" 1 --steps 2 --validate-every 2 --val-patches 8 --val-top 4 \
        --force > "$WORK/smoke-$placement.log" 2>&1 ) &
  done
  wait
  for placement in decoder paper full; do
    if ! tail -n 1 "$WORK/smoke-$placement.log" | grep -q '"exported"'; then
      echo "smoke run of $placement failed:"; tail -n 30 "$WORK/smoke-$placement.log"
      cp "$WORK/smoke-$placement.log" "$OUT/" 2>/dev/null; exit 1
    fi
  done
  echo "smoke runs passed ($(elapsed)s)"
  rm -rf "$WORK"/smoke-*
fi

for run in $RUNS; do
  IFS=: read -r q placement scale <<< "$run"
  run_one "$q" "$placement" "${scale:-1}" &
done
wait
echo "all runs ended ($(elapsed)s)"

[ "$PACK_EACH" = 1 ] && { ls -la "$OUT"; echo "done ($(elapsed)s)"; exit 0; }
# Pack. Fine-tuned codecs (7 MB each) go two to a tar, so that no file passes the 16 MiB that
# comes back from the machine.
for dir in "$WORK"/q*; do
  [ -d "$dir" ] && pack_run "$dir" "$WORK/pack"
done
cd "$WORK/pack" || exit 1
adapter_runs=$(ls -d q*-decoder* q*-paper* 2>/dev/null)
[ -n "$adapter_runs" ] && tar cf "$OUT/adapters.tar" $adapter_runs
full_runs=($(ls -d q*-full* 2>/dev/null))
for ((i = 0; i < ${#full_runs[@]}; i += 2)); do
  tar cf "$OUT/finetuned-$((i / 2)).tar" "${full_runs[@]:i:2}"
done
ls -la "$OUT"
echo "done ($(elapsed)s)"
