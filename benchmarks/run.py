"""Run every benchmark, print one table, and write the results with the machine and versions.

Usage::

    .venv/bin/python benchmarks/run.py --update-readme   # full sizes; then README's figures from this run
    .venv/bin/python benchmarks/run.py --quick     # small sizes, a few minutes (CI runs this)
    .venv/bin/python benchmarks/run.py --only engine,scoring --no-scaling
    .venv/bin/python benchmarks/run.py --table-from benchmarks/results/<date>.json [--update-readme]
                                                  # re-make the table (and README's figures) only

How long a full run takes is measured and written with its figures (the
``seconds`` of the JSON, and the line under the README's table).

Each benchmark script in ``benchmarks/`` runs in its own process (its thread
settings, memory and compile caches stay its own; one that fails is
reported and the rest still run). A script whose ``--help`` offers
``--json PATH`` is asked for its figures as JSON; otherwise its printed
report is parsed (``behavior.py`` and ``learn.py`` today). Scripts the
runner has no entry for are run as they are (``--quick`` passed when they
offer it) and their output kept.

What is recorded, per benchmark, are the figures as the scripts measure
them: medians over their repetitions (a figure from a single run says so in
its ``runs`` column), ratios against the NumPy references and the
memory-read floor taken in the same run with their thread counts stated
(per core: the same count on both sides; per thread count: each side at its
own), and the compile time measured in a fresh process from an empty Numba
cache, kept out of the throughput figures and reported apart. The main job,
the default ``ranksim compare``, is timed end to end (``compare.py``), and
RecSim's interest-evolution environment beside ranksim when RecSim is
installed (``peers.py``).

The scaling run (part of this script) times the whole feed loop over users
(10 thousand to 1 million; ``--quick``: 10 and 100 thousand) at a fixed
number of days, and over days at a fixed number of users, each point in a
fresh process (median of its repetitions, peak resident memory of that
process), logging off, worlds shaped as in ``benchmarks/engine.py``
(creators and newcomers scale with users). It plots how the cost grows.

Outputs, in ``--results-dir`` (default ``benchmarks/results``), named by
the local date (``-quick`` added for ``--quick``):

- ``<date>.json``: machine (CPU model, cores, memory), versions, git commit,
  load average before and after, every benchmark's rows and full printed
  output, the scaling points and the fitted growth exponents;
- ``<date>-scaling.png``: the scaling plot;
- ``<date>.md``: a headline table (throughput, ratios, compile times,
  growth exponents) and then every figure, as Markdown (for the README).

The machine may be shared: the load average is checked against the cores
before and after, and a busy machine is warned about in the output, the JSON
and the Markdown (ratios measured within one run are steadier than absolute
figures, but 2-thread figures need a free second core).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
DEFAULT_RESULTS = BENCH_DIR / "results"
README = ROOT / "README.md"
#: The README's figures live between these two lines; ``--update-readme`` rewrites what is between them.
README_START = "<!-- benchmark figures: made by `python benchmarks/run.py --update-readme`; do not edit by hand -->"
README_END = "<!-- end of benchmark figures -->"

sys.path.insert(0, str(BENCH_DIR))
from _common import load_check  # noqa: E402

# --------------------------------------------------------------------------- machine and versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_details() -> dict:
    """Vendor, family and model numbers, and whether a hypervisor is present (/proc/cpuinfo)."""
    out = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return out
    keys = {"vendor_id": "cpu_vendor", "cpu family": "cpu_family", "model": "cpu_model_number",
            "cpu MHz": "cpu_mhz"}
    for line in text.split("\n\n")[0].splitlines():
        k, _, v = (x.strip() for x in line.partition(":"))
        if k in keys:
            out[keys[k]] = v
        elif k == "flags":
            out["virtualized"] = "hypervisor" in v.split()
    return out


def memory_gib() -> float:
    """Total memory in GiB (MemTotal of /proc/meminfo; sysconf elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 2**30
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def machine() -> dict:
    cores = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return {"cpu_model": cpu_model(), "cores": cores, "usable_cores": usable, "memory_gib": round(memory_gib(), 1),
            "system": f"{platform.system()} {platform.release()}", "arch": platform.machine(),
            "hostname": platform.node(), **cpu_details()}


def versions() -> dict:
    import lightgbm
    import numba
    import numpy
    import pyarrow

    out = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__,
           "lightgbm": lightgbm.__version__, "pyarrow": pyarrow.__version__}
    try:
        from importlib.metadata import version

        out["ranksim"] = version("ranksim")
    except Exception:  # not installed (run from a bare checkout)
        out["ranksim"] = None
    out["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    return out


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


# --------------------------------------------------------------------------- rows


def row(what: str, value: float, unit: str, kind: str = "speed", ref: str | None = None, runs: str = "") -> dict:
    """One figure. ``kind``: speed (a median rate or time), ratio (measured in the same run), compile.
    ``runs``: "median of N", "single run", or "" where not applicable."""
    return {"what": what, "value": float(value), "unit": unit, "kind": kind, "ref": ref, "runs": runs}


_NUM = r"([0-9][0-9,]*\.?[0-9]*)"


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def parse_behavior(text: str) -> list[dict]:
    """Rows from ``behavior.py``'s printed report (it has no ``--json``)."""
    rows = []
    if m := re.search(rf"compile from scratch: first call {_NUM} s", text):
        rows.append(row("compile from an empty cache (fresh process)", _num(m[1]), "s", "compile", runs="single run"))
    if m := re.search(rf"first call here: {_NUM} s", text):
        rows.append(row("first call, loaded from the cache", _num(m[1]), "s", "compile", runs="single run"))
    for block in re.split(r"\n(?=[0-9][0-9,]* impressions, (?:median of|single run))", text)[1:]:
        n = block.split(" ", 1)[0]
        runs = m[1] if (m := re.match(r"[0-9,]+ impressions, (median of [0-9]+|single run)", block)) else ""
        for m in re.finditer(rf"^  ((?!ratio)[a-z0-9(),. ]+?)\s+{_NUM} M impressions/s", block, re.M):
            rows.append(row(f"{m[1]} ({n} imps)", _num(m[2]), "M impressions/s", runs=runs))
        for m in re.finditer(rf"^  ratio (.+?)\s+{_NUM}x", block, re.M):
            rows.append(row(f"{m[1].strip()} ({n} imps)", _num(m[2]), "x", "ratio", runs=runs))
    return rows


def parse_learn(text: str) -> list[dict]:
    """Rows from ``learn.py``'s printed report (it has no ``--json``)."""
    rows = []
    if m := re.search(rf"compile \(fresh process, empty cache\): {_NUM} s", text):
        rows.append(row("tree replay: compile from scratch (fresh process)", _num(m[1]), "s", "compile"))
    ev = _runs(int(m[1])) if (m := re.search(r"wall-clock medians of ([0-9]+)", text)) else "median"
    for m in re.finditer(rf"^\s+([12])\s+{_NUM}\s+{_NUM}\s+{_NUM}x\s+{_NUM}\s+{_NUM}\s+{_NUM}x", text, re.M):
        t = m[1]
        rows.append(row(f"tree replay (Numba), {t} thread(s)", _num(m[2]), "rows/s", runs=ev))
        rows.append(row(f"Booster.predict, {t} thread(s)", _num(m[3]), "rows/s", runs=ev))
        rows.append(row(f"tree replay / Booster.predict, both {t} thread(s)", _num(m[4]), "x", "ratio", runs=ev))
        rows.append(row(f"tree replay / Booster.predict, both {t} thread(s), CPU time", _num(m[7]), "x", "ratio",
                        runs=ev))
    if m := re.search(r"== training on ([0-9,]+) synthetic", text):
        n = m[1]
        if m2 := re.search(rf"build_training_set: {_NUM} s median of ([0-9]+)", text):
            rows.append(row(f"build_training_set, {n} impressions", _num(m2[1]), "s", runs=_runs(int(m2[2]))))
        for m2 in re.finditer(rf"train \(([0-9]+) trees, .*?([12]) thread\(s\).*?\): {_NUM} s median of ([0-9]+)",
                              text):
            rows.append(row(f"LambdaRank training, {n} impressions, {m2[1]} trees, {m2[2]} thread(s)",
                            _num(m2[3]), "s", runs=_runs(int(m2[4]))))
    return rows


def parse_sweep(text: str) -> list[dict]:
    """Rows from ``sweep.py``'s printed report (it has no ``--json``)."""
    rows = []
    if m := re.search(rf"first run in this process: {_NUM} s", text):
        rows.append(row("first run in this process (compile or cache load)", _num(m[1]), "s", "compile",
                        runs="single run"))
    n = m[1] if (m := re.search(r"sweep of ([0-9,]+) runs", text)) else "?"
    reps = int(m[1]) if (m := re.search(r"over ([0-9]+) repetitions", text)) else 0
    runs = _runs(reps) if reps else ""
    table = text.split("sweep of", 1)[-1]
    for m in re.finditer(rf"^  ([a-z][a-z0-9 ,-]+?)\s+{_NUM} s\s+{_NUM} s\s+{_NUM} s\s+{_NUM}\s*$", table, re.M):
        rows.append(row(f"sweep of {n} runs, {m[1]}", _num(m[2]), "s wall", runs=runs))
    kind = "wall"
    for line in table.splitlines():
        if "ratios" in line:
            kind = "CPU seconds" if "CPU" in line else "wall"
        elif m := re.match(rf"^    (.+?)\s+{_NUM}x", line):
            rows.append(row(f"{m[1].strip()}, {kind}", _num(m[2]), "x", "ratio"))
    return rows


def _runs(n) -> str:
    return "single run" if n == 1 else f"median of {n}"


def rows_scoring(d: dict) -> list[dict]:
    rows = [row("scoring kernels: compile from an empty cache (fresh process)", d["compile_empty_cache_s"], "s",
                "compile", runs="single run"),
            row(f"first call in this process ({d.get('first_call', 'compiled or loaded from the cache')})",
                d["first_call_s"], "s", "compile", d.get("first_call"), runs="single run")]
    for c in d["configs"]:
        tag = f"{c['n_videos']:,} videos"
        runs = _runs(c["repeats"])
        for name in ("kernel, 1 thread", "kernel, 2 threads", "kernel, quota 2, 2 threads", "face, 2 threads",
                     "numpy, 1 thread", "floor, all reads, 1 thread", "floor, all reads, 2 threads"):
            if name in c["rate"]:
                rows.append(row(f"{name} ({tag})", c["rate"][name] / 1e6, "M candidates/s", runs=runs))
        for name, v in c["ratios"].items():
            rows.append(row(f"{name} ({tag})", v, "x", "ratio", runs=runs))
    for r in d.get("vector_ir", []):
        rows.append(row(f"kernel time, plain loops / vector IR, both 1 thread ({r['n_videos']:,} videos)",
                        r["plain_over_ir"], "x", "ratio", runs=_runs(r["repeats"])))
    return rows


def rows_engine(d: dict) -> list[dict]:
    rows = [row("simulate: compile from an empty cache (fresh process), first tiny run", d["compile_empty_cache_s"],
                "s", "compile", runs="single run"),
            row(f"simulate: first tiny run in this process ({d.get('first_run_how', 'kernels from the cache')})",
                d["first_run_cached_s"], "s", "compile", runs="single run")]
    for r in d["rows"]:
        rows.append(row(f"{r['users']:,} users x {r['days']} days, logging {'on' if r['log'] else 'off'}",
                        r["imps_per_s"], "impressions/s", runs=_runs(r.get("reps", 1))))
        if "loop_imps_per_s" in r:  # the feed loop alone: the world's build left out
            rows.append(row(f"{r['users']:,} users x {r['days']} days, logging {'on' if r['log'] else 'off'}, "
                            "feed loop (world build left out)", r["loop_imps_per_s"], "impressions/s",
                            runs=_runs(r.get("reps", 1))))
    if "memory_run" in d:
        m = d["memory_run"]
        rows.append(row("1,000,000 users x 30 days: peak RSS", m["peak_rss_gib"], "GiB", runs="single run"))
    return rows


def rows_compare(d: dict) -> list[dict]:
    """The main job: the default ``ranksim compare`` (``compare.py``)."""
    runs = _runs(d["reps"])
    return [row(f"`{d['command']}` ({d['runs']} runs), wall", d["seconds"], "s", "job", runs=runs),
            row(f"`{d['command']}`, impressions per wall second", d["impressions"] / d["seconds"], "impressions/s",
                "job", runs=runs)]


def rows_peers(d: dict) -> list[dict]:
    """RecSim beside ranksim (``peers.py``); nothing when RecSim is not installed."""
    if "skipped" in d:
        return []
    runs = _runs(d["ranksim"]["repeats"])
    rows = [row(f"ranksim simulate, {d['ranksim']['users']:,} users x 1 day, 1 thread",
                d["ranksim"]["impressions_per_s"], "impressions/s", runs=runs)]
    for r in d["recsim"]:
        rows.append(row(f"RecSim interest evolution, {r['num_candidates']} candidates, slate {r['slate_size']}, "
                        "1 thread", r["slate_items_per_s"], "slate items/s", runs=_runs(r["repeats"])))
    for name, v in d["ratios"].items():
        rows.append(row(f"ranksim / {name}, both 1 thread", v, "x", "ratio", runs=runs))
    return rows


def rows_generic(d) -> list[dict]:
    """Numbers at the top level of a JSON result (scripts the runner has no entry for)."""
    if not isinstance(d, dict):
        return []
    return [row(k, v, "") for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


@dataclass
class Bench:
    """How to run one script: arguments for full and quick runs, and how to read its results."""

    name: str
    full_args: list = field(default_factory=list)
    quick_args: list = field(default_factory=list)
    from_json: object = None  # callable(dict) -> rows, used when the script writes --json
    from_text: object = None  # callable(str) -> rows, used otherwise


SUITE = {
    "compare": Bench("compare", [], ["--quick"], from_json=rows_compare),
    "behavior": Bench("behavior", [], ["--sizes", "100000", "--repeats", "3"], from_text=parse_behavior),
    "scoring": Bench("scoring", [], ["--requests", "50000", "--videos", "20000", "1000000", "--repeats", "3"],
                     from_json=rows_scoring),
    "engine": Bench("engine", [], ["--quick", "--reps", "1", "--days", "1"], from_json=rows_engine),
    "learn": Bench("learn", [], ["--quick"], from_text=parse_learn),
    "sweep": Bench("sweep", [], ["--quick", "--users", "3000", "--days", "2", "--policies", "none,fixed_tilt",
                                 "--seeds", "2", "--repeats", "1"], from_text=parse_sweep),
    "peers": Bench("peers", [], ["--quick", "--repeats", "1"], from_json=rows_peers),
}


def discover() -> list[Bench]:
    """Every benchmark script in benchmarks/ (the known ones first, in SUITE order)."""
    scripts = sorted(p.stem for p in BENCH_DIR.glob("*.py") if p.stem not in ("run", "__init__")
                     and not p.stem.startswith("_"))
    known = [SUITE[s] for s in SUITE if s in scripts]
    return known + [Bench(s, [], ["--quick"], from_json=rows_generic) for s in scripts if s not in SUITE]


def _help(script: Path) -> str:
    try:
        return subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT,
                              timeout=300).stdout
    except subprocess.TimeoutExpired:
        return ""


def run_bench(b: Bench, quick: bool, timeout: float) -> dict:
    """Run one script in its own process; returns its rows, printed output and timing."""
    script = BENCH_DIR / f"{b.name}.py"
    helptext = _help(script)
    # options the script does not offer are dropped, with their values
    cleaned, skip = [], False
    for a in (b.quick_args if quick else b.full_args):
        if a.startswith("--"):
            skip = a not in helptext
            if not skip:
                cleaned.append(a)
        elif not skip:
            cleaned.append(a)
    args = cleaned
    out = {"script": f"benchmarks/{b.name}.py", "args": args, "ok": False, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        jpath = Path(tmp) / f"{b.name}.json"
        # JSON only where the runner can read it: a script with a text reader and no JSON reader keeps
        # being read from its printed report until a reader for its JSON is added here
        wants_json = "--json" in helptext and (b.from_json is not None or b.from_text is None)
        cmd = [sys.executable, str(script), *args] + (["--json", str(jpath)] if wants_json else [])
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out.update(error=f"timed out after {timeout:.0f} s", stdout=(e.stdout or b"").decode(errors="replace")
                       if isinstance(e.stdout, bytes) else (e.stdout or ""), seconds=time.perf_counter() - t0)
            return out
        out["seconds"] = time.perf_counter() - t0
        out["stdout"] = proc.stdout
        if proc.returncode != 0:
            if m := re.search(r"ModuleNotFoundError: No module named '([^']+)'", proc.stderr):
                # an optional dependency this benchmark needs is not installed: skipped, not failed
                out.update(ok=True, skipped=f"needs the {m[1]} package, not installed here")
                return out
            out["error"] = f"exit {proc.returncode}: " + " ".join(proc.stderr.strip().splitlines()[-3:])
            return out
        try:
            if wants_json and jpath.is_file():
                data = json.loads(jpath.read_text())
                out["json"] = data
                if isinstance(data, dict) and "skipped" in data:  # an optional peer that is not installed
                    out.update(ok=True, skipped=data["skipped"], source="json")
                    return out
                out["rows"] = (b.from_json or rows_generic)(data)
                out["source"] = "json"
            elif b.from_text is not None:
                out["rows"] = b.from_text(proc.stdout)
                out["source"] = "printed report (the script has no --json)"
            else:
                out["source"] = "printed report only"
        except (KeyError, TypeError, ValueError) as e:
            out["error"] = f"could not read its results: {type(e).__name__}: {e}"
            return out
    out["ok"] = True
    if not out["rows"] and out["source"] != "printed report only":
        out["warning"] = "none of the expected figures were found in its results (format changed?)"
    return out


# --------------------------------------------------------------------------- scaling run

_POINT = r"""
import json, resource, statistics, sys, time
sys.path.insert(0, {bench!r})
from engine import world_for
from sim.engine import simulate
users, days, reps = {users}, {days}, {reps}
simulate(world_for(500, 1, 0.0), progress=False)  # compile, or load Numba's cache; not timed
runs = []
for _ in range(reps):
    t = time.perf_counter()
    res = simulate(world_for(users, days, 0.0), progress=False)
    runs.append((time.perf_counter() - t, res.impressions, res.timings))
wall = statistics.median(r[0] for r in runs)
print(json.dumps(dict(users=users, days=days, reps=reps, seconds=wall, impressions=runs[0][1],
                      world_s=statistics.median(r[2].get("world_s", float("nan")) for r in runs),
                      kernels_s=statistics.median(r[2].get("kernels_s", float("nan")) for r in runs),
                      peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def scaling_point(users: int, days: int, reps: int, timeout: float) -> dict:
    """One scaling point, in a fresh process (its peak RSS is that run's)."""
    code = _POINT.format(bench=str(BENCH_DIR), users=users, days=days, reps=reps)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scaling point {users:,} users x {days} days failed: "
                           + " ".join(proc.stderr.strip().splitlines()[-3:]))
    p = json.loads(proc.stdout.strip().splitlines()[-1])
    p["ns_per_impression"] = p["seconds"] / max(p["impressions"], 1) * 1e9
    return p


def growth_exponent(x, y) -> float:
    """Least-squares slope of log(y) on log(x): cost grows as x ** slope."""
    lx = [math.log(v) for v in x]
    ly = [math.log(v) for v in y]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx if sxx > 0 else float("nan")


def run_scaling(quick: bool, timeout: float, log=print) -> dict:
    if quick:
        users, days_users, day_list, days_at = [10_000, 100_000], 2, [1, 2, 4], 10_000
    else:
        users, days_users, day_list, days_at = [10_000, 30_000, 100_000, 300_000, 1_000_000], 2, [1, 2, 4, 8, 16], 30_000
    out = {"users": [], "days": [], "days_for_users": days_users, "users_for_days": days_at}
    for u in users:
        p = scaling_point(u, days_users, 3 if u <= 30_000 else 1, timeout)
        log(f"  scaling: {u:>9,} users x {days_users} days: {p['seconds']:7.2f} s, "
            f"{p['impressions']:>12,} impressions, peak {p['peak_rss_mib']:,.0f} MiB")
        out["users"].append(p)
    for d in day_list:
        p = scaling_point(days_at, d, 3 if d <= 4 else 1, timeout)
        log(f"  scaling: {days_at:>9,} users x {d:>2} days: {p['seconds']:7.2f} s, {p['impressions']:>12,} impressions")
        out["days"].append(p)
    out["exponent_users"] = growth_exponent([p["users"] for p in out["users"]], [p["seconds"] for p in out["users"]])
    out["exponent_days"] = growth_exponent([p["days"] for p in out["days"]], [p["seconds"] for p in out["days"]])
    return out


def plot_scaling(sc: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    u = [p["users"] for p in sc["users"]]
    s = [p["seconds"] for p in sc["users"]]
    ax[0].loglog(u, s, "o-", label=f"measured (slope {sc['exponent_users']:.2f})")
    ax[0].loglog(u, [s[0] * x / u[0] for x in u], ":", color="grey", label="linear in users")
    ax[0].set(xlabel="users", ylabel="wall-clock seconds", title=f"cost over users ({sc['days_for_users']} days)")
    ax[0].legend()
    ax[1].semilogx(u, [p["ns_per_impression"] for p in sc["users"]], "o-", label="ns per impression")
    ax[1].set(xlabel="users", ylabel="ns per impression", title="cost per impression")
    ax2 = ax[1].twinx()
    ax2.semilogx(u, [p["peak_rss_mib"] / 1024 for p in sc["users"]], "s--", color="C1", label="peak RSS")
    ax2.set_ylabel("peak RSS, GiB", color="C1")
    ax[1].set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    ax[1].legend(loc="upper left")
    d = [p["days"] for p in sc["days"]]
    s = [p["seconds"] for p in sc["days"]]
    ax[2].plot(d, s, "o-", label=f"measured (log-log slope {sc['exponent_days']:.2f})")
    ax[2].plot(d, [s[0] * x / d[0] for x in d], ":", color="grey", label="linear in days")
    ax[2].set(xlabel="days", ylabel="wall-clock seconds", title=f"cost over days ({sc['users_for_days']:,} users)")
    ax[2].set_ylim(bottom=0)
    ax[2].legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- table


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def table_rows(results: dict) -> list[tuple]:
    """(section, benchmark, what, value, unit) for the printed table."""
    out = []
    for kind, section in (("job", "the main job: the default `ranksim compare`, end to end"),
                          ("speed", "throughput"),
                          ("ratio", "ratios (measured in the same run; thread counts as stated)"),
                          ("compile", "compile (empty cache, fresh process) / first call (kept out of the figures "
                                      "above)")):
        for name, b in results["benchmarks"].items():
            for r in b["rows"]:
                if r["kind"] == kind:
                    out.append((section, name, r["what"], r["value"], r["unit"], r.get("runs", "")))
    sc = results.get("scaling")
    if sc:
        for p in sc["users"]:
            out.append(("scaling (fresh process per point)", "scaling",
                        f"{p['users']:,} users x {p['days']} days, logging off", p["impressions"] / p["seconds"],
                        "impressions/s", _runs(p.get("reps", 1))))
        out.append(("scaling (fresh process per point)", "scaling", "cost grows as users^k: k", sc["exponent_users"],
                    "", ""))
        out.append(("scaling (fresh process per point)", "scaling", "cost grows as days^k: k", sc["exponent_days"],
                    "", ""))
    return out


def format_table(results: dict) -> str:
    rows = table_rows(results)
    w = max([len(r[2]) for r in rows] + [10])
    lines, section = [], None
    lines.append(f"{'benchmark':<10} {'what':<{w}} {'value':>12}  {'unit':<16} runs")
    for sec, name, what, v, unit, runs in rows:
        if sec != section:
            lines.append(f"-- {sec}")
            section = sec
        lines.append(f"{name:<10} {what:<{w}} {_fmt(v):>12}  {unit:<16} {runs}")
    return "\n".join(lines)


#: The figures of the headline table (README): benchmark -> patterns of "what".
HEADLINE = {
    "compare": [r"."],
    "behavior": [r"^numba kernel, [12] threads? \(", r"^face / numpy, both allocating",
                 r"^face 2 threads / numpy 1 thread"],
    "scoring": [r"^kernel, [12] threads? \(", r"^per core: kernel / numpy, both 1 thread",
                r"^kernel 2 threads / numpy 1 thread", r"^per core: kernel time / floor \(all reads\)"],
    "engine": [r"users x"],
    "peers": [r"."],
    "learn": [r"^tree replay \(Numba\), 1", r"^tree replay / Booster.predict, both [12] thread\(s\)$",
              r"^LambdaRank training"],
    "sweep": [r"^sweep of"],
    "scaling": [r"users x", r"\^k"],
}


def headline_rows(results: dict) -> list[tuple]:
    """The rows of :func:`table_rows` that make the short table: throughput, ratios, growth, compile times."""
    out = []
    for r in table_rows(results):
        pats = HEADLINE.get(r[1], [])
        if r[0].startswith("compile") or any(re.search(p, r[2]) for p in pats):
            out.append(r)
    return out


def _md_table(rows) -> list[str]:
    lines = ["| benchmark | what | value | unit | runs |", "|---|---|---:|---|---|"]
    section = None
    for sec, name, what, val, unit, runs in rows:
        if sec != section:
            lines.append(f"| **{sec}** | | | | |")
            section = sec
        lines.append(f"| {name} | {what} | {_fmt(val)} | {unit} | {runs} |")
    return lines


def machine_line(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    virt = ", virtual machine" if m.get("virtualized") else ""
    return (f"{m['cpu_model']} ({m['cores']} cores{virt}), {m['memory_gib']:.0f} GiB; Python {v['python']}, "
            f"NumPy {v['numpy']}, Numba {v['numba']}, LightGBM {v['lightgbm']}, PyArrow {v['pyarrow']}")


def _duration(seconds) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def header_line(results: dict) -> str:
    head = (f"Benchmarks of {results['date']} ({results['mode']} run, {_duration(results.get('seconds'))} in all) "
            f"on {machine_line(results)}; load average "
            f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after. Made by "
            f"`python benchmarks/run.py{' --quick' if results['mode'] == 'quick' else ''}`"
            + (f" at commit {results['git']['commit'][:10]}{' (with local changes)' if results['git']['dirty'] else ''}"
               if results.get("git", {}).get("commit") else "") + ".")
    warnings = [c["warning"] for c in results.get("load_checks", []) if c.get("busy")]
    if warnings:
        head += "\n\n**" + " ".join(warnings) + "**"
    return head


def format_markdown(results: dict) -> str:
    """The run as Markdown: a headline table, then every figure."""
    lines = [header_line(results), "", "### Headline figures", ""] + _md_table(headline_rows(results))
    if results.get("scaling_plot"):
        lines += ["", f"![cost over users and days]({results['scaling_plot']})"]
    lines += ["", "### Every figure", ""] + _md_table(table_rows(results))
    return "\n".join(lines) + "\n"


def _find(results: dict, bench: str, pattern: str):
    for r in results["benchmarks"].get(bench, {}).get("rows", []):
        if re.search(pattern, r["what"]):
            return r["value"]
    return None


def targets_lines(results: dict) -> list[str]:
    """The project's speed targets against this run's figures (only those the run measured)."""
    out = []

    def add(text, v, fmt):
        if v is not None:
            out.append(f"- {text}: {fmt.format(v)}")

    add("the default `ranksim compare`, end to end (the main job)", _find(results, "compare", r"wall$"), "{:.0f} s")
    add("feed loop, 1,000,000 users, logging off (target 3 million/s)",
        _find(results, "engine", r"^1,000,000 users x .* logging off"), "{:,.0f} impressions/s")
    for nv in ("20,000", "1,000,000"):
        add(f"scoring kernel / NumPy at {nv} videos, per core, both 1 thread (target 3x)",
            _find(results, "scoring", rf"^per core: kernel / numpy, both 1 thread \({nv} videos"), "{:.1f}x")
        add(f"scoring kernel on 2 threads / NumPy on its 1 thread at {nv} videos",
            _find(results, "scoring", rf"^kernel 2 threads / numpy 1 thread \({nv} videos"), "{:.1f}x")
        for t in ("1 thread", "2 threads"):
            add(f"scoring kernel time / memory-read floor (all reads) at {nv} videos, both {t} (target 2x)",
                _find(results, "scoring", rf"^per core: kernel time / floor \(all reads\), both {t} \({nv} videos"),
                "{:.2f}x")
    add("behaviour model as the engine runs it (one impression at a time, serial Numba loop) / NumPy, "
        "both 1 thread, 2,000,000 impressions (target 5x)",
        _find(results, "behavior", r"^one by one / numpy, both 1 thread \(2,000,000"), "{:.1f}x")
    add("behaviour model's batch face (public API; the engine does not call it) / NumPy, both allocating, "
        "both 1 thread, 2,000,000 impressions",
        _find(results, "behavior", r"^face / numpy, both allocating, both 1 thread \(2,000,000"), "{:.1f}x")
    add("compile from an empty cache, the first `simulate` after installing",
        _find(results, "engine", r"compile from an empty cache"), "{:.0f} s")
    return out


def readme_block(results: dict, md_name: str) -> str:
    lines = [header_line(results), ""] + _md_table(headline_rows(results))
    if results.get("scaling_plot"):
        lines += ["", f"![cost over users and days](benchmarks/results/{results['scaling_plot']})"]
    lines += ["", f"Every figure of that run: [`benchmarks/results/{md_name}`](benchmarks/results/{md_name})."]
    t = targets_lines(results)
    if t:
        lines += ["", "Against the project's targets, in this run:", ""] + t
    return "\n".join(lines)


def update_readme(results: dict, md_name: str, readme: Path = README) -> None:
    """Replace the README's figures (between :data:`README_START` and :data:`README_END`) with this run's."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme} has no benchmark-figures markers ({README_START!r} ... {README_END!r}).")
    a = text.index(README_START) + len(README_START)
    b = text.index(README_END)
    readme.write_text(text[:a] + "\n\n" + readme_block(results, md_name) + "\n\n" + text[b:])


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a few minutes (what CI runs)")
    ap.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="where results go "
                    "(default benchmarks/results)")
    ap.add_argument("--only", metavar="A,B", help="run only these: script names without .py, and 'scaling'")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling run")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds allowed per script (default 7200)")
    ap.add_argument("--table-from", type=Path, metavar="JSON", help="run nothing: print the table of an earlier "
                    "results file and rewrite its .md beside it")
    ap.add_argument("--update-readme", action="store_true", help="then replace README.md's figures with this run's "
                    "headline table (a full run's; with --table-from, that file's)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if a.table_from is not None:
        results = json.loads(a.table_from.read_text())
        print(format_table(results))
        md = a.table_from.with_suffix(".md")
        md.write_text(format_markdown(results))
        print(f"wrote {md}")
        if a.update_readme:
            update_readme(results, md.name)
            print(f"updated {README}")
        return 0

    mode = "quick" if a.quick else "full"
    date = _dt.date.today().isoformat()
    stem = date + ("-quick" if a.quick else "")
    a.results_dir.mkdir(parents=True, exist_ok=True)
    benches = discover()
    names = [b.name for b in benches] + ["scaling"]
    want = names if a.only is None else [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = sorted(set(want) - set(names))
    if unknown:
        ap.error(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(names)}")
    benches = [b for b in benches if b.name in want]
    results = {"format": 1, "date": date, "mode": mode, "started": _dt.datetime.now().isoformat(timespec="seconds"),
               "machine": machine(), "versions": versions(), "git": git_commit(),
               "load_before": list(os.getloadavg()), "benchmarks": {}}
    m = results["machine"]
    print(f"{m['cpu_model']}, {m['cores']} cores, {m['memory_gib']:.1f} GiB; "
          f"load average {results['load_before'][0]:.2f}; {mode} run", flush=True)
    results["load_checks"] = [load_check("before")]
    t_all = time.perf_counter()
    for b in benches:
        print(f"running benchmarks/{b.name}.py ...", end=" ", flush=True)
        r = run_bench(b, a.quick, a.timeout)
        results["benchmarks"][b.name] = r
        note = f"  FAILED: {r.get('error')}" if not r["ok"] else f"  skipped: {r['skipped']}" if r.get("skipped") \
            else f"  warning: {r['warning']}" if r.get("warning") else ""
        print(f"{r.get('seconds', 0):.0f} s{note}", flush=True)
    failed = [n for n, r in results["benchmarks"].items() if not r["ok"]]
    if "scaling" in want and not a.no_scaling:
        print("running the scaling run ...", flush=True)
        try:
            results["scaling"] = run_scaling(a.quick, a.timeout)
            png = a.results_dir / f"{stem}-scaling.png"
            m, v = results["machine"], results["versions"]
            plot_scaling(results["scaling"], png, f"ranksim feed loop, logging off ({mode} run {date}); "
                         f"{m['cpu_model']}, {m['cores']} cores, Numba {v['numba']}")
            results["scaling_plot"] = png.name
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            results["scaling_error"] = str(e)
            failed.append("scaling")
            print(f"  scaling FAILED: {e}", flush=True)
    results["load_after"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - t_all

    print()
    print(format_table(results))
    print(f"\nload average {results['load_before'][0]:.2f} before, {results['load_after'][0]:.2f} after; "
          f"{results['seconds']:.0f} s in all")
    results["load_checks"].append(load_check("after"))
    jpath = a.results_dir / f"{stem}.json"
    jpath.write_text(json.dumps(results, indent=1, default=str) + "\n")
    (a.results_dir / f"{stem}.md").write_text(format_markdown(results))
    print(f"wrote {jpath}" + (f", {a.results_dir / results['scaling_plot']}" if results.get("scaling_plot") else "")
          + f", {a.results_dir / (stem + '.md')}")
    if a.update_readme:
        update_readme(results, f"{stem}.md")
        print(f"updated {README}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
