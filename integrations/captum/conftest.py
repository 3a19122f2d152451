"""The Captum suite needs torch, Captum and matplotlib: without them this folder is skipped."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")
pytest.importorskip("matplotlib")
