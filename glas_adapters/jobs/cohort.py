"""Cohort maps of a finished output folder: per (target, sigma), the sum of every image's
min-max normalised map, min-max normalised again (the paper's cohort map, "linearly integrated
and normalized", as :class:`glas_core.regions.CohortAccumulator` computes it).

The sums are built in parts (:func:`partial_sums`, one accumulator per target and sigma) that
:func:`combine` merges, so Ray workers can each sum their share of the images
(``glas_adapters.ray.cohort_maps``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from glas_adapters.jobs.manifest import MANIFEST
from glas_adapters.jobs.outputs import write_bytes
from glas_core import CohortAccumulator, minmax_normalize
from glas_core.errors import GLASError, fail

COHORT_FILE = "cohort.npz"
#: Partial cohort sums: one accumulator per cohort key (:func:`cohort_key`).
Sums = dict[str, CohortAccumulator]


def final_rows(out_dir: str) -> list[dict[str, Any]]:
    """Manifest rows of the final maps (not recursive iterations), as dicts."""
    import pyarrow.parquet as pq

    path = os.path.join(out_dir, MANIFEST)
    if not os.path.isfile(path):
        raise fail("cohort", f"{out_dir!r} without {MANIFEST}", "a glas explain output folder",
                   "run glas explain first")
    rows = pq.read_table(path, columns=["target", "sigma", "map_file", "map_key", "iteration"]).to_pylist()
    return [r for r in rows if r["iteration"] is None]


def cohort_key(target: int, sigma: str) -> str:
    """The key of the cohort of ``target`` at the scale ``sigma`` (as the manifest writes it)."""
    return f"target{int(target)}_sigma{sigma}"


def partial_sums(out_dir: str, rows: Iterable[dict[str, Any]]) -> Sums:
    """One :class:`~glas_core.CohortAccumulator` of the min-max normalised maps of ``rows`` per cohort key."""
    sums: Sums = {}
    opened: dict[str, Any] = {}
    try:
        for row in rows:
            if row["map_file"] not in opened:
                opened[row["map_file"]] = np.load(os.path.join(out_dir, row["map_file"]), allow_pickle=False)
            m = minmax_normalize(opened[row["map_file"]][row["map_key"]].astype(np.float64))
            key = cohort_key(row["target"], row["sigma"])
            with _named(key):
                sums.setdefault(key, CohortAccumulator(n_spatial=2)).add(m)
    finally:
        for npz in opened.values():
            npz.close()
    return sums


def combine(parts: Iterable[Sums]) -> Sums:
    """Merge partial sums (:meth:`glas_core.CohortAccumulator.merge`)."""
    out: Sums = {}
    for part in parts:
        for key, accumulator in part.items():
            with _named(key):
                out.setdefault(key, CohortAccumulator(n_spatial=2)).merge(accumulator)
    return out


def finish(sums: Sums) -> dict[str, np.ndarray]:
    """The cohort maps: each sum min-max normalised to [0, 1]."""
    return {key: accumulator.map() for key, accumulator in sorted(sums.items())}


@contextmanager
def _named(key: str) -> Iterator[None]:
    """Name the cohort key when its maps do not share one shape."""
    try:
        yield
    except GLASError as exc:
        raise fail("cohort", f"maps of several shapes for {key} ({' '.join(str(exc).split())})",
                   "one map shape per cohort", "explain every image at the same model input size") from None


def cohort_maps(out_dir: str) -> dict[str, np.ndarray]:
    """Cohort maps of every finished image of ``out_dir``, computed in this process."""
    return finish(partial_sums(out_dir, final_rows(out_dir)))


def write_cohort(out_dir: str, maps: dict[str, np.ndarray]) -> str:
    """``OUT/cohort.npz``: one float32 map per cohort key; its path."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {k: v.astype(np.float32) for k, v in maps.items()}
    np.savez_compressed(buffer, **arrays)
    path = os.path.join(out_dir, COHORT_FILE)
    write_bytes(path, buffer.getvalue())
    return path
