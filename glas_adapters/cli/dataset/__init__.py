"""Moved to :mod:`glas_adapters.jobs` (the job layer the command line, Ray and the report share;
the output folder's layout is described there). This path and its modules re-export it."""

from glas_adapters.jobs import (
    COLUMNS,
    MANIFEST,
    ImageExplainer,
    ImageItem,
    ImageOutput,
    JobReport,
    JobSpec,
    OutputFolder,
    find_images,
    image_id,
    local_outcomes,
    pending_items,
    read_targets_csv,
    run_job,
    sigma_text,
)

__all__ = ["COLUMNS", "MANIFEST", "ImageExplainer", "ImageItem", "ImageOutput", "JobReport", "JobSpec",
           "OutputFolder", "find_images", "image_id", "local_outcomes", "pending_items", "read_targets_csv",
           "run_job", "sigma_text"]
