"""Read a ``glas explain DIR --out OUT`` output: ``OUT/manifest.parquet`` and ``OUT/maps/*.npz``.

The contract, one manifest row per (image, target, sigma[, iteration]):

============  =============  ==============================================================
column        type           meaning
============  =============  ==============================================================
image_id      str            stable id of the image
path          str            the image file
target        int            explained class
class_name    str            its name
clean_score   float          P(target | clean image)
sigma         str            the scale, e.g. ``"5,3,6"`` or ``"3"``
grid          int            search points per axis
mode          str            fusion, light or shadow
n_forward     int            forward passes of the sweep
map_file      str            the ``.npz`` holding the map, relative to OUT
map_key       str            the map's key in that file
height/width  int            the map's shape
label         int or null    the true class, when given
iteration     int or null    recursive runs: the iteration of this map
runtime       str or null    what ran the forward passes (``torch``, ``onnx`` ...); optional:
                             a manifest without it (written before glas recorded it) or a
                             null reads as ``"unknown"``
object        int or null    detectors and segmenters: the detection's (region's) rank;
                             optional, like the four below (null in a classifier's rows)
box_x1 ...    float or null  a detection's box, ``box_x1, box_y1, box_x2, box_y2``, in pixels
                             of the map's ``width`` x ``height`` image (all four or none)
region_pixels int or null    a region's size on the segmenter's output grid
mask_key      str or null    a region's 0/1 mask in ``map_file`` (:func:`load_masks`)
============  =============  ==============================================================

For detection and region rows the report's targets are the objects (two detections of one
class are two targets), not the classes. Anything else in the manifest is ignored. Every
break of the contract is refused with a :class:`glas_core.GLASError` naming the row's image
and the column.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glas_adapters.jobs.manifest import MANIFEST
from glas_core.errors import fail, quoted

_TEXT, _INT, _FLOAT = "text", "integer", "number"
#: column -> (kind, nullable)
COLUMNS: dict[str, tuple[str, bool]] = {
    "image_id": (_TEXT, False), "path": (_TEXT, False), "target": (_INT, False), "class_name": (_TEXT, False),
    "clean_score": (_FLOAT, False), "sigma": (_TEXT, False), "grid": (_INT, False), "mode": (_TEXT, False),
    "n_forward": (_INT, False), "map_file": (_TEXT, False), "map_key": (_TEXT, False), "height": (_INT, False),
    "width": (_INT, False), "label": (_INT, True), "iteration": (_INT, True),
}
#: optional columns -> (kind, the value of a missing column or a null)
OPTIONAL: dict[str, tuple[str, Any]] = {
    "runtime": (_TEXT, "unknown"), "object": (_INT, None), "box_x1": (_FLOAT, None), "box_y1": (_FLOAT, None),
    "box_x2": (_FLOAT, None), "box_y2": (_FLOAT, None), "region_pixels": (_INT, None), "mask_key": (_TEXT, None),
}
_BOX = ("box_x1", "box_y1", "box_x2", "box_y2")


@dataclass(frozen=True)
class MapRow:
    """One manifest row and its map."""

    target: int
    class_name: str
    clean_score: float
    sigma: str
    grid: int
    mode: str
    n_forward: int
    map_file: str
    map_key: str
    iteration: int | None
    shape: tuple[int, int]  # (height, width)
    row: int                # its row in the manifest, for messages
    runtime: str = "unknown"  # what ran the forward passes
    object: int | None = None  # a detection's or region's rank on its image
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in pixels of the map's image
    region_pixels: int | None = None
    mask_key: str | None = None  # the region's mask in map_file

    @property
    def key(self) -> tuple[str, int]:
        """What the report's target selector tells apart: the object on the image, else the class."""
        return ("object", self.object) if self.object is not None else ("class", self.target)


@dataclass
class ImageRecord:
    """Every map of one image, in manifest order (the maps themselves: :func:`load_maps`)."""

    image_id: str
    path: str
    label: int | None
    rows: list[MapRow] = field(default_factory=list)


def read_output(out_dir: str | os.PathLike) -> list[ImageRecord]:
    """The images of a ``glas explain`` output folder, in manifest order; their maps stay on disk.

    Every row is checked here, and every map file's presence; each map is read, and checked,
    by :func:`load_maps`, one image at a time, so memory stays that of one image.

    Parameters
    ----------
    out_dir : str or path-like
        The folder holding ``manifest.parquet`` and ``maps/``.

    Raises
    ------
    GLASError
        A missing or unreadable manifest, a missing column or one of the wrong type, an empty
        manifest, a null where the contract has none, a non-finite clean score, two rows for
        one map, or a map file outside the folder or missing.
    """
    import pyarrow.parquet as pq

    folder = os.fspath(out_dir)
    manifest = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise fail("maps folder", quoted(folder), "the --out folder of 'glas explain DIR --out OUT'",
                   "check the path" if not os.path.exists(folder) else "pass the folder, not a file")
    if not os.path.isfile(manifest):
        raise fail("maps folder", f"{folder!r}, which has no {MANIFEST}",
                   f"the --out folder of 'glas explain DIR --out OUT' (it holds {MANIFEST} and maps/)",
                   "run glas explain first, or pass the folder it wrote")
    try:
        table = pq.read_table(manifest)
    except Exception as exc:  # any Arrow failure means the file is not a readable manifest
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise fail("manifest", f"{manifest!r}, which could not be read ({reason})", "a Parquet file",
                   "rerun glas explain on the same folder; it rewrites the manifest") from None
    columns = _columns(table, manifest)
    if table.num_rows == 0:
        raise fail("manifest", f"{manifest!r} with no rows", "at least one explained image",
                   "run glas explain to the end (a rerun finishes what is missing)")
    return _records(folder, columns, table.num_rows)


def _columns(table: Any, manifest: str) -> dict[str, list[Any]]:
    """The contract's columns as Python lists, after checking their presence and types."""
    import pyarrow as pa

    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise fail("manifest", f"{manifest!r} without the column(s) {', '.join(missing)}",
                   "every column of the glas explain output", "rebuild it with glas explain")
    checks = {_TEXT: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
              _INT: pa.types.is_integer,
              _FLOAT: lambda t: pa.types.is_floating(t) or pa.types.is_integer(t)}
    out = {}
    for name, (kind, nullable) in COLUMNS.items():
        kind_ok = checks[kind](table.schema.field(name).type)
        if not (kind_ok or (nullable and pa.types.is_null(table.schema.field(name).type))):
            raise fail(f"manifest column {name!r}", f"type {table.schema.field(name).type}",
                       f"{kind} values", "rebuild the manifest with glas explain")
        values = table.column(name).to_pylist()
        if not nullable and None in values:
            row = values.index(None)
            raise fail(f"manifest column {name!r}", f"a null in row {row}", "a value in every row",
                       "rebuild the manifest with glas explain")
        out[name] = values
    for name, (kind, missing_value) in OPTIONAL.items():
        if name not in table.column_names:
            out[name] = [missing_value] * table.num_rows
            continue
        field_type = table.schema.field(name).type
        if not (checks[kind](field_type) or pa.types.is_null(field_type)):
            raise fail(f"manifest column {name!r}", f"type {field_type}", f"{kind} values",
                       "rebuild the manifest with glas explain")
        out[name] = [missing_value if v is None else v for v in table.column(name).to_pylist()]
    return out


def load_maps(out_dir: str | os.PathLike, record: ImageRecord) -> list[np.ndarray]:
    """The maps of one image's rows, as stored (float16 by the contract), in row order.

    Raises
    ------
    GLASError
        A map file that is not a readable ``.npz``, a missing key, or a map that is not a
        float array of the row's (height, width).
    """
    folder = os.fspath(out_dir)
    opened: dict[str, Any] = {}
    maps = []
    try:
        for row in record.rows:
            where = f"manifest row {row.row} (image {record.image_id!r})"
            if row.map_file not in opened:
                path = os.path.join(folder, row.map_file)
                try:
                    opened[row.map_file] = np.load(path, allow_pickle=False)
                except Exception as exc:  # zip or format errors: the file is not a readable .npz
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    raise fail(f"{where} map_file", f"{path!r}, which could not be read ({reason})", "a .npz file",
                               "delete it and rerun glas explain on the same folder") from None
            npz = opened[row.map_file]
            if row.map_key not in npz.files:
                raise fail(f"{where} map_key", quoted(row.map_key),
                           f"a key of {row.map_file} ({', '.join(npz.files[:5])})",
                           "rebuild the manifest with glas explain")
            arr = npz[row.map_key]
            if arr.shape != row.shape or not np.issubdtype(arr.dtype, np.floating):
                raise fail(f"{where} map {row.map_key!r}", f"a {arr.dtype} array of shape {arr.shape}",
                           f"a float map of shape {row.shape} (height, width)", "rebuild the output with glas explain")
            maps.append(arr)
    finally:
        for npz in opened.values():
            npz.close()
    return maps


def _records(folder: str, cols: dict[str, list[Any]], n_rows: int) -> list[ImageRecord]:
    records: dict[str, ImageRecord] = {}
    seen: set[tuple[str, int, str, int | None, int | None]] = set()
    present: set[str] = set()
    for i in range(n_rows):
        row = {name: cols[name][i] for name in (*COLUMNS, *OPTIONAL)}
        image_id = row["image_id"]
        where = f"manifest row {i} (image {image_id!r})"
        rec = records.get(image_id)
        if rec is None:
            rec = records[image_id] = ImageRecord(image_id, row["path"], row["label"])
        elif (rec.path, rec.label) != (row["path"], row["label"]):
            raise fail(where, "another path or label than its earlier rows",
                       "one path and one label per image_id", "rebuild the manifest with glas explain")
        key = (image_id, row["target"], row["sigma"], row["iteration"], row["object"])
        if key in seen:
            raise fail(where, f"a second map for target {row['target']}, sigma {row['sigma']!r}"
                       + ("" if row["iteration"] is None else f", iteration {row['iteration']}")
                       + ("" if row["object"] is None else f", object {row['object']}"),
                       "one map per image, target, sigma, iteration and object",
                       "rebuild the manifest with glas explain")
        seen.add(key)
        if not math.isfinite(row["clean_score"]):
            raise fail(where, f"clean_score {row['clean_score']}", "a finite score", "rerun glas explain on this image")
        if row["map_file"] not in present:
            _check_map_file(folder, row["map_file"], where)
            present.add(row["map_file"])
        rec.rows.append(MapRow(int(row["target"]), row["class_name"], float(row["clean_score"]), row["sigma"],
                               int(row["grid"]), row["mode"], int(row["n_forward"]), row["map_file"],
                               row["map_key"], row["iteration"], (int(row["height"]), int(row["width"])), i,
                               str(row["runtime"]), row["object"], _box(row, where), row["region_pixels"],
                               row["mask_key"]))
    return list(records.values())


def _box(row: dict[str, Any], where: str) -> tuple[float, float, float, float] | None:
    """A detection row's box, checked: all four corners or none, finite, x1 <= x2 and y1 <= y2."""
    values = [row[c] for c in _BOX]
    if all(v is None for v in values):
        return None
    if any(v is None or not math.isfinite(v) for v in values) or values[0] > values[2] or values[1] > values[3]:
        raise fail(f"{where} box", f"{values}", "four finite corners x1 <= x2, y1 <= y2 (or four nulls)",
                   "rebuild the manifest with glas explain")
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def load_masks(out_dir: str | os.PathLike, record: ImageRecord) -> list[np.ndarray | None]:
    """The boolean region of each of one image's rows (None for rows without ``mask_key``), in row order.

    Raises
    ------
    GLASError
        A missing key, or a mask that is not a 2-D array of 0s and 1s.
    """
    folder = os.fspath(out_dir)
    masks: list[np.ndarray | None] = []
    opened: dict[str, Any] = {}
    try:
        for row in record.rows:
            if row.mask_key is None:
                masks.append(None)
                continue
            where = f"manifest row {row.row} (image {record.image_id!r})"
            if row.map_file not in opened:
                opened[row.map_file] = np.load(os.path.join(folder, row.map_file), allow_pickle=False)
            npz = opened[row.map_file]
            if row.mask_key not in npz.files:
                raise fail(f"{where} mask_key", quoted(row.mask_key), f"a key of {row.map_file}",
                           "rebuild the output with glas explain")
            arr = npz[row.mask_key]
            if arr.ndim != 2 or not np.all((arr == 0) | (arr == 1)):
                raise fail(f"{where} mask {row.mask_key!r}", f"an array of shape {arr.shape} with values other "
                           "than 0 and 1" if arr.ndim == 2 else f"an array of shape {arr.shape}",
                           "a 2-D mask of 0s and 1s", "rebuild the output with glas explain")
            masks.append(arr.astype(bool))
    finally:
        for npz in opened.values():
            npz.close()
    return masks


def _check_map_file(folder: str, rel: str, where: str) -> None:
    parts = rel.replace("\\", "/").split("/")
    if os.path.isabs(rel) or ".." in parts:
        raise fail(f"{where} map_file", quoted(rel), "a path inside the maps folder",
                   "rebuild the manifest with glas explain")
    path = os.path.join(folder, rel)
    if not os.path.isfile(path):
        raise fail(f"{where} map_file", f"{path!r}, which does not exist", "an existing .npz file",
                   "rerun glas explain on the same folder to finish the output")
