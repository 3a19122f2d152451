"""The Quantus suite needs torch, Captum and Quantus: without them this folder is skipped."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")
pytest.importorskip("quantus")
