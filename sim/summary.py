"""The summary files of a comparison: ``summary.csv`` (one row per run) and ``summary.json``.

``summary.json`` holds the same rows, per-arm statistics, differences
against the baseline paired by seed (:mod:`sim.stats`) and per-arm means of
the series metrics; :mod:`sim.report` draws from these two files. Nothing in
them depends on wall-clock time or on the executor.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Sequence

from ranker.io import atomic_write as _atomic
from sim.arms import BASELINE, Arm, RunSpec, jsonable
from sim.stats import CI_LEVEL, scalar_names, series_names, summarize_paired_series, summarize_rows, summarize_series

SUMMARY_FORMAT = 1
#: Leading columns of ``summary.csv``; every scalar metric follows, by name.
ID_COLUMNS = ("run_id", "arm", "policy", "params", "seed")


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and one rename."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _atomic(path, lambda f: f.write(raw))


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def summary_rows(specs: Sequence[RunSpec], metrics: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """Rows of ``summary.csv`` (one per run) and the scalar metric names."""
    names: list[str] = []
    for m in metrics:
        for k in scalar_names(m):
            if k not in names:
                names.append(k)
    names.sort()
    rows = []
    for s, m in zip(specs, metrics):
        row = {"run_id": s.run_id, "arm": s.arm, "policy": s.config.policy.name,
               "params": json.dumps(jsonable(s.config.policy.params), sort_keys=True, separators=(",", ":")),
               "seed": s.seed}
        for k in names:
            v = m.get(k, {}).get("value")
            row[k] = None if v is None else (float(v) if isinstance(v, float) else v)
        rows.append(row)
    return rows, names


def write_summary(out_dir, arms: Sequence[Arm], specs: Sequence[RunSpec], metrics: Sequence[dict],
                  options: dict | None = None) -> dict:
    """Write ``summary.csv`` and ``summary.json`` into ``out_dir`` (atomically); return the summary.

    Nothing in them depends on wall-clock time or on the executor, so the
    same comparison writes the same bytes.
    """
    out = Path(out_dir)
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"write_summary: runs {', '.join(dup)} appear more than once; each run directory "
                         "must be summarized exactly once.")
    if len(metrics) != len(specs):
        raise ValueError(f"write_summary: {len(specs)} runs but {len(metrics)} metrics.")
    rows, names = summary_rows(specs, metrics)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(ID_COLUMNS) + names
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r[c]) for c in cols])
    seeds = sorted({s.seed for s in specs})
    labels = [a.label for a in arms]
    # statistics from the rows as read back from the CSV text, so they equal what the CSV shows
    stats, paired = summarize_rows(read_summary_csv_text(buf.getvalue()), labels, names, seeds)
    per_arm = {a: [m for s, m in zip(specs, metrics) if s.arm == a] for a in labels}
    snames = sorted({n for m in metrics for n in series_names(m)})
    info = {}
    for m in metrics:
        for k, v in m.items():
            info.setdefault(k, {"unit": v.get("unit", ""), "description": v.get("description", "")})
    summary = {
        "format": SUMMARY_FORMAT,
        "baseline": BASELINE,
        "ci_level": CI_LEVEL,
        "options": jsonable(options or {}),
        "arms": [a.to_dict() for a in arms],
        "seeds": seeds,
        "scalars": names,
        "metric_info": {k: info[k] for k in sorted(info)},
        "runs": [{"run_id": r["run_id"], "arm": r["arm"], "policy": r["policy"], "params": json.loads(r["params"]),
                  "seed": r["seed"], "dir": f"runs/{r['run_id']}", "scalars": {k: r[k] for k in names}}
                 for r in rows],
        "stats": stats,
        "paired": paired,
        "series": summarize_series(per_arm, snames),
        "paired_series": summarize_paired_series(
            {a: {s.seed: m for s, m in zip(specs, metrics) if s.arm == a} for a in labels}),
    }
    atomic_write(out / "summary.csv", buf.getvalue())
    atomic_write(out / "summary.json", json.dumps(jsonable(summary), indent=1, allow_nan=False) + "\n")
    return summary


def read_summary_csv_text(text: str) -> list[dict]:
    """Parse ``summary.csv`` text: metric cells to float (empty: ``None``), seed to int."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for r in reader:
        row = {}
        for k, v in r.items():
            if k in ("run_id", "arm", "policy", "params"):
                row[k] = v
            elif k == "seed":
                row[k] = int(v)
            else:
                row[k] = None if v == "" else float(v)
        rows.append(row)
    return rows


def read_summary_csv(path) -> list[dict]:
    """Rows of a ``summary.csv`` file (see :func:`read_summary_csv_text`)."""
    return read_summary_csv_text(Path(path).read_text(encoding="utf-8"))
