"""Every public name is in the built API reference: each entry of every ``__all__`` of glas_core and
glas_adapters (and the own names of the modules directly under them that have no ``__all__``) is an
object of the site's inventory (``objects.inv``), on a page that exists.

The public modules are found here from the files on disk, independently of the docs' generator,
so a name added to an ``__all__`` that the reference leaves out fails this test.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def inventory(site: pathlib.Path) -> dict[str, str]:
    """name -> page of every Python object in ``objects.inv`` (Sphinx's format: 4 header lines, zlib)."""
    raw = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    assert raw[:header_end].startswith(b"# Sphinx inventory version 2"), raw[:60]
    entries = {}
    for line in zlib.decompress(raw[header_end:]).decode("utf-8").splitlines():
        m = re.match(r"(?x)(.+?)\s+(\S+):(\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        assert m, line
        name, domain, _role, _prio, uri, _ = m.groups()
        if domain == "py":
            entries[name] = uri.replace("$", name).split("#")[0]
    return entries


def package_modules(package: str) -> list[tuple[str, pathlib.Path]]:
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    base = pathlib.Path(spec.origin).parent
    out = []
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not any(p.startswith("_") for p in parts):
            out.append((".".join(parts), path))
    return out


def public_names() -> list[str]:
    """``module.name`` for every public name: ``__all__`` entries, and own names of top-level modules without one."""
    names = []
    for package in ("glas_core", "glas_adapters"):
        for module, path in package_modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            assigned = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(t, ast.Name)}
            if "__all__" in assigned:
                names += [f"{module}.{n}" for n in importlib.import_module(module).__all__]
            elif module.count(".") == 1:
                own = {node.name for node in tree.body
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
                own |= {n for n in assigned if n != "__all__"}
                names += [f"{module}.{n}" for n in sorted(own) if not n.startswith("_")]
    return names


def test_public_modules_are_found(site):
    names = public_names()
    # a few names the README documents: the discovery above must see them
    for expected in ("glas_core.explain", "glas_core.recursive.SEPARATE_INSTANCES",
                     "glas_adapters.torch.GLASAttribution", "glas_adapters.tf.explain", "glas_adapters.onnx.explain",
                     "glas_adapters.hf.CaptionExplainer",
                     "glas_adapters.ray.explain_dataset", "glas_adapters.report.build_report",
                     "glas_adapters.quantus.explain_func", "glas_adapters.jobs.JobSpec"):
        assert expected in names


def test_every_public_name_is_in_the_reference(site):
    entries = inventory(site)
    missing = [n for n in public_names() if n not in entries]
    assert not missing, f"{len(missing)} public names are not in the API reference: {missing[:20]}"
    pages = {entries[n] for n in public_names()}
    absent = [p for p in pages if not (site / p).is_file()]
    assert not absent, f"the reference points to pages that were not written: {absent[:10]}"


@pytest.mark.parametrize("name", ["glas_core.explain", "glas_adapters.torch.GLASAttribution"])
def test_reference_page_shows_the_docstring(site, name):
    """The page of a name holds its docstring's first line, so the reference is not just a list of names."""
    page = (site / inventory(site)[name]).read_text(encoding="utf-8")
    obj = importlib.import_module(name.rsplit(".", 1)[0])
    first_line = getattr(obj, name.rsplit(".", 1)[1]).__doc__.strip().splitlines()[0]
    words = re.findall(r"[A-Za-z]{4,}", first_line)[:4]
    text = re.sub(r"<[^>]+>", "", page)
    assert all(w in text for w in words), (name, words)
