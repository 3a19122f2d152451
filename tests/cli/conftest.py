"""The ``glas`` command's tests need the command's extra (``pip install "glas-xai[cli]"``): torch and
captum (the TorchScript and EfficientNet models run through the Captum adapter), matplotlib and
Pillow. Without any of them this folder is skipped."""

import pytest

for module in ("torch", "captum", "matplotlib", "PIL"):
    pytest.importorskip(module)


@pytest.fixture(scope="session")
def glas_cache_folder(tmp_path_factory):
    """One export cache for the session's runs of the built-in model (exported once per input size)."""
    return str(tmp_path_factory.mktemp("glas-cache"))


@pytest.fixture(autouse=True)
def _glas_cache(glas_cache_folder, monkeypatch):
    """The built-in model's ONNX exports go to the session's folder, never to the user's ~/.cache/glas."""
    monkeypatch.setenv("GLAS_CACHE", glas_cache_folder)
