#!/usr/bin/env bash
# The whole GPU measurement of the speed issue in one command (on the GPU machine, repository root):
#   bash benchmarks/gpu_session.sh "$OUT"        (OUT defaults to /tmp/jasper-gpu)
# Installs jasper into the image's PyTorch, then: bench_train.py (jepa_base end to end, 200k synthetic
# pairs, D = 384) at batch 4096 and 16384, fp32 and bf16, eager and compiled (train.compile =
# reduce-overhead: CUDA graphs); then the 1M-pair 768-d fp16 memory-mapped dataset (memmap.py: RSS,
# GPU peak memory, pairs/s) on the GPU and on the CPU. Each result is in OUT/*.txt; OUT/summary.txt
# has the key lines of each. Meant to fit a 10-minute device call; if it does not, run it in two:
# PART=bench, then PART=memmap.
# Needs the wheels of the pure-Python dependencies in .devwheels/ (pip download pluggy attrs cattrs
# tomli-w rich markdown-it-py mdurl pygments typing-extensions) when the machine has no index.
# The image's setuptools must be >= 77 (pyproject uses an SPDX licence string); else carry its wheel too.
# SKIP_COMPILE=1 leaves out the compiled runs; SKIP_MEMMAP=1 the 1M-pair dataset; PAIRS sets bench_train's size;
# RUN_TIMEOUT (default 300 s) bounds each run.
set -uo pipefail
OUT=${1:-/tmp/jasper-gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ROOT=$(pwd)
PAIRS=${PAIRS:-200000}
source "$ROOT/benchmarks/device_setup.sh"
cd /tmp  # import the installed package, not the source tree
: > "$OUT/summary.txt"
run() {  # run NAME ARGS...: one measurement, its log in OUT/NAME.txt, its key lines in the summary
  local name=$1; shift
  local t0=$SECONDS
  timeout "${RUN_TIMEOUT:-300}" "$@" > "$OUT/$name.txt" 2>&1
  echo "== $name (exit $?)" >> "$OUT/summary.txt"
  grep -E "^(device|steps/s|achieved|peak|GPU peak|step time|dataset|pairs/s)" "$OUT/$name.txt" >> "$OUT/summary.txt"
  echo "$name ($((SECONDS - t0)) s): $(tail -1 "$OUT/$name.txt")"
}
compiles="off"
[ "${SKIP_COMPILE:-0}" = 1 ] || compiles="off reduce-overhead"
if [ "${PART:-all}" != memmap ]; then
  DATA=$($PY -c "import sys; sys.path.insert(0, '$ROOT/benchmarks'); from common import synthetic_dataset_dir; print(synthetic_dataset_dir($PAIRS, 384))")
  for batch in 4096 16384; do
    for prec in fp32 bf16; do
      for comp in $compiles; do
        run "bench-b$batch-$prec-$comp" $PY "$ROOT/benchmarks/bench_train.py" --recipe jepa_base --device cuda \
            --data "$DATA" --batch-size $batch --epochs 3 --precision $prec --compile $comp
      done
    done
  done
fi
if [ "${SKIP_MEMMAP:-0}" != 1 ] && [ "${PART:-all}" != bench ]; then
  run memmap-1m-fp16 $PY "$ROOT/benchmarks/memmap.py" --pairs 1000000 --dim 768 --dtype fp16 --device cuda \
      --batch-size 4096 --steps 200 --out /tmp/jasper-memmap
  run memmap-1m-fp16-cpu $PY "$ROOT/benchmarks/memmap.py" --pairs 1000000 --dim 768 --dtype fp16 --device cpu \
      --batch-size 1024 --steps 20 --out /tmp/jasper-memmap
fi
cat "$OUT/summary.txt"
