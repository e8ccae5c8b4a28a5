"""The comparison report: every image exists, every number equals summary.csv, it opens in a browser.

The numbers are checked against an independent recomputation from
``summary.csv`` (means over seeds and paired t intervals written out here with
NumPy and SciPy), through the ``data-*`` attributes each number carries, and
the displayed text is checked to be that value rounded. The report is built
twice: from the real engine on a tiny world (``ranksim compare`` end to end,
with 1 and with 2 worker processes), and from the fake engine of
``tests/test_compare.py`` with a sweep and a missing metric.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim import compare as C
from sim.report import Num, format_num, verdict_lines
from tests.test_compare import fake_run, tiny_cfg

NUMBER_TABLES = ("verdict", "means", "paired", "all-means")
TINY_ARGS = ["compare", "--users", "300", "--days", "4", "--seeds", "2", "--policies", "none,fixed_tilt,slot_quota", "--quiet"]


# --- parsing the report ---------------------------------------------------------------


class _Report(HTMLParser):
    """Collects images, links, number spans, and table-cell text outside number spans and arm labels."""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.nums = [], [], []
        self.stray = []  # (table id, text) of td text outside spans and arm labels
        self.tables = []
        self._table = []
        self._td = 0
        self._skip = []  # stack of tags whose text is not "stray"
        self._num = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src"))
        elif tag == "a":
            self.links.append(a.get("href"))
        elif tag == "table":
            self._table.append(a.get("id"))
            self.tables.append(a.get("id"))
        elif tag == "td":
            self._td += 1
        elif tag == "span" and a.get("class") == "num":
            self._num = dict(a, text="", table=self._table[-1] if self._table else None)
            self._skip.append("span")
        elif tag == "code" and a.get("class") == "arm":
            self._skip.append("code")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table.pop()
        elif tag == "td":
            self._td -= 1
        elif tag == "span" and self._num is not None:
            self.nums.append(self._num)
            self._num = None
            self._skip.pop()
        elif tag == "code" and self._skip and self._skip[-1] == "code":
            self._skip.pop()

    def handle_data(self, data):
        if self._num is not None:
            self._num["text"] += data
        elif self._td and not self._skip and self._table and self._table[-1] in NUMBER_TABLES:
            self.stray.append((self._table[-1], data))


def parse_report(path) -> _Report:
    p = _Report()
    p.feed(Path(path).read_text(encoding="utf-8"))
    return p


# --- an independent recomputation from summary.csv -----------------------------------------


def csv_values(out):
    """``(arm, metric) -> {seed: value or nan}`` from summary.csv."""
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    vals = {}
    for r in rows:
        for k, v in r.items():
            if k in ("run_id", "arm", "policy", "params", "seed"):
                continue
            vals.setdefault((r["arm"], k), {})[int(r["seed"])] = float(v) if v != "" else math.nan
    return vals


def expected(vals, arm, metric, stat):
    x = vals[(arm, metric)]
    if stat in ("mean", "lo", "hi"):
        v = np.array([x[s] for s in sorted(x)])
        v = v[np.isfinite(v)]
        if stat == "mean":
            return float(v.mean()) if v.size else math.nan
        if v.size < 2:
            return math.nan
        if np.std(v) == 0:
            return float(v.mean())
        lo, hi = stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
        return float(lo if stat == "lo" else hi)
    assert stat.startswith("paired.")
    b = vals[("none", metric)]
    seeds = [s for s in sorted(x) if np.isfinite(x[s]) and np.isfinite(b.get(s, math.nan))]
    a_ = np.array([x[s] for s in seeds])
    b_ = np.array([b[s] for s in seeds])
    d = a_ - b_
    what = stat.split(".", 1)[1]
    if what == "base":
        return float(b_.mean())
    if what == "arm":
        return float(a_.mean())
    if what == "diff":
        return float(d.mean())
    if what in ("rel",):
        return float(d.mean() / abs(b_.mean()))
    if d.size < 2:
        return math.nan
    if np.std(d) == 0:
        lo = hi = float(d.mean())
    else:
        lo, hi = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    if what in ("lo", "hi"):
        return float(lo if what == "lo" else hi)
    if what in ("rel_lo", "rel_hi"):
        return float((lo if what == "rel_lo" else hi) / abs(b_.mean()))
    raise AssertionError(stat)


def shown_value(text: str):
    """The number a cell displays, and the half-width of its rounding."""
    t = text.replace("\u2212", "-").replace(",", "").replace("pts", "").replace("%", "").replace("+", "").strip()
    if t == "n/a":
        return math.nan, 0.0
    dec = len(t.split(".")[1]) if "." in t else 0
    return float(t), 0.5 * 10.0 ** -dec


def check_report(out: Path, n_arms: int, n_seeds: int):
    """Every image exists, every table number equals summary.csv, and tables hold no untraced digits."""
    html_path = out / "report.html"
    rep = parse_report(html_path)
    # images and links
    assert len(rep.imgs) >= 8
    for src in rep.imgs:
        assert not re.match(r"^[a-z]+:", src), f"{src} is not a relative path: the report must open offline"
        f = out / src
        assert f.is_file() and f.stat().st_size > 1000, src
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = f.with_suffix(".svg")
        assert svg.is_file() and b"<svg" in svg.read_bytes()[:2000]
    for href in rep.links:
        assert (out / href).is_file(), href
    assert "<script" not in html_path.read_text()
    # numbers
    for t in NUMBER_TABLES[:3]:
        assert t in rep.tables
    vals = csv_values(out)
    arms = {a for a, _ in vals}
    assert len(arms) == n_arms and all(len(v) == n_seeds for v in vals.values())
    assert len(rep.nums) > 10 * n_arms
    for n in rep.nums:
        want = expected(vals, n["data-arm"], n["data-metric"], n["data-stat"])
        got = float(n["data-value"])
        where = f"{n['data-arm']} {n['data-metric']} {n['data-stat']} in #{n['table']}"
        if math.isnan(want):
            assert math.isnan(got) and n["text"] == "n/a", where
            continue
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), where
        shown, half = shown_value(n["text"])
        v = abs(got) if n.get("data-abs") == "1" else got
        assert abs(shown - v * float(n["data-scale"])) <= half * (1 + 1e-9) + 1e-12, (where, n["text"], v)
    # no number in a table that is not one of those
    for table, text in rep.stray:
        assert not re.search(r"\d", text), f"untraced number {text!r} in #{table}"
    # every arm has a verdict row
    verdict = [n for n in rep.nums if n["table"] == "verdict"]
    assert {n["data-arm"] for n in verdict} == arms
    return rep


# --- the real engine, end to end ---------------------------------------------------------


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    from sim.cli import main

    root = tmp_path_factory.mktemp("compare")
    assert main(TINY_ARGS + ["--jobs", "2", "--out", str(root / "j2")]) == 0
    assert main(TINY_ARGS + ["--jobs", "1", "--out", str(root / "j1")]) == 0
    return root


def test_real_report_numbers_and_images(real_reports):
    out = real_reports / "j2"
    check_report(out, n_arms=3, n_seeds=2)
    for run in ("none__seed0", "fixed_tilt__seed1", "slot_quota__seed0"):
        d = out / "runs" / run
        assert (d / "config.toml").is_file() and (d / "metrics.json").is_file()
        assert not (d / "events").exists()  # log_sample = 0


def test_real_results_identical_with_1_and_2_jobs(real_reports):
    for name in ("summary.csv", "summary.json"):
        assert (real_reports / "j1" / name).read_bytes() == (real_reports / "j2" / name).read_bytes(), name
    # and the same as each run's own metrics.json
    s = json.loads((real_reports / "j1" / "summary.json").read_text())
    for r in s["runs"]:
        m = json.loads((real_reports / "j2" / r["dir"] / "metrics.json").read_text())
        assert r["scalars"]["value_per_impression"] == m["value_per_impression"]["value"]


def test_real_rerun_reuses_complete_runs(real_reports, capsys):
    from sim.cli import main

    out = real_reports / "j1"
    before = (out / "summary.csv").read_bytes()
    assert main(TINY_ARGS + ["--out", str(out)]) == 0
    assert "0 runs (6 reused)" in capsys.readouterr().out
    assert (out / "summary.csv").read_bytes() == before


# --- the fake engine: sweeps, missing values, formats ---------------------------------------


def test_fake_report_with_sweep(tmp_path):
    out = tmp_path / "rep"
    res = C.compare(tiny_cfg(), policies="none,fixed_tilt,ucb", sweeps=["fixed_tilt.strength=0.25,2"], seeds=3,
                    out_dir=out, jobs=1, progress=False, run_fn=fake_run)
    assert res.report == out / "report.html"
    rep = check_report(out, n_arms=5, n_seeds=3)
    assert {Path(s).stem for s in rep.imgs} >= {"exposure_over_time", "lorenz", "quality_exposure", "survival",
                                                "breakouts", "user_value", "ai_parity", "frontier"}
    # days_to_target_median is undefined in every run: shown as n/a, not 0
    nas = [n for n in rep.nums if n["data-metric"] == "days_to_target_median"]
    assert nas and all(n["text"] == "n/a" for n in nas)
    lines = verdict_lines(out)
    assert len(lines) == 5 and lines[0].startswith("none ")
    assert verdict_lines(res.summary) == lines


def test_one_seed_report_has_no_intervals(tmp_path):
    out = tmp_path / "rep"
    C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=1, out_dir=out, jobs=1, progress=False, run_fn=fake_run)
    rep = check_report(out, n_arms=2, n_seeds=1)
    assert not [n for n in rep.nums if n["data-stat"].endswith(("lo", "hi"))]
    assert "cannot tell" in " ".join(verdict_lines(out))


@pytest.mark.parametrize("value, kind, text", [
    (0.041, "pct", "4.1 %"), (0.0987, "pct", "9.9 %"), (0.0041, "pct", "0.41 %"), (0.0, "pct", "0.0 %"),
    (0.057, "pts", "+5.7 pts"), (-0.012, "rel", "\u22121.2 %"), (-0.0004, "rel", "\u22120.04 %"),
    (-0.00001, "rel", "0.00 %"), (0.51234, "num", "0.5123"), (12345.6, "num", "12,346"), (-0.0123456, "snum", "\u22120.01235"),
    (3e-7, "snum", "+0.0000003000"), (math.nan, "pct", "n/a"), (None, "num", "n/a"),
])
def test_format_num(value, kind, text):
    assert format_num(Num(value, kind, "a", "m", "mean")) == text


def test_format_num_absolute_and_bare():
    assert format_num(Num(-0.027, "rel", "a", "m", "s", absolute=True)) == "2.7 %"
    assert format_num(Num(-0.027, "rel", "a", "m", "s", bare=True)) == "\u22122.7"


# --- in a browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_PROBE = ("<script>window.addEventListener('load', function () {var im = document.images, bad = 0;"
          "for (var i = 0; i < im.length; i++) { if (!im[i].complete || im[i].naturalWidth === 0) bad++; }"
          "document.body.setAttribute('data-images', im.length); document.body.setAttribute('data-broken', bad);"
          "});</script>")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_in_headless_chromium(tmp_path):
    out = tmp_path / "rep"
    C.compare(tiny_cfg(), policies="none,fixed_tilt,thompson", seeds=2, out_dir=out, jobs=1, progress=False,
              run_fn=fake_run)
    n_imgs = len(parse_report(out / "report.html").imgs)
    url = (out / "report.html").as_uri()
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,3000", url], check=True, capture_output=True, timeout=120)
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (3000, 1200)
    gray = img[..., :3].mean(axis=2)
    assert (gray < 0.9).mean() > 0.02 and gray.std() > 0.05  # not a blank page
    # a copy with a probe script beside the original (same relative image paths) reports broken images
    probe = out / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-images="(\d+)"\s+data-broken="(\d+)"', dom)
    assert m, dom[:500]
    assert int(m.group(1)) == n_imgs >= 8 and int(m.group(2)) == 0
    # and a broken image is caught
    (out / "figures" / "lorenz.png").unlink()
    dom = subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile3'}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout
    assert re.search(r'data-broken="1"', dom)


def test_report_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """A notebook's inline backend must survive a report (it used to be forced to Agg)."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # any backend other than Agg: the one a notebook would have chosen
    try:
        C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=1, out_dir=tmp_path / "rep", jobs=1,
                  progress=False, run_fn=fake_run)
        assert (tmp_path / "rep" / "figures" / "lorenz.png").stat().st_size > 0
        assert matplotlib.get_backend().lower() == "svg"
        assert plt.get_fignums() == []  # no figure left open in pyplot either
    finally:
        plt.switch_backend(before)
