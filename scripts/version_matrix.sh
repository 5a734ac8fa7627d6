#!/usr/bin/env bash
# The version matrix of docs/versions.md: one fresh venv per combination of
# keras / keras-hub / TensorFlow / tensorflow-text, each running the
# end-to-end subset of the suite on the TensorFlow backend. Not part of CI
# (it downloads several GB); run it before widening the ranges in
# pyproject.toml.
#
#   scripts/version_matrix.sh                 # every combination
#   scripts/version_matrix.sh h030 h029       # some of them
#   KEEP=1 VENVS=/scratch scripts/version_matrix.sh newest
#   INSTALL_ONLY=1 KEEP=1 scripts/version_matrix.sh h030  # prepare a venv
#   REUSE=1 scripts/version_matrix.sh newest  # run the tests in a kept venv
#   QUICK=1 scripts/version_matrix.sh k310    # the quick subset (8 minutes)
#
# Each combination's pins are installed together with keras-electra's other
# runtime dependencies and its [dev] extra (read from pyproject.toml); the
# package itself is installed with --no-deps, so that its own ranges do not
# decide what is tested. Logs: $VENVS/vm-<name>.{install,pytest}.log; one
# summary line per combination on stdout. Venvs are deleted after their run
# unless KEEP=1.
set -uo pipefail
ROOT="${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
VENVS="${VENVS:-/tmp}"
KEEP="${KEEP:-0}"
REUSE="${REUSE:-0}"
INSTALL_ONLY="${INSTALL_ONLY:-0}"
QUICK="${QUICK:-0}"
PYTHON="${PYTHON:-python3.11}"

ORDER=(newest h031 h030 h029 h026 k310)
declare -A PINS=(
  # The baseline: the newest of everything.
  [newest]="keras==3.15.1 keras-hub==0.32.0 tensorflow==2.21.0 tensorflow-text==2.21.1"
  # keras-hub 0.31 requires tensorflow-text 2.20: the older TF pair too.
  [h031]="keras==3.15.1 keras-hub==0.31.1 tensorflow==2.20.0 tensorflow-text==2.20.1"
  [h030]="keras==3.15.1 keras-hub==0.30.0 tensorflow==2.19.1 tensorflow-text==2.19.0"
  # keras-hub 0.26 to 0.29 require keras>=3.13.
  [h029]="keras==3.13.2 keras-hub==0.29.1 tensorflow==2.18.1 tensorflow-text==2.18.1"
  [h026]="keras==3.13.2 keras-hub==0.26.0 tensorflow==2.21.0 tensorflow-text==2.21.1"
  # keras 3.10 (the oldest keras pyproject allowed): keras-hub 0.30 and later
  # require keras>=3.15, 0.26 to 0.29 keras>=3.13, so keras-hub 0.25.
  [k310]="keras==3.10.0 keras-hub==0.25.1 tensorflow==2.20.0 tensorflow-text==2.20.1"
)

# What exercises the package end to end: HF parity of backbone and heads,
# conversion and preset loading, .keras round trips, preprocessors,
# tokenizer, fit on raw strings, keras-hub's private names, the version.
SUBSET=(
  tests/test_keras_hub_private_api.py
  tests/test_version.py
  tests/test_electra_backbone.py::test_matches_hf_electra_model
  tests/test_convert_hf.py::test_head_loads_from_hf_checkpoint
  tests/test_convert_hf.py::test_sequence_length_is_honoured
  tests/test_convert_hf.py::test_tokenizer_and_preprocessor_from_hf_checkpoint
  tests/test_convert_keras_hub.py
  tests/test_presets.py
  tests/test_keras_file_round_trips.py
  tests/test_electra_classifier.py::test_raw_string_pairs_match_hf_tokenizer_and_model
  tests/test_electra_classifier.py::test_single_sentences_match_hf_tokenizer_in_tf_data
  tests/test_electra_classifier.py::test_preset_round_trip_and_fresh_head
  tests/test_electra_discriminator.py::test_preprocessor_packs_labels_like_tokens
  tests/test_electra_tokenizer.py::test_cases_match_hf
  tests/test_electra_tokenizer.py::test_inside_tf_data
  tests/test_electra_tokenizer.py::test_config_round_trip_and_keras_file
  tests/test_electra_tokenizer.py::test_saved_model_round_trip
  tests/test_shuffled_fit.py
)

# QUICK=1: parity of the backbone and every head loaded from HF files, the
# tokenizer against HF and in tf.data, a preprocessor, keras-hub presets.
QUICK_SUBSET=(
  tests/test_keras_hub_private_api.py
  tests/test_version.py
  tests/test_electra_backbone.py::test_matches_hf_electra_model
  tests/test_convert_hf.py::test_head_loads_from_hf_checkpoint
  tests/test_electra_tokenizer.py::test_cases_match_hf
  tests/test_electra_tokenizer.py::test_inside_tf_data
  tests/test_electra_discriminator.py::test_preprocessor_packs_labels_like_tokens
  tests/test_convert_keras_hub.py
)
[ "$QUICK" = 1 ] && SUBSET=("${QUICK_SUBSET[@]}")

# keras-electra's requirements other than the four pinned ones, and [dev].
mapfile -t OTHERS < <("$PYTHON" - "$ROOT/pyproject.toml" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
pinned = {"keras", "keras-hub", "tensorflow", "tensorflow-text"}
for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
    if re.split(r"[<>=!~ \[;]", requirement)[0] not in pinned:
        print(requirement)
EOF
)

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ORDER[@]}")
for name in "${names[@]}"; do
  pins="${PINS[$name]:-}"
  if [ -z "$pins" ]; then echo "unknown combination $name"; exit 2; fi
  venv="$VENVS/vm-$name"
  log="$venv.install.log"
  if [ "$REUSE" = 1 ] && [ -x "$venv/bin/python" ]; then
    :
  elif ! { rm -rf "$venv" && "$PYTHON" -m venv "$venv" \
      && "$venv/bin/pip" install $pins "${OTHERS[@]}" >"$log" 2>&1 \
      && "$venv/bin/pip" install --no-deps -e "$ROOT" >>"$log" 2>&1; }; then
    echo "$name | $pins | install failed: $(grep -m1 -E '^ERROR' "$log")"
    [ "$KEEP" = 1 ] || rm -rf "$venv"
    continue
  fi
  versions=$("$venv/bin/python" -c "
import importlib.metadata as m
print(' '.join(f'{p}=={m.version(p)}' for p in
    ('keras', 'keras-hub', 'tensorflow', 'tensorflow-text', 'numpy',
     'jax', 'torch', 'transformers')))")
  if [ "$INSTALL_ONLY" = 1 ]; then echo "$name | $versions | installed"; continue; fi
  (cd "$ROOT" && KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 \
    HF_HUB_OFFLINE=1 "$venv/bin/python" -m pytest -p no:cacheprovider -q \
    -n 2 -rfE "${SUBSET[@]}") >"$venv.pytest.log" 2>&1
  echo "$name | $versions | $(tail -1 "$venv.pytest.log")"
  [ "$KEEP" = 1 ] || rm -rf "$venv"
done
