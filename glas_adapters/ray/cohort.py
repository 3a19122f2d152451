"""Cohort maps reduced across Ray workers: each task sums its share of the maps, the driver adds the parts."""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from glas_adapters.jobs.cohort import combine, final_rows, finish, partial_sums
from glas_adapters.ray.engine import DEFAULT_WORKERS, connect


def _partial_sums(batch: dict[str, np.ndarray], out_dir: str) -> dict[str, np.ndarray]:
    """A Ray Data batch of manifest rows -> one row per cohort key: its accumulator, pickled.

    Pickle is safe here: the driver only unpickles what its own workers made.
    """
    n = len(batch["map_key"])
    rows = [{name: batch[name][i] for name in ("target", "sigma", "map_file", "map_key")} for i in range(n)]
    sums = partial_sums(out_dir, rows)
    return {"key": np.asarray(list(sums), dtype=object),
            "accumulator": np.asarray([pickle.dumps(a) for a in sums.values()], dtype=object)}


def cohort_maps(out_dir: str, *, workers: int | None = None, address: str | None = None) -> dict[str, np.ndarray]:
    """Cohort maps of a finished output folder (see :mod:`glas_adapters.jobs.cohort`), summed on Ray.

    The folder must be readable by every worker (a shared disk). Equal to the in-process
    ``glas_adapters.jobs.cohort.cohort_maps`` up to the order of the float64 sums.
    """
    n_workers = workers or DEFAULT_WORKERS
    ray, started = connect(address, n_workers)
    try:
        rows = final_rows(out_dir)
        if not rows:
            return {}
        folder = os.path.abspath(out_dir)
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), n_workers))
        per_task = max(1, -(-len(rows) // n_workers))
        parts = ds.map_batches(_partial_sums, fn_kwargs={"out_dir": folder}, batch_size=per_task,
                               num_cpus=min(1.0, float(ray.cluster_resources().get("CPU", 1.0)) / n_workers))
        pieces: list[Any] = []
        for row in parts.iter_rows():
            pieces.append({str(row["key"]): pickle.loads(row["accumulator"])})
        return finish(combine(pieces))
    finally:
        if started:
            ray.shutdown()
