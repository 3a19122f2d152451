"""glas_core: backend-neutral GLAS (Gaussian Light and Shadow) explanations.

Works on any Python array-API array (NumPy, PyTorch, CuPy, JAX, array-api-strict) through
``array-api-compat``; importing it imports no deep-learning framework.

>>> import numpy as np, glas_core
>>> x = np.random.default_rng(0).random((3, 32, 32))
>>> res = glas_core.explain(lambda b: b[:, :, 8:12, 8:12].mean(axis=(1, 2, 3))[:, None], x, grid=8)
>>> res.saliency.shape
(1, 32, 32)
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from ._array_api import register_namespace, to_numpy
from .autoscale import AutoScaleResult, explain_auto
from .baselines import signal_baseline
from .config import DEFAULT_SIGMA, GLASConfig
from .engine import explain, explain_batch
from .errors import GLASError
from .logits import log_probabilities
from .multiscale import explain_multiscale
from .normalize import minmax_normalize
from .points import grid_points
from .recursive import explain_recursive
from .regions import (
    CohortAccumulator,
    RegionExplanation,
    RegionImpact,
    Regions,
    explain_regions,
    region_impact,
    regions_from_labels,
)
from .result import GLASResult, RecursiveResult, RGLASIteration

__all__ = [
    "DEFAULT_SIGMA",
    "GLASConfig",
    "GLASError",
    "GLASResult",
    "RGLASIteration",
    "RecursiveResult",
    "CohortAccumulator",
    "RegionExplanation",
    "RegionImpact",
    "Regions",
    "explain",
    "explain_auto",
    "AutoScaleResult",
    "explain_batch",
    "explain_regions",
    "region_impact",
    "regions_from_labels",
    "explain_multiscale",
    "minmax_normalize",
    "explain_recursive",
    "grid_points",
    "log_probabilities",
    "register_namespace",
    "signal_baseline",
    "to_numpy",
]

# The one place the version is written is pyproject.toml; the installed metadata carries it here.
try:
    __version__ = _version("glas-xai")
except _PackageNotFoundError:  # a checkout on sys.path that was never pip-installed
    __version__ = "0+unknown"
