"""The import graph of ``glas_core`` and ``glas_adapters``, read from the source with :mod:`ast`.

Nothing is imported: every ``.py`` file of the two packages is parsed, and every ``import``
statement in it, at module level or inside a function, class or ``if`` block, becomes an edge
from that module to the project module it names (relative imports resolved; a package's
``__init__`` is a module of the package's name). ``from package import name`` points at the
submodule ``package.name`` when there is one, else at the package.

The rules:

* no cycle anywhere, lazy (function-level) imports included;
* ``glas_adapters.jobs`` (the data-set job layer that the command line, Ray and the report
  share) reaches nothing of ``glas_adapters.cli``, ``glas_adapters.ray`` or
  ``glas_adapters.report``, directly or through other modules;
* ``glas_core`` imports nothing from ``glas_adapters``.

Re-export shims at old import paths (``glas_adapters.cli.dataset`` ...) are importers of the
new place, so they are leaves as long as the new place never imports them back.
"""

from __future__ import annotations

import ast
import os
from collections import deque
from collections.abc import Iterable, Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("glas_core", "glas_adapters")
JOBS = "glas_adapters.jobs"
NOT_FOR_JOBS = ("glas_adapters.cli", "glas_adapters.ray", "glas_adapters.report")

Graph = dict[str, set[str]]


def module_files(root: str = ROOT) -> dict[str, str]:
    """``{module name: file}`` for every ``.py`` file of the project's packages."""
    found = {}
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = os.path.join(folder, name)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _base(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of ``level`` dots starts from."""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(parts):
        raise ValueError(f"{module}: a relative import beyond the top package")
    return ".".join(parts[: len(parts) - (level - 1)])


def _deepest(name: str, modules: set[str]) -> str | None:
    """The longest prefix of the dotted ``name`` that is a project module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imported_modules(module: str, path: str, modules: set[str]) -> set[str]:
    """The project modules that ``module`` (the file ``path``) imports, anywhere in its body."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found = _deepest(alias.name, modules)
                if found is not None:
                    targets.add(found)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, is_package, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found = submodule if submodule in modules else _deepest(source, modules)
                if found is not None:
                    targets.add(found)
    targets.discard(module)
    return targets


def import_graph(root: str = ROOT) -> Graph:
    """Every project module and the project modules it imports."""
    files = module_files(root)
    names = set(files)
    return {module: imported_modules(module, path, names) for module, path in files.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (its modules in import order, the first repeated at the end) per strongly
    connected component of more than one module (Tarjan's algorithm, iterative).

    The cycle shown is a shortest one through the component's first module; :func:`tangles`
    gives every module of each component.
    """
    return [_cycle_in(graph, set(component)) for component in tangles(graph)]


def tangles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted: the modules that
    import each other, directly or around a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _cycle_in(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    first = min(component)
    path = _path(graph, first, {first}, within=component, back_to_start=True)
    assert path is not None
    return path


def _path(graph: Graph, start: str, goals: set[str], within: set[str] | None = None,
          back_to_start: bool = False) -> list[str] | None:
    """A shortest import chain from ``start`` to a module of ``goals`` (breadth first)."""
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph.get(node, ())):
            if within is not None and child not in within:
                continue
            if child in goals and (child != start or back_to_start):
                chain = [child, node]
                while parents[chain[-1]] is not None:
                    chain.append(parents[chain[-1]])  # type: ignore[arg-type]
                return chain[::-1]
            if child not in parents:
                parents[child] = node
                queue.append(child)
    return None


def _shown(chains: Iterable[list[str]]) -> str:
    return "\n".join("  " + " -> ".join(chain) for chain in chains)


# ---------------------------------------------------------------------------------------------
# the rules


def test_the_graph_is_read_from_every_module():
    graph = import_graph()
    assert {"glas_core", "glas_adapters", JOBS, "glas_adapters.cli", "glas_adapters.ray",
            "glas_adapters.report", "glas_adapters.hf.families"} <= set(graph)
    assert "glas_adapters.cli.command" in graph["glas_adapters.cli"]      # a package's __init__ is a module


def test_no_import_cycles():
    graph = import_graph()
    found = tangles(graph)
    report = "\n".join(f"  modules: {', '.join(component)}\n  e.g.     {' -> '.join(_cycle_in(graph, set(component)))}"
                       for component in found)
    assert not found, f"{len(found)} import cycle(s) (module-level and function-level imports):\n{report}"


def test_the_job_layer_reaches_no_command_line_ray_or_report_module():
    graph = import_graph()
    forbidden = {m for m in graph if any(_within(m, p) for p in NOT_FOR_JOBS)}
    chains = [chain for module in sorted(graph) if _within(module, JOBS)
              for chain in [_path(graph, module, forbidden)] if chain is not None]
    assert not chains, f"{JOBS} must not import {', '.join(NOT_FOR_JOBS)}:\n{_shown(chains)}"


def test_ray_and_the_report_are_no_part_of_the_command_line():
    """Ray and the report stand on the job layer beside the command line: neither reaches ``cli``."""
    graph = import_graph()
    cli = {m for m in graph if _within(m, "glas_adapters.cli")}
    chains = [chain for module in sorted(graph)
              if _within(module, "glas_adapters.ray") or _within(module, "glas_adapters.report")
              for chain in [_path(graph, module, cli)] if chain is not None]
    assert not chains, f"glas_adapters.ray and .report must not import glas_adapters.cli:\n{_shown(chains)}"


def test_glas_core_imports_nothing_from_glas_adapters():
    graph = import_graph()
    edges = [[module, target] for module in sorted(graph) if _within(module, "glas_core")
             for target in sorted(graph[module]) if _within(target, "glas_adapters")]
    assert not edges, f"glas_core must not import glas_adapters:\n{_shown(edges)}"


# ---------------------------------------------------------------------------------------------
# the reader itself, on a small made-up tree


def _tree(tmp_path, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def test_relative_lazy_and_package_imports_are_edges(tmp_path):
    root = _tree(tmp_path, {
        "glas_core/__init__.py": "",
        "glas_adapters/__init__.py": "",
        "glas_adapters/a/__init__.py": "from .b import thing\n",
        "glas_adapters/a/b.py": "def f():\n    from ..c import sub\n    import glas_core.x.y\n",
        "glas_adapters/c/__init__.py": "from . import sub\nfrom glas_adapters.a import NAME\n",
        "glas_adapters/c/sub.py": "import os\nfrom glas_adapters import a\n",
    })
    graph = import_graph(root)
    assert graph["glas_adapters.a"] == {"glas_adapters.a.b"}
    assert graph["glas_adapters.a.b"] == {"glas_adapters.c.sub", "glas_core"}
    assert graph["glas_adapters.c"] == {"glas_adapters.c.sub", "glas_adapters.a"}
    assert graph["glas_adapters.c.sub"] == {"glas_adapters.a"}
    assert cycles(graph) == [["glas_adapters.a", "glas_adapters.a.b", "glas_adapters.c.sub", "glas_adapters.a"]]


def test_a_tree_without_cycles_has_none(tmp_path):
    root = _tree(tmp_path, {
        "glas_core/__init__.py": "",
        "glas_adapters/__init__.py": "",
        "glas_adapters/jobs/__init__.py": "from .work import run\n",
        "glas_adapters/jobs/work.py": "import glas_core\n",
        "glas_adapters/cli/__init__.py": "from glas_adapters.jobs import run\n",
    })
    graph = import_graph(root)
    assert cycles(graph) == []
    assert _path(graph, "glas_adapters.jobs", {"glas_adapters.cli"}) is None
    assert _path(graph, "glas_adapters.cli", {"glas_core"}) == ["glas_adapters.cli", "glas_adapters.jobs",
                                                                 "glas_adapters.jobs.work", "glas_core"]
