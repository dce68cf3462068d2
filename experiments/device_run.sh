#!/usr/bin/env bash
# One prepared GPU session (the `device` tool of this workplace, or any CUDA machine):
#  1. the lever study's training runs (python -m experiments.lever_study run), four at a time;
#  2. beside it, the reference checkpoint: the default U-Net (base 12, mults 1,2,4, class-conditional:
#     247,909 parameters), 30 epochs, EMA 0.999, then every part of experiments.reference_quality on it at 10,000 samples.
# Results land in $OUT (default: device_out/). Needs MNIST: $DDPM_DATA, or .devdata/*.gz.
# SMOKE=1 shrinks everything to check the script on a CPU.
set -u
OUT=${OUT:-device_out}; mkdir -p "$OUT"
if [ -d .devdata ]; then
  mkdir -p /tmp/ddpm_data/MNIST/raw
  for f in .devdata/*.gz; do gunzip -c "$f" > /tmp/ddpm_data/MNIST/raw/$(basename "$f" .gz); done
  export DDPM_DATA=/tmp/ddpm_data/MNIST/raw
fi
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1   # helpers and experiments import from the checkout
PY=${PY:-python3}
DEV=${DEV:-cuda}
if [ "${SMOKE:-0}" = 1 ]; then
  TRAIN="--max-steps 20"; N10K=40; N1K=20; NTRAJ=4; LEVER="--only b16_124 --minutes 0.05 --n 20 --workers 1"
else
  TRAIN="--epochs 30"; N10K=10000; N1K=1000; NTRAJ=100; LEVER="--workers 4"
fi
nvidia-smi -L 2>/dev/null
(
  set -e
  $PY -m helpers train --out checkpoints/reference_run.pt $TRAIN --ema-decay 0.999 --device $DEV --no-progress
  $PY -m experiments.publish_model checkpoints/reference_run.pt "$OUT/ddpm_reference.pt" --device $DEV \
      --command "python -m helpers train --out checkpoints/reference_run.pt $TRAIN --ema-decay 0.999 --device $DEV" \
      --note "trained with experiments/device_run.sh on a lent GPU; the same command with --device cpu reproduces it on a CPU (slowly)"
  RQ="$PY -m experiments.reference_quality --checkpoint $OUT/ddpm_reference.pt --out $OUT/reference_quality.json"
  $RQ guided --n $N10K --sampler ddim:25 --guidance 2
  $RQ sweep --n $N10K --sampler ddim:25 --sweep-w 1 1.5 2 3 --name guided_sweep_10k
  $RQ unconditional --n $N10K --sampler ddim:25
  $RQ samplers --n $N10K
  $RQ sweep --n $N1K --sampler ddim:25
  $RQ trajectory --n $NTRAJ
  cp results/trajectory_strip.png "$OUT/trajectory_strip.png"
) > "$OUT/reference.log" 2>&1 &
REF=$!
$PY -m experiments.lever_study run --device $DEV $LEVER --out "$OUT/lever_study.jsonl" > "$OUT/lever.log" 2>&1
wait $REF
echo "reference chain exit: $?"
