"""Which images (or signals) a job explains: folders, globs and files, sorted, each with a stable id.

A folder is walked for images; a folder holding none is walked for signal files
(``.npy``, ``.wav``, ``.flac``: :mod:`~glas_adapters.jobs.signals`).

An image's id comes from its path relative to the input that found it (the folder itself or a
glob's folder part), so a folder of photos gives the same ids from any working directory and on
any machine; a file named on the command line keeps its path as typed. The output folder is
never read as input.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from glas_core.errors import fail, quoted

#: File name endings read as images when a folder is walked (a file named explicitly is always tried).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".ppm", ".pgm", ".jfif")
#: Signal files (:mod:`~glas_adapters.jobs.signals`), walked in a folder that holds no image.
SIGNAL_SUFFIXES = (".npy", ".wav", ".flac")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ID_PREFIX_CHARS = 80


@dataclass(frozen=True)
class ImageItem:
    """One image of a job.

    Attributes
    ----------
    image_id : str
        Stable, file-name-safe id: the relative path with unsafe characters replaced, plus 8 hex
        digits of its SHA-1 (so ``a b.png`` and ``a_b.png`` stay apart).
    path : str
        The file as found (the input argument joined with the relative path).
    relpath : str
        The path relative to the input that found it, with ``/`` separators.
    targets : tuple of int, optional
        Classes to explain, from a targets CSV (None: the job's rule).
    label : int, optional
        The true class, from a targets CSV.
    """

    image_id: str
    path: str
    relpath: str
    targets: tuple[int, ...] | None = None
    label: int | None = None


def image_id(relpath: str) -> str:
    """The stable id of an image from its relative path (``/`` separators)."""
    digest = hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:8]
    stem = _UNSAFE.sub("_", relpath.replace("/", "__")).strip("._-") or "image"
    return f"{stem[:_ID_PREFIX_CHARS]}-{digest}"


def find_images(inputs: Sequence[str], exclude: str | None = None) -> list[ImageItem]:
    """Every image under ``inputs`` (folders recursively, globs, files), sorted by relative path.

    Parameters
    ----------
    inputs : sequence of str
        Folders, glob patterns (``photos/**/*.jpg``) or files.
    exclude : str, optional
        A folder never read (the job's output folder).

    Raises
    ------
    GLASError
        An input that matches nothing, a folder without images, or two inputs that give the same
        relative path (their ids would collide).
    """
    skip = os.path.realpath(exclude) if exclude else None
    if skip is not None and os.path.isdir(skip):
        _check_no_foreign_images(skip)
    found: dict[str, str] = {}
    for arg in inputs:
        for path, rel in _expand(arg, skip):
            if rel in found and os.path.realpath(found[rel]) != os.path.realpath(path):
                raise fail("IMAGE", f"two inputs with the relative path {quoted(rel)} ({found[rel]!r} and {path!r})",
                           "inputs whose relative paths differ", "pass their common parent folder instead")
            found.setdefault(rel, path)
    return [ImageItem(image_id(rel), found[rel], rel) for rel in sorted(found)]


def _expand(arg: str, skip: str | None) -> list[tuple[str, str]]:
    """``(path, relative path)`` of the images one input names."""
    if os.path.isdir(arg):
        _check_not_output(arg, skip)
        pairs = [(p, _rel(p, arg)) for p in _walk(arg, skip)]
        if not pairs:  # a folder without images is walked for signals (.npy, .wav, .flac)
            pairs = [(p, _rel(p, arg)) for p in _walk(arg, skip, SIGNAL_SUFFIXES)]
        if not pairs:
            raise fail("IMAGE", f"the folder {arg!r}, which holds no image files ({', '.join(IMAGE_SUFFIXES[:4])} ...) "
                       f"nor signal files ({', '.join(SIGNAL_SUFFIXES)})", "a folder with images or signals",
                       "check the folder, or pass a glob such as 'photos/**/*.raw.png'")
        return pairs
    if os.path.exists(arg):
        _check_not_excluded(arg, skip)
        return [(arg, os.path.normpath(arg).replace(os.sep, "/"))]
    if glob.has_magic(arg):
        root = _glob_root(arg)
        _check_not_output(root, skip)
        matches = [p for p in sorted(glob.glob(arg, recursive=True)) if os.path.isfile(p) and not _inside(p, skip)]
        if not matches:
            raise fail("IMAGE", f"the pattern {arg!r}, which matches no file", "a pattern matching image files",
                       "check the pattern (quote it so the shell does not expand it; ** needs a folder part)")
        return [(p, _rel(p, root)) for p in matches]
    raise fail("IMAGE", f"{arg!r}, which was not found", "an image file, a folder or a glob pattern", "check the path")


def _walk(folder: str, skip: str | None, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> Iterable[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(os.path.join(root, d), skip))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(suffixes):
                yield os.path.join(root, name)


def _glob_root(pattern: str) -> str:
    """The folder part of a glob before its first wildcard."""
    parts = pattern.replace(os.sep, "/").split("/")
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "."


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _inside(path: str, folder: str | None) -> bool:
    if folder is None:
        return False
    real = os.path.realpath(path)
    return real == folder or real.startswith(folder + os.sep)


def _check_no_foreign_images(out: str) -> None:
    """Refuse an output folder holding images glas did not draw (they would never be explained)."""
    figures = os.path.join(out, "figures")
    for path in _walk(out, None):
        if not _inside(path, figures):
            raise fail("--out", f"a folder holding the image {path!r}", "a new folder or one glas wrote",
                       "pick another --out: glas never reads its output folder as input")


def _check_not_output(folder: str, skip: str | None) -> None:
    if _inside(folder, skip):
        raise fail("--out", f"a folder holding the input {folder!r}", "a folder outside the inputs",
                   "pick another --out (e.g. a new folder beside the images)")


def _check_not_excluded(path: str, skip: str | None) -> None:
    if _inside(path, skip):
        raise fail("IMAGE", f"{path!r}, which lies inside --out", "an input outside the output folder",
                   "pass another --out, or move the file: glas never reads or overwrites its own outputs as inputs")


def read_targets_csv(path: str, items: list[ImageItem]) -> list[ImageItem]:
    """``items`` with the targets (and true labels) of a CSV with columns ``image`` and ``target``/``label``.

    ``image`` names an image by its relative path or by its path as found; ``target`` holds one
    class index per row (several rows or ``;``-separated indices for several targets); an
    optional ``label`` column holds the true class, which is also the target when the CSV has no
    ``target`` column. Only the images the CSV names are explained.

    Raises
    ------
    GLASError
        A missing file or column, a non-integer index, or a row naming an image not found.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            columns = set(rows[0]) if rows else set()
    except OSError as exc:
        raise fail("--targets-csv", f"{path!r}, which cannot be read ({exc.strerror or exc})", "a readable CSV file",
                   "check the path") from None
    if "image" not in columns or not ({"target", "label"} & columns):
        raise fail("--targets-csv", f"{path!r} with columns {sorted(columns)}",
                   "a CSV with a header naming 'image' and 'target' (and optionally 'label')",
                   "write a header line such as: image,target")
    by_name = {}
    for item in items:
        by_name[item.relpath] = item
        by_name[os.path.normpath(item.path).replace(os.sep, "/")] = item
    targets: dict[str, list[int]] = {}
    labels: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        name = os.path.normpath((row.get("image") or "").strip()).replace(os.sep, "/")
        if name not in by_name:
            raise fail("--targets-csv", f"line {number} naming {quoted(name)}, which is not among the input images",
                       "image paths relative to the input folder", "fix the row, or pass the folder the CSV refers to")
        item = by_name[name]
        chosen = targets.setdefault(item.image_id, [])
        if "label" in columns and (row.get("label") or "").strip():
            labels[item.image_id] = _index(row["label"], path, number, "label")
        text = row.get("target") if "target" in columns else row.get("label")
        for part in (text or "").split(";"):
            if part.strip():
                index = _index(part, path, number, "target")
                if index not in chosen:
                    chosen.append(index)
    out = []
    for item in items:
        if item.image_id in targets:
            if not targets[item.image_id]:
                raise fail("--targets-csv", f"no target for {quoted(item.relpath)}",
                           "at least one class index per image",
                           "fill its target column")
            out.append(ImageItem(item.image_id, item.path, item.relpath, tuple(targets[item.image_id]),
                                 labels.get(item.image_id)))
    return out


def _index(text: str, path: str, line: int, column: str) -> int:
    value = text.strip()
    if not value.lstrip("-").isdigit() or int(value) < 0:
        raise fail("--targets-csv", f"{quoted(value)} in the {column} column of {path!r}, line {line}",
                   "a non-negative class index", "write class indices, not names")
    return int(value)
