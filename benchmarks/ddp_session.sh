#!/usr/bin/env bash
# Data-parallel scaling on a 2-GPU machine in one command (repository root):
#   bash benchmarks/ddp_session.sh OUT_DIR
# Installs jasper into the image's PyTorch (like benchmarks/gpu_session.sh), runs the 2-GPU test
# (tests/distributed/test_epoch_order_cuda.py, when the pytest wheels are in .devwheels/test/), then a
# 1-GPU and a 2-GPU job of jepa_base on the same synthetic data: 1M pairs, D = 384, 256 clusters, batch
# BATCH per GPU (default 16384), bf16, train.compile = "default" with train.cuda_graph, 3 epochs (the first
# compiles and captures), REPEATS rounds (default 1; the jobs alternate, and the median speed-up is the
# figure). NEGATIVES=local (default): InfoNCE's in-batch negatives stay on each rank (--set
# 'loss[1].gather=false'), so both jobs do the same work per pair. NEGATIVES=gathered: the recipe as it is
# (negatives gathered from both ranks), and the 1-GPU job at the global batch (--same-global-batch), the
# same loss. EXTRA adds bench_ddp.py arguments.
# The jobs' output is in OUT_DIR/job-*.log; the figures in OUT_DIR/bench_ddp.txt.
set -uo pipefail
case ${NEGATIVES:-local} in
  local) NEG="--set 'loss[1].gather=false'" ;;
  gathered) NEG="--same-global-batch" ;;
  *) echo "error: NEGATIVES must be local or gathered, not '${NEGATIVES}'" >&2; exit 2 ;;
esac
OUT=${1:-/tmp/jasper-ddp}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ROOT=$(pwd)
source "$ROOT/benchmarks/device_setup.sh"
if [ -d .devwheels/test ]; then
  $PY -m pip install --quiet --no-index --find-links .devwheels/test pytest hypothesis
  timeout 200 $PY -m pytest -q -p no:cacheprovider tests/distributed/test_epoch_order_cuda.py 2>&1 | tail -1
fi
cd /tmp  # import the installed package, not the source tree
DATA=$($PY -c "import sys; sys.path.insert(0, '$ROOT/benchmarks'); from common import synthetic_dataset_dir; print(synthetic_dataset_dir(1000000, 384, clusters=256))")
eval "$PY \"$ROOT/benchmarks/bench_ddp.py\" --recipe jepa_base --data \"$DATA\" --batch-size ${BATCH:-16384} --precision bf16 \
    --compile default --cuda-graph --device cuda --gpus 2 --epochs 3 --repeats ${REPEATS:-1} --job-timeout 240 --log-dir \"$OUT\" $NEG ${EXTRA:-}" \
    2>&1 | tee "$OUT/bench_ddp.txt" | tail -6
