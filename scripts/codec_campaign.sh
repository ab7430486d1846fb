#!/usr/bin/env bash
# One stint of the base-codec training campaign (docs/experiments/codec-campaign.md): trains one
# rate point for at most BUDGET, resuming its checkpoint when there is one, then exports the
# weights it reached into a campaign weights folder (never the shipped weights/) for evaluation.
#
#   scripts/codec_campaign.sh Q BUDGET [INIT]
#     Q       rate point 1..4
#     BUDGET  a --time-budget, e.g. 2h or 150m
#     INIT    warm start of a fresh run: a registered codec name or a weights file (the rate
#             ladder starts q1..q3 from the longest-trained point)
#
# Settings (environment): STEPS (the run's length, which sets its learning-rate schedule), LR
# (1e-4: a warm start at the from-scratch 3e-4 moves a trained codec far from its optimum),
# CROP, BATCH, DATA (space-separated folders), RUNS (checkpoints), CAMPAIGN_WEIGHTS.
set -euo pipefail
q=${1:?rate point 1..4}
budget=${2:?time budget, e.g. 2h}
init=${3:-}
STEPS=${STEPS:-24000}
LR=${LR:-1e-4}
CROP=${CROP:-128}
BATCH=${BATCH:-8}
DATA=${DATA:-datasets/photos datasets/photos-opencv datasets/photos-more datasets/photos-enlightenment}
RUNS=${RUNS:-runs/campaign}
CAMPAIGN_WEIGHTS=${CAMPAIGN_WEIGHTS:-runs/campaign-weights}

checkpoint_dir="$RUNS/q$q"
args=(train-codec -q "$q" --config small --steps "$STEPS" --lr "$LR" --crop-size "$CROP" --batch-size "$BATCH"
      --validate-every 1000 --time-budget "$budget" --checkpoint-dir "$checkpoint_dir" --no-progress
      --weights-dir "$CAMPAIGN_WEIGHTS" --force)
for folder in $DATA; do args+=(--data "$folder"); done
if [[ -f "$checkpoint_dir/last.pt" ]]; then
  args+=(--resume)
  # a resumed run keeps its warm start's record; --init-from must repeat it unchanged
  if [[ -n "$init" ]]; then args+=(--init-from "$init"); fi
elif [[ -n "$init" ]]; then
  args+=(--init-from "$init")
fi
mkdir -p "$CAMPAIGN_WEIGHTS" "$checkpoint_dir"
# seed the campaign folder with the shipped registry, so names like tic-small-q4 resolve there
if [[ ! -f "$CAMPAIGN_WEIGHTS/manifest.json" ]]; then cp weights/manifest.json weights/tic-small-q*.safetensors "$CAMPAIGN_WEIGHTS/"; fi
nice -n 10 fcc "${args[@]}" | tee -a "$checkpoint_dir/stints.jsonl"
