"""What a user of the package expects: a version, a license, types, dependencies that match the imports."""

import ast
import configparser
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CFG = configparser.ConfigParser()
CFG.read(ROOT / "setup.cfg")

#: import name -> distribution name, where they differ
DIST = {"tomli_w": "tomli-w", "sklearn": "scikit-learn", "yaml": "pyyaml"}
#: imports allowed only through an extra (imported lazily, behind a clear error)
EXTRAS = {"cluster": {"dask", "distributed"}}


def _reqs(text):
    out = {}
    for line in text.strip().splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line)
            out[m.group(1).lower()] = m.group(2)
    return out


def _imports():
    """Top-level names of every module imported anywhere in ranker/ and sim/ (function-local imports too)."""
    names = set()
    for pkg in ("ranker", "sim"):
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("ranker", "sim", "__future__")}


def test_version_comes_from_the_installed_metadata(capsys):
    from ranker import __version__ as rv
    from sim import __version__ as sv
    from sim.cli import main

    assert rv == sv == version("ranksim") == CFG["metadata"]["version"]
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"ranksim {version('ranksim')}\n"
    out = subprocess.run([sys.executable, "-m", "sim.cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout == f"ranksim {version('ranksim')}\n"


def test_the_version_is_written_only_in_setup_cfg():
    v = CFG["metadata"]["version"]
    pat = re.compile(r"""(__version__|version)\s*=\s*["']""" + re.escape(v))
    hits = [str(f.relative_to(ROOT)) for pkg in ("ranker", "sim", "benchmarks") for f in (ROOT / pkg).rglob("*.py")
            if pat.search(f.read_text())]
    assert hits == []
    assert "version" not in (ROOT / "pyproject.toml").read_text().split("[build-system]")[0]


def test_license_file_is_the_declared_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert CFG["metadata"]["license"] == "MIT"
    assert "License :: OSI Approved :: MIT License" in CFG["metadata"]["classifiers"]


def test_both_packages_ship_py_typed():
    for pkg in ("ranker", "sim"):
        assert (ROOT / pkg / "py.typed").is_file()
        assert "py.typed" in CFG["options.package_data"][pkg]


def test_runtime_dependencies_are_the_runtime_imports():
    reqs = _reqs(CFG["options"]["install_requires"])
    imported = {DIST.get(n, n).lower() for n in _imports()}
    optional = set().union(*EXTRAS.values())
    assert imported - optional == set(reqs)  # tomli included: it stands in for tomllib before Python 3.11
    assert not optional & set(reqs)  # Dask only through the [cluster] extra
    for extra, mods in EXTRAS.items():
        assert set(_reqs(CFG["options.extras_require"][extra])) == mods
        assert mods <= set(_reqs(CFG["options.extras_require"]["test"]))  # the tests run the cluster too


@pytest.mark.parametrize("section,key", [("options", "install_requires"), ("options.extras_require", "cluster"),
                                         ("options.extras_require", "test")])
def test_every_dependency_has_a_lower_bound(section, key):
    for name, spec in _reqs(CFG[section][key]).items():
        assert ">=" in spec, f"{name} has no lower bound in [{section}] {key}"
