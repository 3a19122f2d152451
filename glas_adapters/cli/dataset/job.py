"""Moved to :mod:`glas_adapters.jobs.job`; this path re-exports it."""

from glas_adapters.jobs.job import JobReport, Outcome, local_outcomes, pending_items, run_job

__all__ = ["JobReport", "Outcome", "local_outcomes", "pending_items", "run_job"]
