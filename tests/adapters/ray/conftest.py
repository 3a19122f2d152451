"""The Ray engine's tests need Ray Data, torch and pyarrow (``pip install "glas-xai[ray]"``): without
them this folder is skipped."""

import pytest

for module in ("ray", "ray.data", "torch", "pyarrow", "PIL"):
    pytest.importorskip(module)
