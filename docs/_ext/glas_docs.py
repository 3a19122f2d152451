"""Sphinx glue for the glas site: the API pages, the command's help, the gallery's figures and references.

* ``builder-inited``: writes ``api/`` (:mod:`glas_apigen`) and ``cli/help.txt``-style pages of
  ``glas --help`` before autosummary reads them.
* :class:`ExampleFigures`: the gallery's image scraper. The examples draw pyplot-free matplotlib
  figures and save them (``examples/_output.py``); the scraper takes every PNG an example wrote
  during a code block and puts it in the gallery, so the page shows the figure the script wrote.
* ``missing-reference``: a reference to one of our objects written with another of its paths
  (``glas_core.result.GLASResult`` for ``glas_core.GLASResult``) resolves to where it is
  documented; a reference to something that exists but is not in the reference (a framework's
  class, an internal helper) is shown as code; anything else stays a warning, so a typo fails
  the build.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import glas_apigen

HERE = Path(__file__).resolve().parent.parent
_documented: dict[int, str] = {}


def write_generated(app: Any, config: Any) -> None:
    modules = glas_apigen.write_pages(HERE / "api")
    _documented.clear()
    _documented.update(glas_apigen.documented_objects(modules))
    write_cli_help(HERE / "cli-help.rst")
    write_guide(HERE.parent / "README.md", HERE / "guide")


#: README sections shown elsewhere on the site
README_SECTIONS_ELSEWHERE = {"Changelog"}


def write_guide(readme: Path, outdir: Path) -> None:
    """One page per ``##`` section of the README, in its order: the page includes that section.

    The README is the one copy of the text; a section added to it is a page at the next build.
    """
    lines = readme.read_text(encoding="utf-8").splitlines()
    headings, fenced = [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            headings.append(line)
    outdir.mkdir(exist_ok=True)
    for old in outdir.glob("*.md"):
        old.unlink()
    for n, heading in enumerate(headings):
        title = heading[3:].strip()
        if title in README_SECTIONS_ELSEWHERE:
            continue
        short = re.split(r"[:(]", title)[0]  # "Data sets: a folder, ..." -> data-sets
        slug = re.sub(r"[^a-z0-9]+", "-", short.lower()).strip("-")
        options = [f':start-after: "{heading}"']
        if n + 1 < len(headings):
            options.append(f':end-before: "{headings[n + 1]}"')
        text = "\n".join([f"# {title}", "", "```{include} ../../README.md", *options, ":relative-docs: docs/",
                           ":relative-images:", "```", ""])
        (outdir / f"{n + 1:02d}-{slug}.md").write_text(text, encoding="utf-8")


def write_cli_help(path: Path) -> None:
    """``glas --help`` and each subcommand's help, as the parser prints them."""
    from glas_adapters.cli.command import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    lines = [".. Generated at build time from glas_adapters.cli.command.build_parser.", "",
             "Command-line reference", "======================", "",
             "The help of ``glas`` and of each subcommand, as the installed command prints it.", ""]
    pages = [("glas", parser)] + [(f"glas {name}", sub) for name, sub in subparsers.choices.items()]
    for title, sub in pages:
        lines += [f"``{title}``", "-" * (len(title) + 4), "", ".. code-block:: text", ""]
        help_text = sub.format_help().replace("sphinx-build", "glas")
        lines += [f"   {line}" if line.strip() else "" for line in help_text.splitlines()] + [""]
    text = "\n".join(lines)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_MISSING = object()


def _lookup(name: str) -> Any:
    """The object a dotted name holds (a dataclass field gives its class's field marker), else _MISSING."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        for i, attr in enumerate(parts[cut:]):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                fields = getattr(obj, "__dataclass_fields__", {}) or getattr(obj, "__annotations__", {})
                if i == len(parts[cut:]) - 1 and attr in fields:
                    return ("field", obj, attr)
                return _MISSING
        return obj
    return _MISSING


def _unqualified(target: str) -> list[Any]:
    """Objects of our loaded modules named ``target`` (a module's last part, or a name it defines)."""
    found: dict[int, Any] = {}
    for modname, module in list(sys.modules.items()):
        if module is None or modname.split(".")[0] not in ("glas_core", "glas_adapters"):
            continue
        if modname.endswith("." + target):
            found[id(module)] = module
        obj = getattr(module, target, _MISSING)
        if obj is not _MISSING and getattr(obj, "__module__", modname) == modname:
            found[id(obj)] = obj
    return list(found.values())


def resolve_missing(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    obj = _lookup(target)
    if obj is _MISSING and node.get("py:module"):
        obj = _lookup(f"{node['py:module']}.{target}")
    if obj is _MISSING and "." not in target:
        candidates = _unqualified(target)
        obj = candidates[0] if len(candidates) == 1 else _MISSING
    if obj is _MISSING:
        return None  # nothing has this name: Sphinx warns (a typo or a removed name)
    if isinstance(obj, tuple) and obj and obj[0] == "field":
        owner = _documented.get(id(obj[1]))
        documented = f"{owner}.{obj[2]}" if owner else None
    else:
        documented = _documented.get(id(obj))
    if documented is not None and documented != target:
        domain = env.get_domain("py")
        resolved = domain.resolve_xref(env, node["refdoc"], app.builder, "obj", documented, node, contnode)
        if resolved is not None:
            return resolved
    return contnode  # it exists but is not in the reference (a framework's class, an internal helper): shown as code


def keep_autodoc_signature(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None,
                           return_annotation: str | None) -> tuple[str, str] | None:
    """Keep autodoc's signature (numpydoc's replacement quotes postponed annotations).

    A dataclass field's ``default_factory`` shows as ``<factory>``, which is not Python: Sphinx
    would then split the signature at every comma. It is written as the call it makes, ``list()``.
    """
    if signature is None:
        return None
    for f in getattr(obj, "__dataclass_fields__", {}).values():
        factory = getattr(f, "default_factory", dataclasses.MISSING)
        if factory is not dataclasses.MISSING and "<factory>" in signature:
            signature = signature.replace("<factory>", f"{getattr(factory, '__qualname__', 'factory')}()", 1)
    return signature, return_annotation or ""


class ExampleFigures:
    """Image scraper: the PNG files an example wrote into ``$GLAS_EXAMPLES_OUT`` during the last code block."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:  # a stable repr: sphinx-gallery compares configs to decide what to rebuild
        return "ExampleFigures()"

    def __call__(self, block: Any, block_vars: Any, gallery_conf: Any) -> str:
        from sphinx_gallery.scrapers import figure_rst

        folder = Path(os.environ["GLAS_EXAMPLES_OUT"])
        written = []
        for png in sorted(folder.glob("*.png")):
            stat = png.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self.seen.get(str(png)) != stamp:
                self.seen[str(png)] = stamp
                written.append(png)
        paths = []
        for png, dest in zip(written, block_vars["image_path_iterator"]):
            shutil.copyfile(png, dest)
            paths.append(dest)
        return figure_rst(paths, gallery_conf["src_dir"])


EXAMPLE_FIGURES = ExampleFigures()

#: command-line arguments of the examples that draw their figures only when asked
EXAMPLE_ARGS = {"volume_regions.py": lambda out: ["--plot", os.path.join(out, "volume_regions")]}


def example_argv(gallery_conf: Any, script_vars: Any) -> list[str]:
    extra = EXAMPLE_ARGS.get(Path(script_vars["src_file"]).name)
    return extra(os.environ["GLAS_EXAMPLES_OUT"]) if extra else []


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", write_generated)  # before Sphinx lists the sources and autosummary reads them
    app.connect("missing-reference", resolve_missing)
    app.connect("autodoc-process-signature", keep_autodoc_signature, priority=100)  # before numpydoc's
    return {"parallel_read_safe": True, "parallel_write_safe": True}
