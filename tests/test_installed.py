"""Under tox the installed package is tested, not the checkout beside the tests."""

from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(os.environ.get("GLAS_TEST_INSTALLED") != "1", reason="only under tox (GLAS_TEST_INSTALLED=1)")
def test_glas_is_imported_from_the_installed_package():
    import glas_adapters
    import glas_core

    for module in (glas_core, glas_adapters):
        path = os.path.abspath(module.__file__)
        assert not path.startswith(ROOT + os.sep), f"{module.__name__} was imported from the checkout: {path}"
        assert "site-packages" in path
