"""Moved to :mod:`glas_adapters.jobs.outputs` (shared with Ray and the report); this path re-exports it."""

from glas_adapters.jobs.outputs import (
    check_output_dir,
    check_output_file,
    save_figure,
    unique_stems,
    write_atomically,
)

__all__ = ["check_output_dir", "check_output_file", "save_figure", "unique_stems", "write_atomically"]
