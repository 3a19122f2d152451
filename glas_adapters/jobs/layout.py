"""The output folder of a data-set job: maps, figures, per-image records and the manifest.

The layout is described in :mod:`glas_adapters.jobs`; the manifest's columns are in
:mod:`glas_adapters.jobs.manifest`.

Every file is written to a temporary ``.glas-*.part`` name beside it and renamed, so a file that
exists is complete. An image is finished once its record exists; the record is written last,
after its maps and figures.
"""

from __future__ import annotations

import glob
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glas_adapters.jobs.manifest import MANIFEST, write_parquet
from glas_adapters.jobs.outputs import check_output_dir, write_atomically, write_bytes
from glas_core.errors import fail

JOB_FILE = "job.json"
FAILURES = "failures.csv"
MAPS_DIR = "maps"
FIGURES_DIR = "figures"
RECORDS_DIR = "records"

@dataclass
class ImageOutput:
    """What one explained image adds to the output folder.

    Attributes
    ----------
    image_id : str
        The image's id.
    rows : list of dict
        Its manifest rows (every column of :data:`~glas_adapters.jobs.manifest.COLUMNS`).
    maps : bytes
        The ``.npz`` file of its maps, already serialised (see :func:`npz_bytes`).
    figures : dict of str to bytes
        PNG files by name (``<image_id>.png``, ...), empty without ``--figures``.
    """

    image_id: str
    rows: list[dict[str, Any]]
    maps: bytes
    figures: dict[str, bytes] = field(default_factory=dict)


def npz_bytes(maps: dict[str, np.ndarray]) -> bytes:
    """``maps`` as the bytes of a compressed ``.npz`` (float16 arrays, keys in order)."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float16) for k, v in maps.items()}
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


class OutputFolder:
    """The folder ``--out``: checked before any work, written image by image.

    Parameters
    ----------
    path : str
        The folder (created when missing).
    job : dict
        The settings that decide the maps (model, targets rule, grid, sigmas, mode ...). A folder
        holding results of other settings is refused, so a rerun never mixes two jobs.
    """

    def __init__(self, path: str, job: dict[str, Any]) -> None:
        if os.path.isfile(os.path.join(path, MANIFEST)) and not os.path.isfile(os.path.join(path, JOB_FILE)):
            raise fail("--out", f"{path!r}, which holds a manifest glas did not write", "a new or glas-made folder",
                       "pick another --out")
        self.path = check_output_dir(path)
        self.job = json.loads(json.dumps(job))  # as JSON reads it back: tuples become lists
        saved = self._saved_job()
        self._job_written = saved is not None
        if saved is not None and saved != self.job:
            changed = sorted(k for k in set(saved) | set(self.job) if saved.get(k) != self.job.get(k))
            raise fail("--out", f"{path!r}, which holds results of other settings ({', '.join(changed)} differ)",
                       "a new folder, or the settings of the finished part",
                       "pick a new --out, or rerun with the same settings to finish that job")

    def _start(self) -> None:
        """Create the subfolders and ``job.json`` before the first result (nothing is written before)."""
        for sub in (MAPS_DIR, FIGURES_DIR, RECORDS_DIR):
            os.makedirs(os.path.join(self.path, sub), exist_ok=True)
        if self._job_written:
            return
        write_bytes(os.path.join(self.path, JOB_FILE), json.dumps(self.job, indent=1, sort_keys=True).encode())
        self._job_written = True

    def _saved_job(self) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.path, JOB_FILE), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise fail("--out", f"{self.path!r} with an unreadable {JOB_FILE}", "a glas output folder",
                       "pick a new --out") from None

    def record_path(self, image_id: str) -> str:
        """The record file of ``image_id`` (it exists once the image is finished)."""
        return os.path.join(self.path, RECORDS_DIR, f"{image_id}.json")

    def finished(self, image_id: str, figures: bool) -> bool:
        """True when the image's record (and, with ``figures``, every figure it names) exists."""
        record = self.read_record(image_id)
        if record is None:
            return False
        if figures:
            names = record.get("figures") or []
            return bool(names) and all(os.path.isfile(os.path.join(self.path, FIGURES_DIR, n)) for n in names)
        return True

    def read_record(self, image_id: str) -> dict[str, Any] | None:
        """The record of ``image_id`` (its manifest rows and figure names), or None when unfinished."""
        try:
            with open(self.record_path(image_id), encoding="utf-8") as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            return None

    def write(self, output: ImageOutput) -> None:
        """Write one image's maps, figures and (last) its record."""
        self._start()
        write_bytes(os.path.join(self.path, MAPS_DIR, f"{output.image_id}.npz"), output.maps)
        for name, png in output.figures.items():
            write_bytes(os.path.join(self.path, FIGURES_DIR, name), png)
        record = {"rows": output.rows, "figures": sorted(output.figures)}
        write_bytes(self.record_path(output.image_id), json.dumps(record).encode())

    def write_manifest(self, image_ids: Sequence[str]) -> int:
        """Rewrite ``manifest.parquet`` from the records of ``image_ids`` (in that order); its row count.

        Nothing is written while no image is finished and no manifest exists.
        """
        rows, finished = [], 0
        for image_id in image_ids:
            record = self.read_record(image_id)
            if record is not None:
                rows += record["rows"]
                finished += 1
        if not finished and not os.path.exists(os.path.join(self.path, MANIFEST)):
            return 0
        self._start()
        write_atomically(os.path.join(self.path, MANIFEST), lambda f: write_parquet(rows, f))
        return len(rows)

    def write_failures(self, failures: Sequence[tuple[str, str]]) -> None:
        """Rewrite ``failures.csv`` (path, error) of this run; removed when nothing failed."""
        target = os.path.join(self.path, FAILURES)
        if failures:
            self._start()
        if not failures:
            if os.path.exists(target):
                os.unlink(target)
            return
        import csv

        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["path", "error"])
        writer.writerows(failures)
        write_bytes(target, text.getvalue().encode())

    def remove_parts(self) -> None:
        """Delete temporary files a killed process could not remove itself."""
        if not os.path.isdir(self.path):
            return
        for pattern in (".glas-*.part", f"{MAPS_DIR}/.glas-*.part", f"{FIGURES_DIR}/.glas-*.part",
                        f"{RECORDS_DIR}/.glas-*.part"):
            for stray in glob.glob(os.path.join(glob.escape(self.path), pattern)):
                try:
                    os.unlink(stray)
                except OSError:
                    pass


def raw_arrays(results: list[Any], targets: list[int], probs: np.ndarray, model: Any, recursive: bool
               ) -> dict[str, np.ndarray]:
    """The float32 maps of ``--save-maps``: (T, S, H, W) per scale, or (T, H, W) accumulated when recursive."""
    if recursive:
        saliency = results[0].to_numpy()
    else:
        saliency = np.stack([r.to_numpy() for r in results], axis=1)
    index = np.asarray(targets, dtype=np.int64)
    return {"saliency": saliency.astype(np.float32), "targets": index,
            "labels": np.asarray([model.label(t) for t in targets]), "scores": probs[index]}
