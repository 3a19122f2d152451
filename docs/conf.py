"""Sphinx configuration of the glas documentation site: ``tox -e docs`` builds it into ``docs/_build/html``."""

from __future__ import annotations

import os
import sys
import tempfile
from importlib.metadata import version as _version

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))  # glas_docs, glas_apigen

project = "glas"
author = "the glas authors"
copyright = "the glas authors, Apache-2.0"
release = _version("glas-xai")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "glas_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5"]
templates_path = ["_templates"]
nitpicky = True
# "Figure" and "Axes" are annotations imported only for type checkers (matplotlib is optional)
nitpick_ignore = [("py:class", "Figure"), ("py:class", "Axes")]

# autodoc / autosummary / numpydoc: signatures with their type hints, docstrings in numpydoc style
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
# a method without a docstring of its own (a torch forward) is left out, not given its base class's text
autodoc_inherit_docstrings = False
autodoc_default_options = {"exclude-members": "__init__"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# MyST: the Markdown pages (README sections, core contract, paper readings, benchmarks)
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# the gallery: every script in examples/ (not _output.py) run at build time, offline
_figures_dir = tempfile.mkdtemp(prefix="glas-docs-figures-")
os.environ["GLAS_EXAMPLES_OUT"] = _figures_dir
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/[a-z][a-z0-9_]*\.py$",
    "ignore_pattern": r"^_\w*\.py$",
    "image_scrapers": ("glas_docs.EXAMPLE_FIGURES",),
    "reset_argv": "glas_docs.example_argv",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "min_reported_time": 0,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "capture_repr": (),
    # the site works offline: no execution-times page (it loads its tables' scripts from the network)
    "write_computation_times": False,
    "show_signature": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"glas {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
# an empty colour mode makes the theme log a console error on the first page a browser opens
html_context = {"default_mode": "auto"}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
