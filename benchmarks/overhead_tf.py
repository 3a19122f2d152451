"""Overhead of GLAS on a Keras CNN: ``glas_adapters.tf.explain`` vs the bare forward passes it needs.

For each image GLAS scores ``2 k^2 + 1`` perturbed images (451 at k = 15). The baseline runs
exactly that many forward passes of the same model on pre-built random batches, ``batch_size``
rows per call (the last call smaller), with the model compiled in a ``tf.function`` and warmed
up for both batch shapes. The two are alternated in one run; the ratio GLAS / bare is the price
of building masks and perturbed batches, padding and bookkeeping. Goal: <= 1.10.

    python benchmarks/overhead_tf.py                 # CPU, 1 TensorFlow thread (shared machine)
    python benchmarks/overhead_tf.py --device gpu    # first GPU TensorFlow sees

The benchmark process sets TensorFlow's thread counts (``--threads``) for itself; the library
never does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def build_model(keras, size: int, n_classes: int = 10):
    """A small VGG-style CNN, built from its config with seeded random weights (no download)."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(128, 3, padding="same", activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(n_classes),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([(0.1 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()])
    return model


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, gpu or cuda (the first GPU), or a TF device string")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--grid", type=int, default=15)
    parser.add_argument("--images", type=int, default=2, help="images explained per round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="alternated GLAS / bare rounds")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads of this process")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from glas_adapters import tf as glas_tf

    device = {"cpu": "/CPU:0", "gpu": "/GPU:0", "cuda": "/GPU:0"}.get(args.device, args.device)
    if "GPU" in device.upper() and not tf.config.list_physical_devices("GPU"):
        raise SystemExit(f"--device {args.device}: TensorFlow sees no GPU")

    with tf.device(device):
        model = build_model(keras, args.size)
        rng = np.random.default_rng(1)
        images = tf.constant(rng.random((args.images, args.size, args.size, 3)).astype(np.float32))
        rows = 2 * args.grid**2 + 1
        batch = args.batch_size
        sizes = [min(batch, rows - s) for s in range(0, rows, batch)] * args.images
        bare_inputs = {n: tf.constant(rng.random((n, args.size, args.size, 3)).astype(np.float32)) for n in set(sizes)}

        @tf.function
        def forward(x):
            return model(x, training=False)

        def run_glas() -> float:
            start = time.perf_counter()
            maps = glas_tf.explain(model, images, 0, grid=args.grid, batch_size=batch)
            assert maps.shape == (args.images, args.size, args.size)
            return time.perf_counter() - start

        def run_bare() -> float:
            start = time.perf_counter()
            for n in sizes:
                out = forward(bare_inputs[n])
            out.numpy()  # wait for the device
            return time.perf_counter() - start

        run_glas(), run_bare()  # warm-up: traces, kernels, allocator
        glas_times, bare_times = [], []
        for _ in range(args.rounds):
            glas_times.append(run_glas())
            bare_times.append(run_bare())

    ratios = [g / b for g, b in zip(glas_times, bare_times)]
    print(f"device {device} ({tf.config.list_logical_devices(device.split(':')[-2].strip('/'))[0].name}), "
          f"TF {tf.__version__}, Keras {keras.__version__}, {args.threads} intra-op thread(s)")
    print(f"model: 3-conv CNN on {args.size}x{args.size}x3, {args.images} image(s) x {rows} rows "
          f"(grid {args.grid}), batch_size {batch}")
    print(f"{'round':>5} {'GLAS s':>9} {'bare s':>9} {'ratio':>7}")
    for i, (g, b, r) in enumerate(zip(glas_times, bare_times, ratios)):
        print(f"{i:>5} {g:>9.3f} {b:>9.3f} {r:>7.3f}")
    median = statistics.median(ratios)
    best = min(glas_times) / min(bare_times)  # least disturbed by other processes on a shared machine
    print(f"median overhead ratio GLAS / bare forward = {median:.3f}; best-of-rounds ratio = {best:.3f} "
          f"(goal <= 1.10)")
    return median


if __name__ == "__main__":
    main()
