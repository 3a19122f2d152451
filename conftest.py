"""Test setup for tests/ and integrations/: quiet, offline, one torch thread.

Tests run on 2 shared CPU cores, so torch (where installed) is limited to 1 intra-op thread;
this is the one place that sets it. Imports of ``glas_core`` and ``glas_adapters`` resolve to
the installed package when there is one (pytest runs with ``--import-mode=append``, see
pyproject.toml), so tox tests what users install.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)
