"""Moved to :mod:`glas_adapters.jobs.models.torch_models` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.torch_models import (
    TorchClassifier,
    load_efficientnet_lite0,
    load_torchscript,
    normalized,
    torch_device,
)

__all__ = ["TorchClassifier", "load_efficientnet_lite0", "load_torchscript", "normalized", "torch_device"]
