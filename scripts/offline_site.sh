#!/usr/bin/env bash
# Packs what keras-electra needs beyond a lent GPU machine's own image
# (keras, keras-hub, tensorflow-cpu, tensorflow-text and their small
# dependencies; the image has torch, jax, transformers, numpy) for its
# offline Python 3.12, in parts small enough to carry one per call.
# benchmarks/README.md, "Running on a lent GPU", says how it was used.
#
#   scripts/offline_site.sh [OUT_DIR [PART_BYTES]]   # default .gpu 40000000
#
# OUT_DIR gets p1/part0, p2/part1, ... (a zstd tar of the site folder, split)
# and bin/ (this machine's zstd and the libraries it links: the image has no
# zstd). scripts/gpu_checks.sh unpacks them there. ZSTD_LEVEL (default 19)
# trades time for size: 19 gave 154 MB in about 6 minutes on 2 cores.
set -euo pipefail
OUT=${1:-.gpu}
PART=${2:-40000000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PACKAGES=(
  tensorflow-cpu==2.21.0
  # 2.21.0 does not import beside tensorflow-cpu (undefined symbol icudt77_dat)
  tensorflow-text==2.21.1
  keras==3.15.1 keras-hub==0.32.0 namex optree
  astunparse gast google_pasta termcolor "protobuf>=6.31.1,<7"
  kagglehub kagglesdk==0.1.28
)
python3 -m pip install -q --no-deps --no-compile --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --target "$WORK/site" "${PACKAGES[@]}"
# 1.5 GB -> 894 MB: symbols and C++ headers nothing imports.
find "$WORK/site" -name '*.so*' -type f -exec strip --strip-unneeded {} +
rm -rf "$WORK/site/tensorflow/include"
find "$WORK/site" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$OUT" && mkdir -p "$OUT/bin"
tar -C "$WORK/site" -cf - . | zstd "-${ZSTD_LEVEL:-19}" --long=27 -T0 -q \
  | split -b "$PART" -d -a 1 - "$WORK/part"
i=1
for part in "$WORK"/part*; do
  mkdir -p "$OUT/p$i" && mv "$part" "$OUT/p$i/"
  i=$((i + 1))
done
cp "$(command -v zstd)" "$OUT/bin/"
ldd "$(command -v zstd)" | awk '$3 ~ /^\// && $1 !~ /^libc\./ {print $3}' \
  | xargs -r cp -L -t "$OUT/bin/"
du -sh "$OUT"/*
