"""Moved to :mod:`glas_adapters.jobs.sources`; this path re-exports it."""

from glas_adapters.jobs.sources import IMAGE_SUFFIXES, ImageItem, find_images, image_id, read_targets_csv

__all__ = ["IMAGE_SUFFIXES", "ImageItem", "find_images", "image_id", "read_targets_csv"]
