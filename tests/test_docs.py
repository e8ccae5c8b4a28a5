"""The docs say what the code is: docs/CONTRACTS.md names things that exist, with their real parameters.

Every ``name(a, b, ...)`` written in backticks in a section of CONTRACTS.md is
looked up in that section's modules (the paths in its heading), then in every
module of the packages, and its parameters must be the function's own, in
order (a trailing ``...`` stands for "and more"). Every CamelCase or
UPPER_CASE name in backticks must exist in some module. And nothing in the
repository points at files outside it.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ranker
import sim

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "docs" / "CONTRACTS.md"

# names in backticks that belong to other libraries or to the language
FOREIGN = {
    "ProcessPoolExecutor", "LocalCluster", "Booster", "SeedSequence", "Generator", "Future", "Client",
    "NaN", "TOML", "CSV", "UTC", "JSON", "SHAP", "NDCG", "DIR", "MODEL_DIR", "FILE",
}
# calls of a protocol, a parameter or a builtin that the contracts describe by name, not functions of ours
PROTOCOL = {"act", "fn", "func", "run_fn", "submit", "shutdown", "result", "min", "max", "abspath", "Params.describe"}
# names nested in the registered policy classes
NESTED = {"Params"}


def _modules():
    out = {}
    for pkg in (ranker, sim):
        out[pkg.__name__] = pkg
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            out[m.name] = importlib.import_module(m.name)
    return out


MODULES = _modules()


def _sections(text: str):
    """(heading's module names, body) per ``##`` section (the preamble: every module)."""
    parts = re.split(r"^## (.*)$", text, flags=re.M)
    yield list(MODULES), parts[0]
    for head, body in zip(parts[1::2], parts[2::2]):
        mods = []
        for path in re.findall(r"`((?:ranker|sim)/[\w/]*(?:\.py)?)`", head):
            name = path.removesuffix(".py").rstrip("/").replace("/", ".")
            mods.append(name)
        yield mods + list(MODULES), body


def _spans(body: str):
    """Backticked spans, and fenced code blocks joined into one line each."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", body, flags=re.S)
    body = re.sub(r"```[a-z]*\n.*?```", "", body, flags=re.S)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", body)]
    return spans + [" ".join(b.split()) for b in fenced]


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [a.strip() for a in out]


def _lookup(name: str, mods: list[str]):
    if "." in name:
        head, _, attr = name.rpartition(".")
        if head in MODULES:
            return getattr(MODULES[head], attr, None)
        for m in mods:  # Class.method
            obj = getattr(MODULES[m], head, None)
            if inspect.isclass(obj):
                return getattr(obj, attr, None)
        return None
    for m in mods:
        obj = getattr(MODULES[m], name, None)
        if obj is not None:
            return obj
    return None


def _params(obj) -> list[str] | None:
    fn = getattr(obj, "py_func", obj)  # a Numba dispatcher: its Python function
    if inspect.isclass(fn):
        fn = fn.__init__
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters if p != "self"]


CALL = re.compile(r"^([A-Za-z_][\w.]*)\(")


def _call(span: str):
    """``(name, argument text)`` when ``span`` is a call ``name(...)`` (optionally ``-> ...``), else None."""
    m = CALL.match(span)
    if not m:
        return None
    depth = 0
    for i in range(m.end() - 1, len(span)):
        depth += {"(": 1, ")": -1}.get(span[i], 0)
        if depth == 0:
            rest = span[i + 1:].strip()
            if rest and not rest.startswith("->"):
                return None
            return m.group(1), span[m.end():i]
    return None


def contract_problems(text: str) -> list[str]:
    problems = []
    for mods, body in _sections(text):
        for span in _spans(body):
            call = _call(span)
            if span.startswith("--") or re.fullmatch(r"[\w./-]+\.(md|py|toml|json|csv|txt|png|svg|html)", span):
                continue  # a command line or a file name
            if call is not None:
                name, args = call
                if name in PROTOCOL or name.split(".")[0] in FOREIGN or name.startswith(("m.", "np.")):
                    continue
                obj = _lookup(name, mods)
                if obj is None:
                    problems.append(f"{name}: not found")
                    continue
                doc = []
                for a in _split_args(args):
                    if a == "...":
                        doc.append("...")
                        break
                    a = a.lstrip("*").split("=")[0].split(":")[0].strip()
                    if a:
                        doc.append(a)
                real = _params(obj)
                usage = any(not (a.isidentifier() and not a.isupper()) for a in doc if a != "...")
                if real is None or real == ["args", "kwargs"] or not doc or usage:
                    continue  # an example of use, or a class without its own parameters
                if doc[-1] == "...":
                    ok = real[:len(doc) - 1] == doc[:-1]
                else:
                    ok = real == doc
                if not ok:
                    problems.append(f"{name}({', '.join(doc)}): the code has ({', '.join(real)})")
            else:
                for word in re.findall(r"(?<![\w.])([A-Z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*|[A-Z][A-Z0-9_]{2,})(?![\w(])",
                                       span):
                    if word in FOREIGN | NESTED or hasattr(builtins, word) or word in ("True", "False", "None"):
                        continue
                    if not any(hasattr(mod, word) for mod in MODULES.values()):
                        problems.append(f"{word}: not found (in `{span}`)")
    return sorted(set(problems))


def test_contracts_name_what_exists_with_its_parameters():
    problems = contract_problems(CONTRACTS.read_text(encoding="utf-8"))
    assert not problems, "docs/CONTRACTS.md is stale:\n  " + "\n  ".join(problems)


def test_the_contracts_check_catches_a_stale_name_and_signature():
    text = ("## Engine (`sim/engine.py`)\n`simulate(cfg, out_dir=None)` and `vanished(x)` and `NO_SUCH_NAME` and "
            "`simulate(cfg, out_dir=None, ...)` and `SimResultThatIsNot`.\n")
    problems = contract_problems(text)
    assert any(p.startswith("simulate(cfg, out_dir): the code has (cfg, out_dir, progress") for p in problems)
    assert "vanished: not found" in problems
    assert any(p.startswith("NO_SUCH_NAME: not found") for p in problems)
    assert any(p.startswith("SimResultThatIsNot: not found") for p in problems)
    assert len(problems) == 4  # `simulate(cfg, out_dir=None, ...)` is right


OUTSIDE = re.compile(r"DESIGN\.md|DOMAIN\.md|STYLE\.md|\.\./shared")


@pytest.mark.parametrize("pattern", ["*.py", "*.md", "*.ipynb", "*.cfg", "*.toml"])
def test_nothing_points_outside_the_repository(pattern):
    # restate what a file outside the repository says instead of citing it (tests may read shared data)
    bad = []
    for f in ROOT.rglob(pattern):
        rel = f.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in ("build", "dist") or rel == Path("tests/test_docs.py"):
            continue
        if rel == Path("tests/conftest.py"):
            continue
        for i, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append(f"{rel}:{i}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_notebooks_use_the_public_api_only():
    import json

    bad = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            for line in "".join(cell["source"]).splitlines():
                if re.search(r"\b(?:from|import)\s+(?:ranker|sim)(?:\.\w+)*\._|\b(?:ranker|sim)\._\w+", line):
                    bad.append(f"{nb.name}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_architecture_names_what_exists():
    problems = contract_problems((ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    assert not problems, "docs/ARCHITECTURE.md is stale:\n  " + "\n  ".join(problems)
