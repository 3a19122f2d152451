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
        # tox's own environment may lie inside the checkout (.tox/), so compare with the source folder.
        source = os.path.join(ROOT, module.__name__) + os.sep
        assert not path.startswith(source), f"{module.__name__} was imported from the checkout: {path}"
        assert "site-packages" in path, f"{module.__name__} was not imported from an installed package: {path}"
