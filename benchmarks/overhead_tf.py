"""Overhead of GLAS on a Keras CNN on each Keras backend: ``glas_adapters.tf.explain`` vs its forward passes.

For N images GLAS scores ``N (2 k^2 + 1)`` perturbed images (451 per image at k = 15), packed
into calls of one fixed chunk (``balanced_chunk``: at most ``batch_size`` rows, as few calls as
``batch_size`` allows). The baseline runs exactly those calls, the same number of chunks of the
same size, through the backend's compiled forward of the same model (``tf.function``,
``jax.jit`` of ``stateless_call``, the torch backend's eager call under ``no_grad``) on
pre-built batches, warmed up. (The chunk size matters on its own: XLA on the CPU runs 64 rows
of this CNN at half the speed of 63.) GLAS gets NumPy images, as most users pass them, and returns NumPy maps. The two
are alternated in one run; the ratio GLAS / bare is the price of everything around the
forward passes (masks, perturbed rows, conversions, padding, the clean pass, log-probabilities,
fusion). Goal: <= 1.10 at 64 px, <= 1.05 at 224 px.

Each round is timed on the wall clock and in this process' CPU time (all its threads). On a
CPU shared with other work the wall clock also counts the time other processes hold the
cores; the CPU-time ratio is then the steadier figure, and the goal is judged on it on
``--device cpu`` (on a GPU the wall clock, since the host waits for the device).

    python benchmarks/overhead_tf.py --backend tensorflow            # also jax, torch; CPU, 1 thread
    python benchmarks/overhead_tf.py --backend jax --size 224
    python benchmarks/overhead_tf.py --backend torch --device gpu    # the first GPU the framework sees

Keras fixes its backend when it is imported, so each backend is one run of this script (it sets
``KERAS_BACKEND``). ``--threads 1`` (the default) limits the framework to one thread; this
process sets that for itself, the library never does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")


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


def configure(backend: str, device: str, threads: int) -> None:
    """Environment that must be set before the frameworks are imported: backend, device, threads."""
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise SystemExit(f"--backend {backend}: Keras is already imported on another backend; run in a new process")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        if backend == "torch":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # Keras' torch backend takes the GPU when it sees one
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
        os.environ["OMP_NUM_THREADS"] = "1"


def bare_forward(backend: str, model, keras):
    """The backend's compiled forward of ``model``: ``(prepare(np_batch), run(prepared) -> host outputs)``."""
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False))
        return tf.constant, lambda x: fn(x).numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        fn = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
        return jax.numpy.asarray, lambda x: np.asarray(fn(trainable, non_trainable, x))
    import torch

    device = keras.ops.convert_to_tensor(np.zeros(1, np.float32)).device

    def run(x):
        with torch.no_grad():
            return model(x, training=False).cpu().numpy()

    return lambda a: torch.from_numpy(a).to(device), run


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--grid", type=int, default=15)
    parser.add_argument("--images", type=int, default=4, help="images explained per round (one packed sweep)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="alternated GLAS / bare rounds")
    parser.add_argument("--threads", type=int, default=1, help="framework threads (0: the framework's default)")
    parser.add_argument("--quick", action="store_true", help="a few seconds: 32 px, grid 4, 2 images, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.grid, args.images, args.rounds = 32, 4, 2, 2
    configure(args.backend, args.device, args.threads)

    # isort: off
    from glas_adapters import tf as glas_tf  # before Keras: TensorFlow's start-up notices stay quiet
    import keras
    # isort: on

    from glas_adapters.tf.scoring import balanced_chunk

    if args.backend == "tensorflow" and args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.backend == "torch" and args.threads:
        import torch

        torch.set_num_threads(args.threads)

    model = build_model(keras, args.size)
    rng = np.random.default_rng(1)
    images = rng.random((args.images, args.size, args.size, 3)).astype(np.float32)
    rows = args.images * (2 * args.grid**2 + 1)
    chunk = balanced_chunk(rows, args.batch_size)
    n_calls = -(-rows // chunk)
    prepare, run = bare_forward(args.backend, model, keras)
    bare_input = prepare(rng.random((chunk, args.size, args.size, 3)).astype(np.float32))

    def timed(fn) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    def run_glas() -> None:
        maps = glas_tf.explain(model, images, 0, grid=args.grid, batch_size=args.batch_size)
        assert maps.shape == (args.images, args.size, args.size) and np.all(np.isfinite(maps))

    def run_bare() -> None:
        for _ in range(n_calls):
            run(bare_input)

    run_glas(), run_bare()  # warm-up: traces, compilation, allocator
    glas_times, bare_times = [], []
    for _ in range(args.rounds):
        glas_times.append(timed(run_glas))
        bare_times.append(timed(run_bare))

    wall = [g[0] / b[0] for g, b in zip(glas_times, bare_times)]
    cpu = [g[1] / b[1] for g, b in zip(glas_times, bare_times)]
    judged = statistics.median(cpu if args.device == "cpu" else wall)
    goal = 1.10 if args.size <= 64 else 1.05
    lines = [
        f"backend {args.backend} (Keras {keras.__version__}), device {args.device}, "
        f"{args.threads or 'default'} thread(s)",
        f"model: 3-conv CNN on {args.size}x{args.size}x3, {args.images} image(s) x {2 * args.grid**2 + 1} rows "
        f"(grid {args.grid}) = {rows} rows, batch_size {args.batch_size}: {n_calls} calls of {chunk} rows",
        f"{'round':>5} {'GLAS s':>9} {'bare s':>9} {'ratio':>7} {'GLAS cpu':>9} {'bare cpu':>9} {'ratio':>7}",
        *[f"{i:>5} {g[0]:>9.3f} {b[0]:>9.3f} {w:>7.3f} {g[1]:>9.3f} {b[1]:>9.3f} {c:>7.3f}"
          for i, (g, b, w, c) in enumerate(zip(glas_times, bare_times, wall, cpu))],
        f"ms per image (median wall): GLAS {1000 * statistics.median(g[0] for g in glas_times) / args.images:.1f}, "
        f"bare {1000 * statistics.median(b[0] for b in bare_times) / args.images:.1f}",
        f"median ratio GLAS / bare forward: wall {statistics.median(wall):.3f}, cpu {statistics.median(cpu):.3f} "
        f"(goal <= {goal:.2f} on the {'cpu' if args.device == 'cpu' else 'wall'} ratio: "
        f"{'met' if judged <= goal else 'not met'})",
    ]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
