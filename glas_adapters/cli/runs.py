"""What ``glas demo`` and ``glas explain`` do once their arguments are parsed."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from glas_adapters.cli.classifier import Classifier, ExplainSettings
from glas_adapters.cli.outputs import check_output_dir, check_output_file, save_figure, unique_stems, write_atomically
from glas_core import DEFAULT_SIGMA
from glas_core.errors import fail

DEMO_SIGMAS = (5.0, 3.0, 1.0)
DEMO_TOP_K = 5
#: classes explained when neither --target nor --top-k is given
DEFAULT_TOP_K = 3


def run_demo(args: argparse.Namespace) -> int:
    """Explain chelsea's top-5 EfficientNet-Lite0 classes at three scales into one PNG."""
    from skimage import data

    from glas_adapters.cli.loading import load_model
    from glas_core import viz

    start = time.perf_counter()
    out = check_output_file(args.out, ".png")
    maps_file = check_output_file(args.save_maps, ".npz") if args.save_maps else None
    model = load_model("efficientnet-lite0", device=args.device)
    image = data.chelsea().astype(np.float32) / 255.0
    x = model.prepare(image)
    probs = model.probabilities(x)
    targets = [int(i) for i in np.argsort(-probs, kind="stable")[:DEMO_TOP_K]]
    settings = ExplainSettings(grid=args.grid, sigmas=DEMO_SIGMAS, batch_size=args.batch_size,
                               progress=not args.quiet)
    results = model.explain(x, targets, settings)
    maps = np.stack([r.to_numpy() for r in results], axis=1)  # (T, S, H, W)
    labels = [f"{model.label(t)}  {probs[t]:.0%}" for t in targets]
    fig = viz.multiscale_strip(image, maps, row_labels=labels,
                               scale_labels=[f"sigma = {s:g} (grid cells)" for s in DEMO_SIGMAS],
                               title=f"GLAS, {model.description}: top-{DEMO_TOP_K} classes, coarse to fine")
    save_figure(fig, out, dpi=80)
    if maps_file:
        arrays = _classifier_arrays(0, results, targets, probs, model, settings)
        write_atomically(maps_file, lambda f: np.savez_compressed(f, **arrays))
    elapsed = time.perf_counter() - start
    for t, label in zip(targets, labels):
        print(f"  {t:4d}  {label}")
    rows = sum(r.n_forward for r in results)
    print(f"wrote {out} ({rows} forward rows, {elapsed:.1f} s)")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Explain every IMAGE with --model; write one PNG per image (and per target with --recursive)."""
    from glas_adapters.cli.image_io import load_image
    from glas_adapters.cli.loading import load_model

    images = [load_image(p) for p in args.images]           # every input is checked before any work
    out_dir = check_output_dir(args.out)
    maps_file = check_output_file(args.save_maps, ".npz") if args.save_maps else None
    if args.recursive and args.sigma is not None and len(args.sigma) > 1:
        raise fail("--recursive", f"{len(args.sigma)} --sigma values", "used with one --sigma value",
                   "drop --recursive for a multi-scale strip, or pass one --sigma")
    model = load_model(args.model, device=args.device, input_size=args.input_size, normalize=args.normalize,
                       probabilities=None if args.probabilities == "none" else args.probabilities)
    settings = ExplainSettings(grid=args.grid, sigmas=tuple(args.sigma or (None,)), mode=args.mode,
                               batch_size=args.batch_size, recursive=args.recursive, progress=not args.quiet)
    stems = unique_stems(args.images)
    arrays: dict[str, Any] = {"paths": np.asarray([os.path.abspath(p) for p in args.images]),
                              "sigmas": np.asarray([sigma_text(s) for s in settings.sigmas])}
    if model.kind == "captioner":
        if args.target or args.top_k:
            raise fail("--target/--top-k", "a captioner (every caption word is explained)", "used with classifiers",
                       "drop them")
        _explain_captions(model, images, stems, out_dir, settings, arrays)
    else:
        prepared = [model.prepare(img) for img in images]
        probs = [model.probabilities(x) for x in prepared]
        targets = [_resolve_targets(args.target, args.top_k, p, model) for p in probs]  # all checked first
        for i, (path, img, x, p, t) in enumerate(_progress(list(zip(args.images, images, prepared, probs, targets)),
                                                           settings.progress)):
            shown = img if model.plain_resize else model.display(x)
            results = model.explain(x, t, settings)
            arrays.update(_classifier_arrays(i, results, t, p, model, settings))
            for name, fig in _classifier_figures(shown, results, t, p, model, settings, os.path.basename(path)):
                written = os.path.join(out_dir, f"{stems[i]}{name}.png")
                save_figure(fig, written)
                print(f"wrote {written}")
    if maps_file:
        write_atomically(maps_file, lambda f: np.savez_compressed(f, **arrays))
        print(f"wrote {maps_file}")
    return 0


def sigma_text(sigma: Any) -> str:
    """A scale as the command line writes it (None is the default (light, shadow, spatial) triple)."""
    if sigma is None:
        sigma = DEFAULT_SIGMA
    if isinstance(sigma, tuple):
        return ",".join(f"{s:g}" for s in sigma)
    return f"{sigma:g}"


def _explain_captions(model: Any, images: list[np.ndarray], stems: list[str], out_dir: str,
                      settings: ExplainSettings, arrays: dict[str, Any]) -> None:
    from glas_core import viz

    for i, img in enumerate(images):
        exp = model.explain(img, settings)
        arrays[f"saliency_{i}"] = np.asarray(exp.maps, dtype=np.float32)
        arrays[f"labels_{i}"] = np.asarray(exp.words)
        arrays[f"scores_{i}"] = np.asarray(exp.word_probs, dtype=np.float64)
        fig = viz.caption_words(exp.image, exp.words, exp.maps, caption=exp.caption)
        written = os.path.join(out_dir, f"{stems[i]}_glas.png")
        save_figure(fig, written)
        print(f"{exp.caption!r}: wrote {written}")


def _classifier_arrays(i: int, results: list[Any], targets: list[int], probs: np.ndarray, model: Classifier,
                       settings: ExplainSettings) -> dict[str, np.ndarray]:
    """Raw maps of image ``i``: (T, S, H, W) per scale, or (T, H, W) accumulated with --recursive."""
    if settings.recursive:
        saliency = results[0].to_numpy()
    else:
        saliency = np.stack([r.to_numpy() for r in results], axis=1)
    return {f"saliency_{i}": saliency.astype(np.float32), f"targets_{i}": np.asarray(targets, dtype=np.int64),
            f"labels_{i}": np.asarray([model.label(t) for t in targets]),
            f"scores_{i}": probs[np.asarray(targets, dtype=np.int64)]}


def _classifier_figures(image: np.ndarray, results: list[Any], targets: list[int], probs: np.ndarray,
                        model: Classifier, settings: ExplainSettings, name: str) -> list[tuple[str, Any]]:
    """``(file suffix, Figure)`` pairs: one strip for all targets, or one RGLAS panel per target."""
    from glas_core import viz

    labels = [f"{model.label(t)}  {probs[t]:.1%}" for t in targets]
    if settings.recursive:
        return [(f"_rglas_{rank + 1}", viz.recursive_iterations(
            image, results[0], target=rank, title=f"{name}: recursive GLAS for {labels[rank]}"))
            for rank in range(len(targets))]
    maps = np.stack([r.to_numpy() for r in results], axis=1)
    scales = [f"sigma = {sigma_text(s)}" for s in settings.sigmas]
    return [("_glas", viz.multiscale_strip(image, maps, row_labels=labels, scale_labels=scales,
                                           title=f"{name}: GLAS ({settings.mode}), {model.description}"))]


def _resolve_targets(given: list[str] | None, top_k: int | None, probs: np.ndarray, model: Classifier) -> list[int]:
    """Target class indices from ``--target`` (indices or names) or the ``--top-k`` classes."""
    n = int(probs.shape[0])
    if not given:
        k = top_k or DEFAULT_TOP_K
        return [int(i) for i in np.argsort(-probs, kind="stable")[: min(k, n)]]
    lookup = {}
    if model.class_names is not None:
        lookup = {_norm(name): i for i, name in enumerate(model.class_names)}
    targets = []
    for item in given:
        for part in (p for p in item.split(",") if p.strip()):
            part = part.strip()
            if part.lstrip("-").isdigit():
                index = int(part)
                if not 0 <= index < n:
                    raise fail("--target", index, f"a class index in [0, {n}) for this model's {n} outputs",
                               "use --top-k to explain the most probable classes")
            elif _norm(part) in lookup:
                index = lookup[_norm(part)]
            else:
                hint = "pass a class index" if not lookup else "check the spelling or pass a class index"
                raise fail("--target", repr(part), "a class index or a class name of this model", hint)
            targets.append(index)
    return targets


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def _progress(items: list[Any], enabled: bool) -> Any:
    """A bar over images when there are several (it appears only after a second)."""
    if not enabled or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="images", unit="image", delay=1.0)
