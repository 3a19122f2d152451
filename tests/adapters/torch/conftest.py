"""The PyTorch adapter tests need torch and Captum: without them this folder is skipped."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")
