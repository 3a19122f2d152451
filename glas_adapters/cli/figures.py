"""Moved to :mod:`glas_adapters.jobs.figures`; this path re-exports it."""

from glas_adapters.jobs.figures import caption_figure, classifier_figures, figure_copy, png_bytes

__all__ = ["caption_figure", "classifier_figures", "figure_copy", "png_bytes"]
