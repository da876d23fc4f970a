# Sourced by the device-session scripts (gpu_session.sh, ddp_session.sh), from the repository root with
# OUT and PY set: installs jasper into the image's PyTorch (wheels of the pure-Python dependencies from
# .devwheels/ when the machine has no index) and logs the GPUs to OUT/setup.log.
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.device_count(), "GPUs")'
  if [ -d .devwheels ]; then $PY -m pip install --quiet --no-index --no-deps .devwheels/*.whl 2>&1 | tail -2; fi
  $PY -m pip install --quiet --no-deps --no-build-isolation . 2>&1 | tail -2
  (cd /tmp && $PY -c 'from jasper_core import load_plugins; p = load_plugins(); print("plugins ok:", [x.label for x in p.loaded][:1], "failures:", p.failures)')
} > "$OUT/setup.log" 2>&1
cat "$OUT/setup.log"
