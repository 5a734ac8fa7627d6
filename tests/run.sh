#!/usr/bin/env bash
# The project's test command: the whole suite on TensorFlow, then the
# backend-sensitive tests (numerics, fit, save/load) on JAX and PyTorch.
# Any pytest exit code other than 0, including 5 (no tests ran), fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export TF_CPP_MIN_LOG_LEVEL=2 HF_HUB_OFFLINE=1
# Two workers: most of a tiny-model test is single-threaded Python. The 15
# slowest tests are listed, to see where the CI's 90 minutes go.
PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider -n 2 --durations=15)
KERAS_BACKEND=tensorflow "${PYTEST[@]}" "$@"
for backend in jax torch; do
  KERAS_BACKEND=$backend "${PYTEST[@]}" -m "backend_sensitive and not slow" "$@"
done
