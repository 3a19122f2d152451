"""``glas report MAPS --out report.html``: an HTML report of a ``glas explain DIR --out MAPS`` output."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_report_parser(sub: Any) -> None:
    """Register the ``report`` subcommand on the ``glas`` parser's subparsers."""
    rep = sub.add_parser("report", help="an HTML report of a folder of maps, to browse in any browser (offline)",
                         description="Write an HTML report of a 'glas explain DIR --out MAPS' output: an index of "
                                     "every image (sortable, filterable) and a view per image with its maps over "
                                     "the photo, every class, sigma and recursive iteration. Nothing is fetched "
                                     "from the network.")
    rep.add_argument("maps", metavar="MAPS", help="the --out folder of glas explain (manifest.parquet and maps/)")
    rep.add_argument("--out", default="report.html",
                     help="HTML file to write (default: report.html); its pictures go to <name>_files/ beside it")
    rep.add_argument("--embed", action="store_true",
                     help="put the pictures inside the HTML: one file to send, for up to a few hundred images")
    rep.add_argument("--title", default=None, help="page title (default: the maps folder's name)")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    """``glas report``: build the report and print what was written."""
    write_report(args.maps, args.out, embed=args.embed, title=args.title, quiet=args.quiet)
    return 0


def write_report(maps_dir: str, out: str, *, embed: bool = False, title: str | None = None,
                 quiet: bool = False) -> Any:
    """Build the report of ``maps_dir`` into ``out`` and print its warnings and size per image.

    What ``glas explain ... --report`` calls once its output is complete, e.g. with
    ``out=os.path.join(args.out, "report.html")``. Returns the :class:`ReportSummary`.
    """
    import importlib.util

    from glas_core.errors import fail

    missing = [m for m in ("pyarrow", "matplotlib", "PIL") if importlib.util.find_spec(m) is None]
    if missing:
        raise fail("the Python environment of glas report", f"one without {', '.join(missing)}",
                   "one with the report extra (pyarrow, matplotlib, Pillow)", "pip install \"glas-xai[report]\"")
    from glas_adapters.report import build_report

    summary = build_report(maps_dir, out, embed=embed, title=title, progress=not quiet)
    for line in summary.missing_photos[:5]:
        print(f"glas: warning: {line}; its maps are shown without the photo", file=sys.stderr)
    for line in summary.unusable_maps[:5]:
        print(f"glas: warning: {line}: the map has NaN or infinite values and is not drawn", file=sys.stderr)
    hidden = len(summary.missing_photos[5:]) + len(summary.unusable_maps[5:])
    if hidden:
        print(f"glas: warning: {hidden} more (listed in the report)", file=sys.stderr)
    where = "pictures embedded" if summary.assets_dir is None else f"pictures in {summary.assets_dir}"
    print(f"wrote {summary.path}: {summary.n_images} images, {summary.n_maps} maps, {where}, "
          f"{summary.bytes_per_image / 1024:.1f} kB per image")
    return summary
