"""The built documentation site: ``tox -e docs`` builds it and names its folder in ``GLAS_DOCS_HTML``."""

from __future__ import annotations

import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def site() -> pathlib.Path:
    folder = os.environ.get("GLAS_DOCS_HTML")
    if not folder:
        pytest.skip("the documentation site is not built here: tox -e docs builds it and sets GLAS_DOCS_HTML")
    path = pathlib.Path(folder)
    if not (path / "index.html").is_file():
        pytest.fail(f"GLAS_DOCS_HTML={folder} has no index.html: build the site first (tox -e docs)")
    return path
