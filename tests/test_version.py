"""The version is written once, in pyproject.toml; the packages read it from the installed metadata."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys

import glas_adapters
import glas_core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("glas_core", "glas_adapters")


def _pyproject_version() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    found = re.findall(r'^version\s*=\s*"([^"]+)"', project, flags=re.MULTILINE)
    assert len(found) == 1, f"pyproject.toml's [project] table must give one version, found {found}"
    return found[0]


def test_version_comes_from_the_installed_metadata():
    installed = importlib.metadata.version("glas-xai")
    assert glas_core.__version__ == installed
    if hasattr(glas_adapters, "__version__"):
        assert glas_adapters.__version__ == installed


def test_installed_metadata_matches_pyproject():
    # fails on a stale install (pip install -e . again after changing the version)
    assert importlib.metadata.version("glas-xai") == _pyproject_version()


def test_version_literal_is_written_nowhere_in_the_packages():
    literals = {_pyproject_version(), importlib.metadata.version("glas-xai")}
    written = []
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    data = f.read()
                written += [f"{os.path.relpath(path, ROOT)}: {v}" for v in literals if v.encode() in data]
    assert not written, "the version is written in pyproject.toml only; also found in " + ", ".join(written)


def test_version_falls_back_when_glas_is_not_installed(tmp_path):
    code = ("import importlib.metadata as m\n"
            "def missing(name):\n"
            "    raise m.PackageNotFoundError(name)\n"
            "m.version = missing\n"
            "import glas_core\n"
            "print(glas_core.__version__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0+unknown"
