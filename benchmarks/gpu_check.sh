#!/usr/bin/env bash
# The project's device check, for a machine with an NVIDIA GPU whose python3 has torch, CuPy and JAX.
# Packages missing there travel as wheels in .whl/ (see docs/benchmarks.md). Output goes to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/glas-gpu}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -x tests/core/test_accelerators.py tests/torch/test_cuda.py 2>&1 | tail -25 | tee "$OUT/tests.log"
python3 benchmarks/overhead.py --device cuda 2>&1 | tee "$OUT/overhead_cuda.log"
python3 benchmarks/caption.py --device cuda --grid 15 --image-size 224 --hidden 384 --batch-size 64 --repeats 3 2>&1 \
  | tee "$OUT/caption_cuda.log"
