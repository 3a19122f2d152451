"""Test setup for tests/ and integrations/: the repository root on sys.path, one torch thread.

Tests run on 2 shared CPU cores, so torch (where installed) is limited to 1 intra-op thread.
"""

from __future__ import annotations

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)
