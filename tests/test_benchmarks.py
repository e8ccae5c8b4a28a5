"""The benchmark runner's honesty machinery, without timing anything: load warnings, run labels, README update."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


common = _load("_common")
run = _load("run")


@pytest.mark.parametrize("when,load,cores,busy", [("before", 0.4, 2, False), ("before", 0.6, 2, True),
                                                  ("after", 2.9, 2, False), ("after", 3.1, 2, True)])
def test_busy_machine_is_warned_about(monkeypatch, capsys, when, load, cores, busy):
    monkeypatch.setattr(common.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(common, "usable_cores", lambda: cores)
    c = common.load_check(when)
    out = capsys.readouterr().out
    assert c["busy"] is busy and c["load"] == load and c["cores"] == cores
    if busy:
        assert out.startswith(f"WARNING: the machine is busy {when} the timings: load average {load:.2f} on 2 cores")
    else:
        assert out == "" and c["warning"] is None


def test_runs_are_labelled():
    assert common.runs_label(1) == "single run" and common.runs_label(3) == "median of 3"
    rows = run.rows_engine({"compile_empty_cache_s": 101.0, "first_run_cached_s": 0.2, "rows": [
        {"users": 10_000, "days": 2, "log": False, "imps_per_s": 5e6, "reps": 3},
        {"users": 1_000_000, "days": 2, "log": False, "imps_per_s": 3e6, "loop_imps_per_s": 3.5e6, "reps": 1}]})
    assert [(r["what"], r["runs"]) for r in rows if r["kind"] == "speed"] == [
        ("10,000 users x 2 days, logging off", "median of 3"), ("1,000,000 users x 2 days, logging off", "single run"),
        ("1,000,000 users x 2 days, logging off, feed loop (world build left out)", "single run")]
    assert [r["value"] for r in rows if r["kind"] == "speed"] == [5e6, 3e6, 3.5e6]
    comp = [r for r in rows if r["kind"] == "compile"]
    assert comp[0]["what"].startswith("simulate: compile from an empty cache") and comp[0]["value"] == 101.0
    assert comp[1]["what"].startswith("simulate: first tiny run in this process")


def test_behavior_report_is_read_with_its_labels():
    text = ("compile from scratch: first call 3.10 s (import 1.00 s), in a fresh process\n"
            "first call here: 0.20 s (loaded from Numba's cache)\n\n"
            "100,000 impressions, median of 3:\n"
            "  numba kernel, 1 thread         70.00 M impressions/s\n"
            "  numpy                          10.00 M impressions/s\n"
            "  ratio face / numpy, both allocating, both 1 thread         5.50x   (target >= 5)\n"
            "  ratio kernel reused buffers / numpy allocating, 1 thread   7.00x\n")
    rows = run.parse_behavior(text)
    what = {r["what"]: (r["value"], r["runs"], r["kind"]) for r in rows}
    assert what["face / numpy, both allocating, both 1 thread (100,000 imps)"] == (5.5, "median of 3", "ratio")
    assert what["compile from an empty cache (fresh process)"] == (3.1, "single run", "compile")
    assert what["numba kernel, 1 thread (100,000 imps)"] == (70.0, "median of 3", "speed")


def _results():
    return {"date": "2026-12-03", "mode": "full", "seconds": 1500.0, "load_before": [0.1, 0, 0],
            "load_after": [2.0, 0, 0], "git": {"commit": "abcdef0123456", "dirty": False},
            "machine": {"cpu_model": "CPU", "cores": 2, "memory_gib": 8.0},
            "versions": {"python": "3.11", "numpy": "2", "numba": "0.6", "lightgbm": "4", "pyarrow": "26"},
            "load_checks": [{"busy": False, "warning": None},
                            {"busy": True, "warning": "WARNING: the machine is busy after the timings: x"}],
            "benchmarks": {
                "compare": {"rows": run.rows_compare({"command": "ranksim compare", "seconds": 300.0,
                                                      "reps": 1, "runs": 24, "impressions": 6_000_000})},
                "scoring": {"rows": [run.row("per core: kernel / numpy, both 1 thread (20,000 videos)", 11.0, "x",
                                             "ratio", runs="median of 7")]}}}


def test_readme_figures_are_replaced_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{run.README_START}\nold table\n{run.README_END}\nafter\n")
    run.update_readme(_results(), "2026-12-03.md", readme)
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n" + run.README_START) and text.endswith(run.README_END + "\nafter\n")
    assert "old table" not in text
    assert "(full run, 25 min in all)" in text  # how long the run took, measured
    assert "**WARNING: the machine is busy after the timings: x**" in text
    assert "| compare | `ranksim compare` (24 runs), wall | 300 | s | single run |" in text
    assert "- the default `ranksim compare`, end to end (the main job): 300 s" in text
    assert "- scoring kernel / NumPy at 20,000 videos, per core, both 1 thread (target 3x): 11.0x" in text
    assert "[`benchmarks/results/2026-12-03.md`](benchmarks/results/2026-12-03.md)" in text
    run.update_readme(_results(), "2026-12-03.md", readme)
    assert readme.read_text() == text  # idempotent
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no benchmark-figures markers"):
        run.update_readme(_results(), "x.md", readme)


def test_the_repository_readme_has_the_markers():
    text = (REPO / "README.md").read_text()
    assert text.count(run.README_START) == 1 and text.count(run.README_END) == 1
    assert text.index(run.README_START) < text.index(run.README_END)


def test_peers_without_recsim_says_how_to_install(tmp_path, monkeypatch, capsys):
    peers = _load("peers")
    monkeypatch.setitem(sys.modules, "recsim", None)
    assert peers.main(["--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "RecSim is not installed" in out and "pip install recsim-no-tf" in out
    assert json.loads((tmp_path / "p.json").read_text()) == {"skipped": peers.INSTALL}
    assert run.rows_peers({"skipped": peers.INSTALL}) == []
    assert "30,000" not in (REPO / "benchmarks" / "engine.py").read_text()  # no hand-written RecSim figure


def test_memory_run_reports_the_runs_peak(capsys):
    """``--memory-run`` / ``--memory-only``'s run, at a tiny scale: its figures and the sentence it prints."""
    eng = _load("engine")
    m = eng.memory_run(users=300, days=1)
    assert m["users"] == 300 and m["days"] == 1 and m["reps"] == 1
    assert m["impressions"] > 0 and m["seconds"] > 0
    assert 0.01 < m["peak_rss_gib"] < 24  # ru_maxrss is KiB on Linux: a process of tens to hundreds of MiB
    assert f"1 days x 300 users: {m['impressions']:,} impressions" in capsys.readouterr().out
