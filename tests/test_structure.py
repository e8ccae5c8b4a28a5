"""The packages' shape: no import cycle among their modules, no module over 800 lines, ranker never imports sim.

Imports are read from the source (every ``import`` statement, at module level
or inside a function: a function-local import that dodges a cycle is still a
cycle), so the test needs no import of the packages themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ranker", "sim")
MAX_LINES = 800


def package_sources(root: Path = ROOT) -> dict[str, str]:
    """``{dotted module name: source}`` of every .py file under the packages."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f.read_text(encoding="utf-8")
    return out


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Edges module -> package modules it imports (``from a import b`` is ``a.b`` when that is a module)."""
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for mod, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{mod}: relative import (the packages use absolute imports only)"
                base = node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base for a in node.names]
            for t in targets:
                # `import a.b.c` names a.b.c; keep the longest prefix that is one of our modules
                while t and t not in sources:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_among_package_modules():
    cycles = find_cycles(import_graph(package_sources()))
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_finder_sees_a_function_local_import_cycle():
    # a planted circle of three modules, one edge hidden in a function: the checker must report it
    sources = {"sim.a": "import sim.b\n", "sim.b": "from sim import c\n",
               "sim.c": "def f():\n    from sim.a import x\n", "sim.d": "import numpy\nfrom sim.a import y\n"}
    g = import_graph(sources)
    assert g["sim.b"] == {"sim.c"} and g["sim.c"] == {"sim.a"} and g["sim.d"] == {"sim.a"}
    assert find_cycles(g) == [["sim.a", "sim.b", "sim.c"]]
    assert find_cycles(import_graph({"sim.a": "import sim.b\n", "sim.b": "import numpy\n"})) == []


def test_ranker_never_imports_sim():
    graph = import_graph(package_sources())
    bad = {m: sorted(t for t in ts if t == "sim" or t.startswith("sim.")) for m, ts in graph.items()
           if m.startswith("ranker")}
    assert not {m: t for m, t in bad.items() if t}


@pytest.mark.parametrize("module", sorted(package_sources()))
def test_no_module_over_800_lines(module):
    n = package_sources()[module].count("\n")
    assert n <= MAX_LINES, f"{module} has {n} lines (at most {MAX_LINES}: split it along its jobs)"
