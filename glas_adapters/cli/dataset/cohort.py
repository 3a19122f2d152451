"""Moved to :mod:`glas_adapters.jobs.cohort`; this path re-exports it."""

from glas_adapters.jobs.cohort import (
    COHORT_FILE,
    Sums,
    cohort_key,
    cohort_maps,
    combine,
    final_rows,
    finish,
    partial_sums,
    write_cohort,
)

__all__ = ["COHORT_FILE", "Sums", "cohort_key", "cohort_maps", "combine", "final_rows", "finish", "partial_sums",
           "write_cohort"]
