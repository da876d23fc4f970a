#!/usr/bin/env bash
# The whole one-GPU measurement of the speed issue in one command (on the GPU machine, repository root):
#   bash benchmarks/gpu_session.sh "$OUT"        (OUT defaults to /tmp/jasper-gpu)
# Installs jasper into the image's PyTorch (benchmarks/device_setup.sh), then:
#   tests   the GPU test files (tests/core/training/test_graphed_cuda.py, test_batches_cuda.py, test_reductions.py,
#           test_host_copy.py; needs the
#           pytest and hypothesis wheels in .devwheels/test/ when the machine has no index)
#   bench   bench_train.py: jepa_base end to end on PAIRS synthetic pairs (default 400,000, D = 384), bf16,
#           each RUNS spec "compile:graph" (default "default:graph": train.compile = "default" with
#           train.cuda_graph) at each of BATCHES (default 4096 8192 16384); then profile_step.py (the
#           steady state) at PROFILE_BATCH (default 8192), on that data and on 1M pairs (256 clusters)
#   memmap  the 1M-pair 768-d fp16 memory-mapped dataset (memmap.py: RSS, GPU peak memory, pairs/s) on
#           the GPU and on the CPU
# PART=tests|bench|memmap runs one part (default: all three). Each result is in OUT/*.txt and OUT/summary.txt
# has the key lines of each; RUN_TIMEOUT (default 300 s) bounds each run. One bench run takes 60-90 s on an
# H200 (the first epoch compiles and captures), so the bench part fits one 10-minute device call.
# Needs the wheels of the pure-Python dependencies in .devwheels/ (pip download pluggy attrs cattrs
# tomli-w rich markdown-it-py mdurl pygments typing-extensions) when the machine has no index.
set -uo pipefail
OUT=${1:-/tmp/jasper-gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ROOT=$(pwd)
PART=${PART:-all}
source "$ROOT/benchmarks/device_setup.sh"
: > "$OUT/summary.txt"
run() {  # run NAME ARGS...: one measurement, its log in OUT/NAME.txt, its key lines in the summary
  local name=$1; shift
  local t0=$SECONDS
  timeout "${RUN_TIMEOUT:-300}" "$@" > "$OUT/$name.txt" 2>&1
  echo "== $name (exit $?)" >> "$OUT/summary.txt"
  grep -E "^(device|steps/s|achieved|peak|GPU peak|step time|dataset|pairs/s|wall ms)" "$OUT/$name.txt" >> "$OUT/summary.txt"
  echo "$name ($((SECONDS - t0)) s): $(tail -1 "$OUT/$name.txt")"
}
if [ "$PART" = all ] || [ "$PART" = tests ]; then
  [ -d .devwheels/test ] && $PY -m pip install --quiet --no-index --find-links .devwheels/test pytest hypothesis
  run gpu-tests $PY -m pytest -q -p no:cacheprovider tests/core/training/test_graphed_cuda.py \
      tests/core/training/test_batches_cuda.py tests/core/training/test_reductions.py tests/core/training/test_host_copy.py
fi
cd /tmp  # import the installed package, not the source tree
if [ "$PART" = all ] || [ "$PART" = bench ]; then
  DATA=$($PY -c "import sys; sys.path.insert(0, '$ROOT/benchmarks'); from common import synthetic_dataset_dir; print(synthetic_dataset_dir(${PAIRS:-400000}, 384))")
  for spec in ${RUNS:-default:graph}; do
    comp=${spec%%:*}; graph=""; [ "${spec#*:}" = graph ] && graph=--cuda-graph
    for batch in ${BATCHES:-4096 8192 16384}; do
      run "bench-b$batch-$comp${graph:+-graph}" $PY "$ROOT/benchmarks/bench_train.py" --recipe jepa_base --device cuda \
          --data "$DATA" --batch-size "$batch" --epochs 4 --precision bf16 --compile "$comp" $graph
    done
  done
  run "profile-b${PROFILE_BATCH:-8192}" $PY "$ROOT/benchmarks/profile_step.py" --recipe jepa_base --device cuda --data "$DATA" \
      --batch-size "${PROFILE_BATCH:-8192}" --precision bf16 --compile default --cuda-graph --top 30
  # the same step on a 1M-pair dataset: its ms/step should match the smaller dataset's (a kernel that reads
  # the dataset's tables badly slows with their size: a loss mean took 1.2 ms per step at 1M pairs)
  BIG=$($PY -c "import sys; sys.path.insert(0, '$ROOT/benchmarks'); from common import synthetic_dataset_dir; print(synthetic_dataset_dir(1000000, 384, clusters=256))")
  run "profile-b${PROFILE_BATCH:-8192}-1M" $PY "$ROOT/benchmarks/profile_step.py" --recipe jepa_base --device cuda --data "$BIG" \
      --batch-size "${PROFILE_BATCH:-8192}" --precision bf16 --compile default --cuda-graph --top 30
fi
if [ "$PART" = all ] || [ "$PART" = memmap ]; then
  run memmap-1m-fp16 $PY "$ROOT/benchmarks/memmap.py" --pairs 1000000 --dim 768 --dtype fp16 --device cuda \
      --batch-size 4096 --steps 200 --out /tmp/jasper-memmap
  run memmap-1m-fp16-cpu $PY "$ROOT/benchmarks/memmap.py" --pairs 1000000 --dim 768 --dtype fp16 --device cpu \
      --batch-size 1024 --steps 20 --out /tmp/jasper-memmap
fi
cat "$OUT/summary.txt"
