"""The ``glas`` command's tests need the command's extra (``pip install "glas[cli]"``): torch and
captum (the TorchScript and EfficientNet models run through the Captum adapter), matplotlib and
Pillow. Without any of them this folder is skipped."""

import pytest

for module in ("torch", "captum", "matplotlib", "PIL"):
    pytest.importorskip(module)
