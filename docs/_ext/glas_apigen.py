"""The API reference, written from the code at every build: one page per public module.

Public modules are the modules of ``glas_core`` and ``glas_adapters`` with no dotted part that
starts with ``_`` and that either define ``__all__`` (their public names are its entries) or sit
directly under a package (``glas_core.scores``, ``glas_adapters.quantus``: their public names are
the functions, classes and constants they define, without a leading ``_``). A name added to an
``__all__`` appears in the reference at the next build, with no edit to the docs.

An object listed under several paths (``glas_core.explain`` is ``glas_core.engine.explain``) is
documented once, at its shortest path; every other path gets a short entry pointing there. Modules
whose docstring starts with "Moved to" (old import paths kept for compatibility) come last, so
their objects are documented at their new path.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGES = ("glas_core", "glas_adapters")


@dataclass
class PublicModule:
    """One page of the reference: a module and its public names."""

    name: str
    names: list[str]
    moved: bool
    module: types.ModuleType = field(repr=False)

    @property
    def sort_key(self) -> tuple[bool, int, str]:
        return (self.moved, self.name.count("."), self.name)


def _module_files(package: str) -> list[tuple[str, Path]]:
    """(dotted name, file) of every module of ``package``, found on disk (nothing imported)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is not importable"
    root = Path(spec.origin).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _defines_all(tree: ast.Module) -> bool:
    return any(isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
               and any(isinstance(t, ast.Name) and t.id == "__all__"
                       for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
               for node in tree.body)


def _own_names(tree: ast.Module) -> list[str]:
    """Top-level functions, classes and assigned constants of a module, without a leading ``_``."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names.append(node.target.id)
    return sorted({n for n in names if not n.startswith("_")})


def public_modules() -> list[PublicModule]:
    """Every public module (see the module docstring), in reference order."""
    modules = []
    for package in PACKAGES:
        for name, path in _module_files(package):
            parts = name.split(".")
            if any(p.startswith("_") for p in parts):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            has_all = _defines_all(tree)
            if not has_all and len(parts) != 2:
                continue
            module = importlib.import_module(name)
            names = list(module.__all__) if has_all else _own_names(tree)
            moved = (module.__doc__ or "").lstrip().startswith("Moved to")
            modules.append(PublicModule(name, names, moved, module))
    return sorted(modules, key=lambda m: m.sort_key)


def is_type_alias(obj: Any) -> bool:
    """``X = tuple[int, str]``, ``X = A | B``: documented by their value (autodoc cannot import them)."""
    return isinstance(obj, (types.GenericAlias, types.UnionType)) or (
        type(obj).__module__ == "typing" and not inspect.isclass(obj) and not inspect.isroutine(obj))


def _identity_matters(obj: Any) -> bool:
    """Whether two paths holding this object name the same thing (not an interned number or string)."""
    if is_type_alias(obj):
        return False
    return inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, (dict, list, types.ModuleType)) \
        or callable(obj)


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj) or callable(obj):
        return "function"
    return "data"


def plan(modules: list[PublicModule]) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str, str]]]]:
    """Per module: the names documented in full there, and the aliases (name, kind, documented at)."""
    documented: dict[int, str] = {id(m.module): m.name for m in modules}
    full: dict[str, list[str]] = {}
    aliases: dict[str, list[tuple[str, str, str]]] = {}
    for m in modules:
        full[m.name], aliases[m.name] = [], []
        for name in m.names:
            obj = getattr(m.module, name)
            key = id(obj)
            if _identity_matters(obj) and key in documented:
                aliases[m.name].append((name, "module" if isinstance(obj, types.ModuleType) else _kind(obj),
                                        documented[key]))
                continue
            if isinstance(obj, types.ModuleType):  # a submodule that is not a page of its own
                full[m.name].append(name)
                continue
            full[m.name].append(name)
            if _identity_matters(obj):
                documented[key] = f"{m.name}.{name}"
    return full, aliases


def documented_objects(modules: list[PublicModule]) -> dict[int, str]:
    """id(object) -> the path where it is documented in full (for references written with another path)."""
    full, _ = plan(modules)
    out: dict[int, str] = {id(m.module): m.name for m in modules}
    for m in modules:
        for name in full[m.name]:
            obj = getattr(m.module, name)
            if _identity_matters(obj):
                out.setdefault(id(obj), f"{m.name}.{name}")
    return out


def _title(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def write_pages(outdir: str | os.PathLike[str]) -> list[PublicModule]:
    """Write ``index.rst`` and one ``<module>.rst`` per public module into ``outdir`` (created, emptied of .rst)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.rst"):
        old.unlink()
    modules = public_modules()
    full, aliases = plan(modules)
    for m in modules:
        lines = [_title(f"``{m.name}``", "="), f".. automodule:: {m.name}", "   :no-members:", ""]
        type_aliases = [n for n in full[m.name] if is_type_alias(getattr(m.module, n))]
        in_full = [n for n in full[m.name] if n not in type_aliases]
        if in_full:
            lines += [f".. currentmodule:: {m.name}", "", ".. autosummary::", "   :toctree: generated/", ""]
            lines += [f"   {name}" for name in in_full] + [""]
        if type_aliases:
            lines += [".. rubric:: Type aliases", ""]
            for name in type_aliases:
                value = repr(getattr(m.module, name)).replace("typing.", "")
                lines += [f".. py:data:: {name}", f"   :module: {m.name}", f"   :value: {value}", "",
                          "   A type alias.", ""]
        if aliases[m.name]:
            lines += [".. rubric:: Also importable here", ""]
            for name, kind, target in aliases[m.name]:
                if kind == "module":  # its own page declares it
                    lines += [f"- ``{name}``: the module :mod:`{target}`", ""]
                    continue
                role = {"class": "class", "function": "func", "module": "mod"}.get(kind, "obj")
                directive = {"class": "class", "function": "function", "module": "data"}.get(kind, "data")
                lines += [f".. py:{directive}:: {name}", f"   :module: {m.name}", "   :no-index-entry:", "",
                          f"   The same object as :{role}:`{target}`.", ""]
        (out / f"{m.name}.rst").write_text("\n".join(lines), encoding="utf-8")

    groups = [("``glas_core``: the algorithm, metrics and figures", [m for m in modules if not m.moved
                                                                      and m.name.startswith("glas_core")]),
              ("``glas_adapters``: frameworks, the command line, data sets and the report",
               [m for m in modules if not m.moved and m.name.startswith("glas_adapters")]),
              ("Old import paths", [m for m in modules if m.moved])]
    index = [_title("API reference", "="),
             "Every public module, generated from the code at each build: a module's public names are its",
             "``__all__``, or for a module directly under a package without one, the functions, classes and",
             "constants it defines. An object importable under several paths is documented once, at its",
             "shortest path; the other paths point there.", ""]
    for heading, group in groups:
        if not group:
            continue
        index += [_title(heading, "-"), ".. toctree::", "   :maxdepth: 1", ""]
        index += [f"   {m.name}" for m in group] + [""]
    (out / "index.rst").write_text("\n".join(index), encoding="utf-8")
    return modules
