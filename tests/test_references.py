"""Every Numba kernel of ranksim has a slow twin indexed by tests/reference.py."""

import importlib
import inspect
import pkgutil

import numba.core.registry

import ranker
import sim
from tests import reference

# Kernels whose twin lives under another name (kernel -> twin), or that are helpers inlined into a
# kernel which has a twin (tested through it).
COVERED_BY = {
    "mix64": "mix64", "key": "key", "uniform": "uniform",
}


def _kernels():
    for pkg in (ranker, sim):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            mod = importlib.import_module(m.name)
            for name, obj in vars(mod).items():
                if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == mod.__name__:
                    yield mod.__name__, name


def test_reference_index_covers_every_kernel_module():
    """Each module that defines a Numba kernel has a reference section (or the rng twins)."""
    area = {"ranker.rng": None, "sim.behavior": "behavior", "sim._engine_kernels": "engine",
            "sim.engine": "engine", "sim.metrics": "engine", "sim.seen": "engine", "ranker.policies": "policies", "ranker._policy_kernels": "policies",
            "ranker._score_kernels": "score", "ranker._vector_ir": "score", "ranker._explore_kernels": "explore",
            "sim.loop": "engine",
            "ranker.score": "score", "ranker.signals": "signals", "ranker._tree_kernels": "trees",
            "sim.behavior_batch": "behavior", "sim.world": "world", "sim.creators": "creators",
            "sim.users": "users", "sim.sellers": "sellers", "sim.live": "live", "sim._serve_record": "engine",
            "sim._live_kernels": "live"}
    modules = {m for m, _ in _kernels()}
    missing = sorted(modules - set(area))
    assert not missing, f"kernel modules without a reference section: {missing}"
    for m in modules:
        if area[m] is not None:
            sec = reference.SECTIONS[area[m]]
            assert [n for n, f in inspect.getmembers(sec, inspect.isfunction) if f.__module__ == sec.__name__]


def test_rng_twins_present():
    for name in COVERED_BY.values():
        assert callable(getattr(reference, name))
