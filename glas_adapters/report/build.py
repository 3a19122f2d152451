"""Build the report: read the maps folder, draw every picture, write the page."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glas_adapters._common import Progress
from glas_core.errors import GLASError, fail, quoted

from . import assets
from .manifest import MANIFEST, ImageRecord, MapRow, load_maps, load_masks, read_output
from .page import render_page
from .shapes import add_shapes


@dataclass
class ReportSummary:
    """What :func:`build_report` wrote.

    Attributes
    ----------
    path : str
        The HTML file.
    assets_dir : str or None
        The folder of pictures beside it (None when embedded).
    n_images, n_maps : int
        Images and maps in the report.
    html_bytes, asset_bytes : int
        Size of the HTML file and of all pictures (inside it when embedded).
    missing_photos : list of str
        Images whose photo could not be read (their maps are shown alone), with the reason.
    unusable_maps : list of str
        Maps with NaN or infinite values, listed on the page and not drawn.
    """

    path: str
    assets_dir: str | None
    n_images: int
    n_maps: int
    html_bytes: int
    asset_bytes: int
    missing_photos: list[str] = field(default_factory=list)
    unusable_maps: list[str] = field(default_factory=list)

    @property
    def bytes_per_image(self) -> float:
        """Bytes on disk per image, HTML and pictures together."""
        return (self.html_bytes + (0 if self.assets_dir is None else self.asset_bytes)) / max(self.n_images, 1)


def build_report(maps_dir: str | os.PathLike, out: str | os.PathLike = "report.html", *, embed: bool = False,
                 title: str | None = None, progress: bool | Callable[[int, int], None] | None = False,
                 ) -> ReportSummary:
    """Write an HTML report of a ``glas explain DIR --out maps_dir`` output.

    Parameters
    ----------
    maps_dir : str or path-like
        The folder with ``manifest.parquet`` and ``maps/`` (see :mod:`glas_adapters.report.manifest`).
    out : str or path-like
        The ``.html`` file to write. Its pictures go to ``<name>_files/`` beside it unless ``embed``.
    embed : bool
        Put every picture inside the HTML as a data: URI: one file to send, about 4/3 the
        bytes, and the browser reads all of it before showing anything (fine up to a few hundred images).
    title : str, optional
        Page title (default: the maps folder's name).
    progress : bool or callable
        True for a bar over images, or a callable ``(done, total)``.

    Returns
    -------
    ReportSummary

    Raises
    ------
    GLASError
        A maps folder that breaks the output contract, an ``out`` that is not a writable
        ``.html`` file or that is one of the report's inputs, a pictures folder that exists and
        is not a glas report's. The previous report, if any, stays whole.
    """
    from glas_adapters.jobs.outputs import check_output_file, write_atomically

    folder = os.fspath(maps_dir)
    out_path = os.fspath(out)
    if not out_path.lower().endswith((".html", ".htm")):
        raise fail("report file", quoted(out_path), "a name ending in .html", "e.g. report.html")
    check_output_file(out_path, os.path.splitext(out_path)[1].lower())
    records = read_output(folder)
    photos = {r.image_id: _photo_path(r.path, folder) for r in records}
    assets_dir = None if embed else os.path.splitext(out_path)[0] + "_files"
    _check_not_input(out_path, assets_dir, folder, records, photos)

    summary = ReportSummary(out_path, assets_dir, len(records), sum(len(r.rows) for r in records), 0, 0)
    with assets.Assets(assets_dir) as sink, Progress(progress, desc="report", unit="image",
                                                     total=len(records)) as bar:
        tick = bar.sweep()
        bar_src = sink.add("colorbar.png", assets.encode(assets.colour_bar(), "png"))
        label_names = _label_names(records)
        images = []
        for n, rec in enumerate(records):
            saliency = load_maps(folder, rec)  # one image's maps in memory at a time
            entry = _image_entry(n, rec, saliency, photos[rec.image_id], sink, label_names, summary)
            add_shapes(entry, rec, load_masks(folder, rec))
            images.append(entry)
            if tick is not None:
                tick(n + 1, len(records))
        data = {
            "title": title or os.path.basename(os.path.abspath(folder)),
            "source": os.path.abspath(folder),
            "generated": datetime.datetime.now().isoformat(timespec="seconds"),
            "cmap": assets.DEFAULT_CMAP, "alpha": assets.DEFAULT_ALPHA, "colorbar": bar_src,
            "labels": any(r.label is not None for r in records),
            "images": images,
        }
        html = render_page(data).encode("utf-8")
        write_atomically(out_path, lambda fh: fh.write(html))
        sink.commit()
        summary.html_bytes = len(html)
        summary.asset_bytes = sink.bytes_written
    return summary


def sigma_sort_key(sigma: str) -> tuple[int, tuple[float, ...]]:
    """Coarse to fine: larger scales first (light, shadow, spatial compared in turn; "3" is 3,3,3),
    labels that are not numbers last."""
    try:
        values = tuple(float(v) for v in sigma.replace(" ", "").split(","))
    except ValueError:
        return (1, ())
    return (0, tuple(-v for v in (values * 3 if len(values) == 1 else values)))


def _image_entry(n: int, rec: ImageRecord, saliency: list[np.ndarray], photo_path: str | None, sink: assets.Assets,
                 label_names: dict[int, str], summary: ReportSummary) -> dict[str, Any]:
    photo, note = _read_photo(rec, photo_path)
    if note:
        summary.missing_photos.append(f"{rec.image_id}: {note}")
    # a classifier's targets are its classes; a detector's (segmenter's) its detections (regions)
    scores: dict[tuple[str, int], tuple[str, float, int]] = {}
    for row in rec.rows:
        scores.setdefault(row.key, (row.class_name, row.clean_score, row.target))
    targets = sorted(scores, key=lambda t: (-scores[t][1], t))
    sigmas = sorted({row.sigma for row in rec.rows}, key=sigma_sort_key)
    iterations = sorted({row.iteration for row in rec.rows}, key=lambda i: -1 if i is None else i)
    top = targets[0]
    maps = []
    for k, (row, values) in enumerate(zip(rec.rows, saliency)):
        maps.append(_map_entry(f"{n}_{k}", row, values, targets, sigmas, iterations, sink))
        if maps[-1]["status"] == "nonfinite":
            summary.unusable_maps.append(f"{rec.image_id}: target {row.target}, sigma {row.sigma}")
    thumb_map = _thumbnail_map(rec.rows, saliency, top, sigmas)
    thumb = assets.overlay_thumbnail(photo, thumb_map) if photo is not None or thumb_map is not None else None
    # PNG for tiny pictures (JPEG's 8-px blocks would show), JPEG for photographs.
    fmt = "png" if photo is not None and max(photo.shape[:2]) <= assets.SMALL_PHOTO else "jpg"
    tfmt = "png" if thumb is not None and max(thumb.shape[:2]) < assets.THUMB_SIDE else "jpg"
    entry: dict[str, Any] = {
        "id": rec.image_id, "name": os.path.basename(rec.path) or rec.image_id, "path": rec.path,
        "photo": None if photo is None else sink.add(f"p/{n}.{fmt}", assets.encode(photo, fmt)),
        "photo_px": None if photo is None else [int(photo.shape[0]), int(photo.shape[1])],
        "photo_note": note,
        "aspect": ((photo.shape[0] / photo.shape[1]) if photo is not None
                   else rec.rows[0].shape[0] / rec.rows[0].shape[1]),
        "thumb": None if thumb is None else sink.add(f"t/{n}.{tfmt}", assets.encode(thumb, tfmt)),
        "targets": [{"target": scores[t][2], "name": scores[t][0], "score": scores[t][1]} for t in targets],
        "sigmas": sigmas, "iterations": iterations, "maps": maps,
        "top": scores[top][2], "top_name": scores[top][0], "score": scores[top][1],
        "label": rec.label, "label_name": None if rec.label is None else label_names.get(rec.label),
        "wrong": _wrong(rec.label, scores[top][2], [scores[t][2] for t in targets]),
    }
    return entry


def _map_entry(name: str, row: MapRow, saliency: np.ndarray, targets: list[tuple[str, int]], sigmas: list[str],
               iterations: list[int | None], sink: assets.Assets) -> dict[str, Any]:
    status = assets.map_status(saliency)
    finite = status != "nonfinite"
    values = np.asarray(saliency, dtype=np.float64)
    return {
        "t": targets.index(row.key), "s": sigmas.index(row.sigma), "i": iterations.index(row.iteration),
        "src": sink.add(f"m/{name}.png", assets.encode(assets.colourise(values), "png")) if finite else None,
        "status": status,
        "lo": float(values.min()) if finite else None, "hi": float(values.max()) if finite else None,
        "grid": row.grid, "mode": row.mode, "n_forward": row.n_forward, "runtime": row.runtime,
        "shape": list(saliency.shape), "dtype": str(saliency.dtype),
        "file": row.map_file, "key": row.map_key,
    }


def _thumbnail_map(rows: list[MapRow], saliency: list[np.ndarray], top: tuple[str, int], sigmas: list[str]
                   ) -> np.ndarray | None:
    """The top target's map at the coarsest scale (final map of a recursive run), if it is finite."""
    candidates = [(r, m) for r, m in zip(rows, saliency) if r.key == top and r.sigma == sigmas[0]]
    candidates.sort(key=lambda rm: (rm[0].iteration is not None, -(rm[0].iteration or 0)))
    for _, m in candidates:
        if assets.map_status(m) != "nonfinite":
            return np.asarray(m, dtype=np.float64)
    return None


def _wrong(label: int | None, top: int, targets: list[int]) -> bool | None:
    """Was the top explained class other than the label? None when unknown.

    Unknown without a label, and when the only class explained is the label itself (the run
    was told which classes to explain, so the model's own prediction is not in the output).
    """
    if label is None or targets == [label]:
        return None
    return top != label


def _label_names(records: list[ImageRecord]) -> dict[int, str]:
    return {row.target: row.class_name for rec in records for row in rec.rows}


def _photo_path(path: str, folder: str) -> str | None:
    """The photo file: absolute paths as they are; relative ones from here, then from the maps folder."""
    candidates = [path] if os.path.isabs(path) else [path, os.path.join(folder, path)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def _read_photo(rec: ImageRecord, path: str | None) -> tuple[np.ndarray | None, str | None]:
    from glas_adapters.jobs.image_io import load_image

    if path is None:
        return None, f"photo not found at {rec.path!r}"
    try:
        return assets.display_photo(load_image(path)), None
    except GLASError as exc:
        return None, " ".join(str(exc).split())


def _check_not_input(out: str, assets_dir: str | None, folder: str, records: list[ImageRecord],
                     photos: dict[str, str | None]) -> None:
    """Refuse an output that would replace or sit inside something the report reads."""
    inputs = {os.path.realpath(os.path.join(folder, MANIFEST))}
    inputs.update(os.path.realpath(os.path.join(folder, row.map_file)) for r in records for row in r.rows)
    inputs.update(os.path.realpath(p) for p in photos.values() if p is not None)
    if os.path.realpath(out) in inputs:
        raise fail("report file", quoted(out), "a new file, not one of the report's inputs",
                   "pick another --out, e.g. report.html beside the maps folder")
    if assets_dir is None:
        return
    real = os.path.realpath(assets_dir)
    inside = [p for p in inputs | {os.path.realpath(folder)} if p == real or p.startswith(real + os.sep)]
    if inside:
        raise fail("report pictures folder", quoted(assets_dir), "a folder that holds none of the report's inputs",
                   f"it would replace {inside[0]!r}; pick another --out")
    if os.path.exists(assets_dir) and not os.path.isfile(os.path.join(assets_dir, assets.MARKER)):
        raise fail("report pictures folder", f"{assets_dir!r}, which exists and was not written by glas report",
                   "a new folder or one of an earlier glas report", "pick another --out, or move that folder")
