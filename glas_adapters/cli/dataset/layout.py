"""Moved to :mod:`glas_adapters.jobs.layout` (the manifest's table to :mod:`glas_adapters.jobs.manifest`);
this path re-exports them."""

from glas_adapters.jobs.layout import (
    FAILURES,
    FIGURES_DIR,
    JOB_FILE,
    MAPS_DIR,
    RECORDS_DIR,
    ImageOutput,
    OutputFolder,
    npz_bytes,
)
from glas_adapters.jobs.manifest import COLUMNS, MANIFEST, manifest_schema, write_parquet

__all__ = ["COLUMNS", "FAILURES", "FIGURES_DIR", "JOB_FILE", "MANIFEST", "MAPS_DIR", "RECORDS_DIR", "ImageOutput",
           "OutputFolder", "manifest_schema", "npz_bytes", "write_parquet"]
