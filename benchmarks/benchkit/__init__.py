"""Shared pieces of the benchmark scripts in ``benchmarks/``, one concern per module.

- :mod:`benchkit.env`: torch with a fixed thread count, and the machine line printed with every table.
- :mod:`benchkit.data`: synthetic images with object boxes and discriminative-part masks.
- :mod:`benchkit.models`: the small CNN, trained once on CPU and cached.
- :mod:`benchkit.scoring`: score functions (model -> probabilities) for explainers and metrics.
- :mod:`benchkit.methods`: the explainers compared (GLAS, RISE, Grad-CAM, Occlusion, KernelSHAP).
- :mod:`benchkit.rise`: RISE, written for the benchmarks.
- :mod:`benchkit.drise`: D-RISE and its similarity, for detectors; :mod:`benchkit.scenes`: detection and
  segmentation scenes with known evidence; :mod:`benchkit.dense_models`: their tiny detector and segmenter.
- :mod:`benchkit.training`: the training loop of the signal benchmarks' small classifiers.
- :mod:`benchkit.timing`: every method on every image, timed, with forward rows counted.
- :mod:`benchkit.report`: markdown tables; :mod:`benchkit.figures`: side-by-side map panels.

The scripts run as ``python benchmarks/<name>.py`` from the repository root; importing this
package puts the repository root on ``sys.path`` so that ``glas_core`` and ``glas_adapters``
resolve to the checkout even without ``pip install -e .``. glas is imported only through its
public modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
