"""The import boundary: ``ranker`` (usable on real logs) imports nothing from ``sim``.

Checked twice: statically, by reading every module under ``ranker/`` with
``ast`` (so a lazy import inside a function is caught too), and dynamically,
by importing every ``ranker`` submodule in a fresh interpreter and looking
for ``sim`` in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RANKER = REPO / "ranker"
FORBIDDEN = "sim"


def _is_forbidden(module: str | None) -> bool:
    return module is not None and (module == FORBIDDEN or module.startswith(FORBIDDEN + "."))


def forbidden_imports(source: str, filename: str = "<string>") -> list[tuple[int, str]]:
    """(line, what) for every import of ``sim`` or ``sim.*`` in ``source``.

    Covers ``import sim``, ``import sim.world as w``, ``from sim import x``,
    ``from sim.config import x`` anywhere in the module (top level, inside
    functions, under ``if TYPE_CHECKING``), and ``importlib.import_module("sim...")``
    or ``__import__("sim...")`` with a literal name.
    """
    hits = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            hits += [(node.lineno, f"import {a.name}") for a in node.names if _is_forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            # level > 0 is relative to ranker itself, which cannot reach the top-level sim package
            if node.level == 0 and _is_forbidden(node.module):
                hits.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            fname = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
            arg = node.args[0].value
            if fname in ("import_module", "__import__") and isinstance(arg, str) and _is_forbidden(arg):
                hits.append((node.lineno, f"{fname}({arg!r})"))
    return hits


def ranker_sources() -> list[Path]:
    return sorted(p for p in RANKER.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("source, n", [
    ("import sim", 1),
    ("import numpy, sim.world as w", 1),
    ("from sim import config", 1),
    ("from sim.behavior import impression", 1),
    ("def f():\n    from sim.world import build_world\n    return build_world", 1),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sim.config", 1),
    ("import importlib\nm = importlib.import_module('sim.engine')", 1),
    ("m = __import__('sim')", 1),
    ("import simulation, simple\nfrom simpy import x\nfrom . import sim\nfrom .sim import y", 0),
    ("import numpy as np\nfrom ranker.params import Section\nx = 'sim'", 0),
])
def test_checker_finds_what_it_should(source, n):
    # the static check below is only worth something if it can fail
    assert len(forbidden_imports(source)) == n


def test_ranker_source_imports_nothing_from_sim():
    files = ranker_sources()
    names = {p.relative_to(RANKER).as_posix() for p in files}
    assert {"__init__.py", "params.py", "rng.py", "policies.py", "score.py"} <= names
    bad = {}
    for p in files:
        hits = forbidden_imports(p.read_text(encoding="utf-8"), str(p))
        if hits:
            bad[p.relative_to(REPO).as_posix()] = hits
    assert not bad, f"ranker must not import sim: {bad}"


_PROBE = r"""
import importlib, json, pkgutil, sys
import ranker
imported, failed = [], {}
for info in pkgutil.walk_packages(ranker.__path__, "ranker."):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as e:
        failed[info.name] = f"{type(e).__name__}: {e}"
sim = sorted(m for m in sys.modules if m == "sim" or m.startswith("sim."))
print(json.dumps({"file": ranker.__file__, "imported": imported, "failed": failed, "sim": sim}))
"""


def test_importing_every_ranker_module_loads_no_sim_module():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().parent == RANKER
    assert not out["failed"], out["failed"]
    expected = {"ranker." + p.relative_to(RANKER).with_suffix("").as_posix().replace("/", ".")
                for p in ranker_sources() if p.name != "__init__.py"}
    assert expected <= set(out["imported"])
    assert out["sim"] == [], f"importing ranker loaded {out['sim']}"
