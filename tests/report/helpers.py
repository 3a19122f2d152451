"""Outputs of ``glas explain DIR --out OUT`` for the report's tests, built here from real GLAS maps.

:func:`make_output` writes what the data-set job writes (``OUT/manifest.parquet`` and
``OUT/maps/<image_id>.npz``, one float16 map per key) for tiny synthetic photos: coloured
squares on grey, and a NumPy "classifier" whose class k is the redness of one quadrant, so each
class's map lights up a known place. The maps come from ``glas_core.explain``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import glas_core

CLASS_NAMES = ["top-left", "top-right", "bottom-left", "bottom-right"]


@dataclass
class Spec:
    """One image of a test output."""

    name: str
    quadrant: int                          # where the red square is
    targets: Sequence[int] = (0, 1)        # explained classes
    label: int | None = None
    iterations: Sequence[int] = ()         # recursive runs: extra maps per iteration
    size: int = 24
    red: float = 0.95                      # how red the square is: the score rises with it
    extra: dict[str, Any] = field(default_factory=dict)


def photo(spec: Spec) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1]: grey, a red square in one quadrant."""
    s = spec.size
    img = np.full((s, s, 3), 0.4)
    r0, c0 = (spec.quadrant // 2) * s // 2, (spec.quadrant % 2) * s // 2
    img[r0 + s // 8: r0 + 3 * s // 8, c0 + s // 8: c0 + 3 * s // 8] = (spec.red, 0.1, 0.1)
    return img


def score_fn(batch: np.ndarray) -> np.ndarray:
    """``(B, 3, H, W)`` -> ``(B, 4)``: softmax over the redness of the four quadrants."""
    red = batch[:, 0] - 0.5 * (batch[:, 1] + batch[:, 2])
    h, w = red.shape[1] // 2, red.shape[2] // 2
    quads = np.stack([red[:, :h, :w], red[:, :h, w:], red[:, h:, :w], red[:, h:, w:]], axis=1).mean(axis=(2, 3))
    e = np.exp(8.0 * (quads - quads.max(axis=1, keepdims=True)))
    return e / e.sum(axis=1, keepdims=True)


def write_png(path: str, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)


def make_output(root: str, specs: Sequence[Spec], sigmas: Sequence[str] = ("5,3,6", "1"),
                grid: int = 6, rows_hook: Any = None) -> str:
    """Write photos under ``root/photos`` and their output under ``root/maps``; returns the maps folder.

    ``rows_hook(rows)`` may edit the manifest rows (a list of dicts) before they are written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = os.path.join(root, "maps")
    os.makedirs(os.path.join(out, "maps"), exist_ok=True)
    os.makedirs(os.path.join(root, "photos"), exist_ok=True)
    rows = []
    for spec in specs:
        path = os.path.join(root, "photos", spec.name)
        image = photo(spec)
        write_png(path, image)
        x = np.moveaxis(image, -1, 0)
        image_id = os.path.splitext(spec.name)[0]
        arrays = {}
        for sigma in sigmas:
            value = tuple(float(v) for v in sigma.split(","))
            res = glas_core.explain(lambda b, s=spec: score_fn(b)[:, list(s.targets)], x, grid=grid,
                                    sigma=value[0] if len(value) == 1 else value)
            maps = res.to_numpy()
            for k, target in enumerate(spec.targets):
                layers = [(None, maps[k])] + [(it, maps[k] * (0.5 ** it) + it) for it in spec.iterations]
                for iteration, saliency in layers:
                    key = f"t{target}_s{sigma}" + ("" if iteration is None else f"_i{iteration}")
                    arrays[key] = saliency.astype(np.float16)
                    rows.append({
                        "image_id": image_id, "path": path, "target": target, "class_name": CLASS_NAMES[target],
                        "clean_score": float(res.clean_scores[k]), "sigma": sigma, "grid": grid, "mode": "fusion",
                        "n_forward": res.n_forward, "map_file": f"maps/{image_id}.npz", "map_key": key,
                        "height": spec.size, "width": spec.size, "label": spec.label, "iteration": iteration,
                        **spec.extra,
                    })
        np.savez_compressed(os.path.join(out, "maps", f"{image_id}.npz"), **arrays)
    if rows_hook is not None:
        rows = rows_hook(rows)
    schema = pa.schema([("image_id", pa.string()), ("path", pa.string()), ("target", pa.int64()),
                        ("class_name", pa.string()), ("clean_score", pa.float64()), ("sigma", pa.string()),
                        ("grid", pa.int64()), ("mode", pa.string()), ("n_forward", pa.int64()),
                        ("map_file", pa.string()), ("map_key", pa.string()), ("height", pa.int64()),
                        ("width", pa.int64()), ("label", pa.int64()), ("iteration", pa.int64())])
    table = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    pq.write_table(table, os.path.join(out, "manifest.parquet"))
    return out


def page_data(html_path: str) -> dict[str, Any]:
    """The JSON data block of a report page, as the page's script reads it."""
    with open(html_path, encoding="utf-8") as fh:
        text = fh.read()
    match = re.search(r'<script id="glas-data" type="application/json">(.*?)</script>', text, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


SPECS = [
    Spec("a_top_left.png", 0, targets=(0, 1), label=0, red=0.9),
    Spec("b_top_right.png", 1, targets=(1, 3), label=3, red=0.6),   # the model says top-right: wrong
    Spec("c_bottom_left.png", 2, targets=(2,), label=None, iterations=(1, 2), red=0.75),
    Spec("d_bottom_right.png", 3, targets=(3, 0), label=3, red=1.0),
]
