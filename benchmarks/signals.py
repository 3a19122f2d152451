"""Signals: GLAS on time series against Captum's Occlusion and FeatureAblation at equal forward passes.

A synthetic set with known evidence: each series (1 channel, T samples of noise) holds one class
motif (a sine burst, a sawtooth or a square-wave burst, 16 samples) at a random place, and two
distractor bumps, the same for every class. A small 1-D CNN (two Conv1d layers, a global max pool)
is trained here in seconds. Every method explains the true class of the same test series:

- pointing: the map's peak (argmax) lies inside the class motif (a flat map points nowhere);
- deletion AUC: the class probability as samples are zeroed from the most salient down
  (``glas_core.metrics.deletion_auc``; lower is better);
- forward passes per series and seconds per series, with the time of each method over GLAS's.

GLAS runs through ``glas_adapters.torch.explain`` (k = 16 points along time, ``2k + 1`` = 33
passes); Captum's Occlusion (window 8, stride 4: 32 passes) and FeatureAblation (32 segments of
T/32 samples: 33 passes) run through Captum itself, on the softmax output, zero baseline. A
constant-map row and a random-map row bound the table.

    python benchmarks/signals.py            # the full run (docs/benchmarks.md, "Signals")
    python benchmarks/signals.py --quick    # a smoke run

torch runs with one thread (``torch.set_num_threads(1)``): the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import env  # noqa: E402
from benchkit.methods import Method, glas_result  # noqa: E402
from benchkit.scoring import numpy_model  # noqa: E402
from benchkit.timing import run_methods  # noqa: E402
from benchkit.training import fit_classifier  # noqa: E402

from glas_core import metrics as M  # noqa: E402

MOTIF = 16
N_CLASSES = 3
GRID = 16


@dataclass
class SeriesSet:
    """Series ``(N, 1, T)`` float32, labels ``(N,)`` and the motif interval ``[start, start + MOTIF)`` of each."""

    x: np.ndarray
    y: np.ndarray
    start: np.ndarray

    def evidence(self, i: int) -> np.ndarray:
        """Boolean ``(T,)`` mask of series ``i``'s class motif."""
        mask = np.zeros(self.x.shape[-1], dtype=bool)
        mask[self.start[i]:self.start[i] + MOTIF] = True
        return mask


def motif(label: int) -> np.ndarray:
    """The class motif: a sine burst (0), a sawtooth (1) or a square-wave burst (2), amplitude 1."""
    t = np.arange(MOTIF)
    if label == 0:
        return np.sin(2 * np.pi * t / 8)
    if label == 1:
        return 2 * (t % 8) / 7 - 1
    return np.where((t // 4) % 2 == 0, 1.0, -1.0)


def make_series(n: int, length: int, seed: int) -> SeriesSet:
    """``n`` series with one class motif each at a random place and two class-neutral bumps elsewhere."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.25, size=(n, 1, length))
    y = rng.integers(0, N_CLASSES, size=n)
    start = rng.integers(0, length - MOTIF + 1, size=n)
    t = np.arange(length)
    for i in range(n):
        x[i, 0, start[i]:start[i] + MOTIF] += motif(int(y[i]))
        for _ in range(2):  # distractors: Gaussian bumps of either sign, away from the motif when there is room
            centre = rng.integers(0, length)
            for _try in range(20):
                if abs(centre - (start[i] + MOTIF / 2)) > MOTIF:
                    break
                centre = rng.integers(0, length)
            x[i, 0] += rng.choice([-1.2, 1.2]) * np.exp(-((t - centre) ** 2) / (2 * 3.0 ** 2))
    return SeriesSet(x.astype(np.float32), y, start)


def build_cnn(torch):
    """Conv1d(1, 16, 7) - ReLU - Conv1d(16, 32, 5) - ReLU - global max pool - Linear(32, 3)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(),
                         nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(32, N_CLASSES))


def train(torch, data: SeriesSet, epochs: int, seed: int):
    """Adam on the training set, batches of 64; returns the model in eval mode."""
    torch.manual_seed(seed)
    return fit_classifier(torch, build_cnn(torch), data.x, data.y, epochs=epochs, batch_size=64)


def glas_series_method(name: str, sigma: tuple | float | None) -> Method:
    def run(module, x, target):
        return glas_result(module, x, target, grid=GRID, sigma=sigma).to_numpy()[0]

    s = "(5,3,6)" if sigma is None else f"{sigma}"
    return Method(name, run, f"k={GRID}, sigma={s} grid cells of T/{GRID} samples, glas_adapters.torch.explain")


def occlusion_series(window: int, stride: int) -> Method:
    """Captum's Occlusion of the softmax output along time, zero baseline."""
    def run(module, x, target):
        import torch
        from captum.attr import Occlusion

        with torch.no_grad():
            attr = Occlusion(lambda b: module(b).softmax(-1)).attribute(
                x[None], target=target, sliding_window_shapes=(x.shape[0], window), strides=(x.shape[0], stride),
                baselines=0.0, perturbations_per_eval=64)
        return attr[0].sum(0).numpy()

    return Method(f"Occlusion (window {window}, stride {stride})", run,
                  f"captum Occlusion, window {window}, stride {stride}, zero baseline")


def ablation_series(segments: int) -> Method:
    """Captum's FeatureAblation of the softmax output: ``segments`` equal time segments set to 0 in turn."""
    def run(module, x, target):
        import torch
        from captum.attr import FeatureAblation

        length = x.shape[-1]
        mask = (torch.arange(length) * segments // length)[None, None].expand(1, x.shape[0], length)
        with torch.no_grad():
            attr = FeatureAblation(lambda b: module(b).softmax(-1)).attribute(
                x[None], target=target, feature_mask=mask, baselines=0.0, perturbations_per_eval=64)
        return attr[0, 0].numpy()

    return Method(f"FeatureAblation ({segments} segments)", run,
                  f"captum FeatureAblation, {segments} segments, zero baseline")


def trivial_method(name: str, kind: str, seed: int) -> Method:
    rng = np.random.default_rng(seed)

    def run(module, x, target):
        length = x.shape[-1]
        return np.ones(length) if kind == "constant" else rng.random(length)

    return Method(name, run, "no forward pass")


def table(runs, methods, data: SeriesSet, model, steps: int) -> str:
    """One row per method: pointing, deletion AUC, passes and seconds per series, time over GLAS's."""
    f = numpy_model(model)
    xs = [data.x[i] for i in range(len(data.y))]
    targets = [int(t) for t in data.y]
    ref = float(np.mean(runs[methods[0].name].seconds))
    lines = ["| method | pointing | deletion AUC (lower is better) | forward passes / series | ms / series | "
             "time / GLAS |", "|---|---|---|---|---|---|"]
    for m in methods:
        run = runs[m.name]
        hits = [M.pointing_hit(s, data.evidence(i), rule="argmax") for i, s in enumerate(run.maps)]
        auc, _, _ = M.deletion_auc(f, xs, run.maps, targets, step=max(1, data.x.shape[-1] // steps),
                                   spatial_axes=(-1,))
        sec = float(np.mean(run.seconds))
        ratio = f"{sec / ref:.2f}x" if run.forwards[0] > 0 else "-"
        lines.append(f"| {m.name} | {np.mean(hits):.3f} | {auc:.3f} | {int(np.mean(run.forwards))} | "
                     f"{1000 * sec:.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny training and 4 test series (a smoke run)")
    p.add_argument("--n-series", type=int, default=None, help="test series (default 200, quick 4)")
    p.add_argument("--length", type=int, default=128, help="samples per series")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    torch = env.setup_torch(1)
    n_test = args.n_series or (4 if args.quick else 200)
    n_train, epochs = (256, 4) if args.quick else (2000, 15)
    t0 = time.perf_counter()
    train_set = make_series(n_train, args.length, args.seed)
    model = train(torch, train_set, epochs, args.seed)
    train_s = time.perf_counter() - t0
    test = make_series(n_test, args.length, args.seed + 1)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean())
    methods = [glas_series_method("GLAS (sigma 1)", 1.0), glas_series_method("GLAS (sigma (5,3,6))", None),
               glas_series_method("GLAS (sigma (2,1,2))", (2.0, 1.0, 2.0)),
               occlusion_series(8, 4), ablation_series(32),
               trivial_method("constant map", "constant", args.seed), trivial_method("random map", "random", args.seed)]
    runs = run_methods(methods, model, list(test.x), [int(t) for t in test.y])
    out = [f"Signals: {n_test} test series of {args.length} samples, 1 channel, {N_CLASSES} classes (motif of "
           f"{MOTIF} samples, two distractor bumps); 1-D CNN trained on {n_train} series in {train_s:.1f} s, "
           f"test accuracy {accuracy:.3f}",
           f"machine: {env.machine_line()}", "",
           table(runs, methods, test, model, steps=32), "",
           "pointing: argmax inside the class motif (a flat map is a miss); deletion: 32 steps, zero substrate, "
           "probability of the true class; time ratios are against the first row."]
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
