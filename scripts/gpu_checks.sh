#!/usr/bin/env bash
# The GPU checks of issue 9, for one call on a lent GPU machine whose image
# has torch, jax and transformers: unpack what scripts/offline_site.sh packed
# (its parts copied to $PARTS by earlier calls, the last one carried now),
# then each check under its own time limit, its table and log to $OUT.
#
#   PARTS=/tmp/parts SITE_PARTS=.gpu scripts/gpu_checks.sh
#
# Limits in seconds (0 skips): INFERENCE_S (default 240), TRAINING_S (150),
# TORCH_TESTS_S (180), JAX_TESTS_S (0). backbone_inference.py prints each
# case's table to stderr as the case ends, so a run cut short keeps them.
set -uo pipefail
SITE_PARTS=${SITE_PARTS:-.gpu}
PARTS=${PARTS:-/tmp/parts}
OUT=${OUT:-/tmp/gpu_checks}
SITE=${SITE:-/tmp/site}
T0=$(date +%s)
mkdir -p "$PARTS" "$SITE" "$OUT"
cp "$SITE_PARTS"/p*/part* "$PARTS"/ 2>/dev/null
if [ ! -f "$SITE/.done" ]; then
  cat "$PARTS"/part* | LD_LIBRARY_PATH="$SITE_PARTS/bin" "$SITE_PARTS/bin/zstd" -d -q \
    | tar -x -C "$SITE" && touch "$SITE/.done" || { echo "unpacking failed"; exit 1; }
fi
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
export XLA_PYTHON_CLIENT_PREALLOCATE=false

check() {  # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  [ "$seconds" -gt 0 ] || return 0
  echo "== $name (limit $seconds s) at $(( $(date +%s) - T0 )) s"
  timeout "$seconds" "$@" > "$OUT/$name.md" 2> "$OUT/$name.log"
  echo "   $name exit $? at $(( $(date +%s) - T0 )) s"
}
check gpu_inference "${INFERENCE_S:-240}" python3 benchmarks/backbone_inference.py \
  --device gpu --threads 0 --peak-size 0 --round-seconds 0.3 \
  --cases small/1x32,small/32x128,base/8x128,base/32x512 \
  --variants hf-torch,keras-jax,keras-torch,keras-hub-jax,keras-hub-torch,hf-torch-bf16,keras-jax-bf16,keras-torch-bf16 \
  --json "$OUT/gpu_inference.json"
check gpu_training "${TRAINING_S:-150}" python3 benchmarks/classifier_training.py \
  --device gpu --threads 0 --case small12-32x128 --steps 10 --warmup 3 \
  --variants hf-torch,keras-jax,keras-torch,hf-torch-bf16,keras-jax-bf16,keras-torch-bf16 \
  --json "$OUT/gpu_training.json"
TESTS=(python3 -m pytest -v -p no:cacheprovider -n 8 --timeout 60 --tb=short -rfE
       -m "backend_sensitive and not slow")
check gpu_tests_torch "${TORCH_TESTS_S:-180}" env KERAS_BACKEND=torch "${TESTS[@]}"
check gpu_tests_jax "${JAX_TESTS_S:-0}" env KERAS_BACKEND=jax "${TESTS[@]}"
echo "done at $(( $(date +%s) - T0 )) s"
