#!/usr/bin/env bash
# One device session: install jasper into the image's PyTorch, then measure on the GPU.
#   usage (on the GPU machine, from the repository root): bash benchmarks/gpu_session.sh OUT_DIR
# Needs the wheels of the pure-Python dependencies in .devwheels/ (pip download pluggy attrs cattrs
# tomli-w rich markdown-it-py mdurl pygments typing-extensions) when the machine has no index.
# The image's setuptools must be >= 77 (pyproject uses an SPDX licence string); else carry its wheel too.
set -uo pipefail
OUT=${1:-/tmp/jasper-gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ROOT=$(pwd)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
  if [ -d .devwheels ]; then $PY -m pip install --quiet --no-index --no-deps .devwheels/*.whl 2>&1 | tail -2; fi
  $PY -m pip install --quiet --no-deps --no-build-isolation . 2>&1 | tail -2
  (cd /tmp && $PY -c 'from jasper_core import load_plugins; p = load_plugins(); print("plugins ok:", [x.label for x in p.loaded][:1], "failures:", p.failures)')
} > "$OUT/setup.log" 2>&1
cat "$OUT/setup.log"
cd /tmp  # import the installed package, not the source tree
$PY "$ROOT/benchmarks/throughput.py" --pairs 200000 --steps 200 --device cuda --batch-size 256 1024 4096 \
    --precision fp32 bf16 fp16 2>&1 | tee "$OUT/throughput.txt" | tail -12
$PY "$ROOT/benchmarks/batching.py" --pairs 200000 --batch-size 1024 --device cuda 2>&1 | tee "$OUT/batching.txt" | tail -4
[ "${SKIP_QUICKSTART:-0}" = 1 ] && exit 0
for prec in fp32 bf16 fp16; do
  $PY -m jasper train quickstart --run-dir "$OUT/quickstart-$prec" --set train.device=cuda --set train.precision=$prec \
      > "$OUT/quickstart-$prec.log" 2>&1
  echo "quickstart $prec exit $?"; grep -E "pairs_per_s|best model" "$OUT/quickstart-$prec.log" | tail -2
done
