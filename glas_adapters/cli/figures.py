"""Moved to :mod:`glas_adapters.jobs.figures`; this path re-exports it, with the command's image
resampling (:func:`glas_adapters.cli.classifier.resize_image`) bound as the ``resize`` the moved
functions take."""

from functools import partial

from glas_adapters.cli.classifier import resize_image
from glas_adapters.jobs import figures as _figures
from glas_adapters.jobs.figures import png_bytes

figure_copy = partial(_figures.figure_copy, resize=resize_image)
classifier_figures = partial(_figures.classifier_figures, resize=resize_image)
caption_figure = partial(_figures.caption_figure, resize=resize_image)

__all__ = ["caption_figure", "classifier_figures", "figure_copy", "png_bytes"]
