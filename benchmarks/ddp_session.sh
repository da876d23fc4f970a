#!/usr/bin/env bash
# Data-parallel scaling on a 2-GPU machine: install jasper into the image's PyTorch, then run a 1-GPU
# and a 2-GPU job of jepa_base on the same synthetic data (1.25M pairs, D=384, batch 4096 per GPU).
#   usage (on the GPU machine, from the repository root): bash benchmarks/ddp_session.sh OUT_DIR
# Installs like benchmarks/gpu_session.sh (wheels of the pure-Python dependencies in .devwheels/).
set -uo pipefail
OUT=${1:-/tmp/jasper-ddp}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ROOT=$(pwd)
source "$ROOT/benchmarks/device_setup.sh"
cd /tmp  # import the installed package, not the source tree
$PY "$ROOT/benchmarks/bench_ddp.py" --recipe jepa_base --pairs 1250000 --dim 384 --batch-size 4096 \
    --device cuda --gpus 2 --precision "${PRECISION:-fp32}" 2>&1 | tee "$OUT/bench_ddp.txt" | tail -8
