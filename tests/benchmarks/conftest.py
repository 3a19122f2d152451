"""The benchmark tests import the scripts and ``benchkit`` from ``benchmarks/`` (not a package).

No framework is imported here: ``test_rise.py`` needs only NumPy, and each module that needs
torch or Captum skips itself with ``pytest.importorskip``.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
