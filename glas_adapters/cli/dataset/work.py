"""Moved to :mod:`glas_adapters.jobs.work` (with :mod:`~glas_adapters.jobs.spec`,
:mod:`~glas_adapters.jobs.targets` and :func:`glas_adapters.jobs.image_io.rgb01`); this path re-exports them."""

from glas_adapters.jobs.image_io import rgb01
from glas_adapters.jobs.spec import JobSpec, sigma_text
from glas_adapters.jobs.targets import DEFAULT_TOP_K, resolve_targets
from glas_adapters.jobs.work import FIGURE_DPI, FIGURE_MAX_SIDE, Explained, ImageExplainer, peak_normalised, raw_arrays

__all__ = ["DEFAULT_TOP_K", "FIGURE_DPI", "FIGURE_MAX_SIDE", "Explained", "ImageExplainer", "JobSpec",
           "peak_normalised", "raw_arrays", "resolve_targets", "rgb01", "sigma_text"]
