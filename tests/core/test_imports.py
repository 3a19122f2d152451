"""Importing glas_core pulls in no deep-learning framework (nor matplotlib)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_leaves_frameworks_out_of_sys_modules():
    code = ("import sys, glas_core, glas_core.recursive, glas_core.multiscale;"
            "print(','.join(m for m in ('torch', 'tensorflow', 'jax', 'transformers', 'keras', 'matplotlib')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout
