"""The one orchestrator of every adapter, and the backend protocol it runs through.

:mod:`~glas_adapters._engine.targets` says what ``targets`` means (one table for every
adapter), :mod:`~glas_adapters._engine.scores` turns model outputs into the scores the core
fuses, :mod:`~glas_adapters._engine.backend` is what a framework implements (examples in,
outputs out, maps back), and :mod:`~glas_adapters._engine.run` is the orchestration itself.
"""

from .backend import Backend
from .run import check_scales, explain, explain_multiscale, explain_recursive
from .targets import TargetRequest, read_targets

__all__ = ["Backend", "TargetRequest", "check_scales", "explain", "explain_multiscale", "explain_recursive",
           "read_targets"]
