#!/usr/bin/env bash
# The project's GPU check: the accelerator tests and the GPU cost figures of docs/benchmarks.md.
# Needs an NVIDIA GPU and a python3 with torch, CuPy and JAX. Run from the repository root:
#
#   bash benchmarks/gpu_check.sh                      # logs go to $OUT (default: a new temporary folder)
#   GLAS_WHEELS=DIR bash benchmarks/gpu_check.sh      # first install the wheels in DIR (for a machine
#                                                     # without network: captum, array-api-compat, ...)
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
export PYTHONPATH=$PWD
if [ -n "${GLAS_WHEELS:-}" ]; then
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$GLAS_WHEELS"/*.whl || exit 1
  export PYTHONPATH=$site:$PWD
fi
export PYTHONUNBUFFERED=1
echo "logs: $OUT"
nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -x tests/core/test_accelerators.py tests/adapters/torch/test_cuda.py 2>&1 | tail -25 | tee "$OUT/tests.log"
python3 benchmarks/overhead.py --device cuda 2>&1 | tee "$OUT/overhead_cuda.log"
python3 benchmarks/caption.py --device cuda --grid 15 --image-size 224 --hidden 384 --batch-size 64 --repeats 3 2>&1 \
  | tee "$OUT/caption_cuda.log"
