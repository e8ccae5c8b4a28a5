"""The report's figures, figure by figure: the data each draws, and a pinned description of how it looks.

A small comparison from the stand-in engine of ``tests/test_compare.py``
(28 days, so the long-run figures exist, with the long-run, payback and
learning-in-the-loop series added by hand) is drawn with
:class:`sim.report_figures._Figures`; ``save`` is replaced by a recorder, so a
test costs a fraction of a second and reads the matplotlib artists directly.
The data checks recompute each line from the summary (x 100 for shares, in %
of none's for value). ``tests/data/report_figures_spec.json`` pins the rest:
per axes its titles, labels, scales, and per artist its label, colour, line
style, width, marker and number of points (no positions, which depend on the
font renderer). After an intended change to a figure, rewrite it with
``RANKSIM_UPDATE_FIGURE_SPEC=1 pytest tests/test_report_figures.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sim import compare as C
from sim import report_figures as F
from sim.report import load_report_data
from tests.test_compare import fake_run, tiny_cfg

SPEC = Path(__file__).parent / "data" / "report_figures_spec.json"
NAMES = ("frontier", "over_time", "user_value", "lorenz", "quality_exposure", "survival", "ai_parity", "long_run",
         "payback", "loop")
LONG = ("active_creators_by_day", "active_new_creators_by_day", "active_graduated_creators_by_day", "posts_by_day",
        "catalogue_diversity_by_day", "daily_active_users_by_day")


def to_hex(c, keep_alpha=False):
    from matplotlib.colors import to_hex as hex_  # matplotlib loads when a test runs, not at collection

    return hex_(c, keep_alpha=keep_alpha)


def _s(values):
    return {"mean": list(values), "min": list(values), "max": list(values)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs") / "rep"
    C.compare(tiny_cfg().with_overrides(days=28), policies="none,fixed_tilt,ucb,fairco",
              sweeps=["fixed_tilt.strength=2,0.5"], seeds=3, out_dir=out, jobs=1, progress=False, report=False,
              run_fn=fake_run)
    d = load_report_data(out)
    for i, a in enumerate(d.labels):
        for k, name in enumerate(LONG):
            d.series[a][name] = _s(10.0 * (k + 1) + i + 0.5 * np.arange(28))
    d.series["none"]["value_per_impression_by_warmup_day"] = _s([0.3, 0.35, 0.38])
    c = np.array([[np.nan if x is None else x for x in r] for r in d.series["ucb"]["new_creator_survival_curve"]["mean"]])
    for k, name in ((0.9, "new_creator_survival_curve_lo"), (1.05, "new_creator_survival_curve_hi")):
        d.series["ucb"][name] = _s([[None if not np.isfinite(x) else min(1.0, k * x) for x in r] for r in c])
    d.summary["paired_series"] = {
        "fixed_tilt": {"cumulative_value_by_day": {"diff": [-1.0, -0.5, 0.5, 1.0], "lo": [-2.0, -1.5, -0.5, 0.0],
                                                   "hi": [0.0, 0.5, 1.5, 2.0], "base": [10.0, 20.0, 30.0, 40.0]},
                       "active_new_creators_by_day": {"diff": [1.0, 2.0, None, 3.0], "lo": [None] * 4,
                                                      "hi": [None] * 4, "base": [5.0, 5.0, 5.0, 5.0]}},
        "ucb": {"cumulative_value_by_day": {"diff": [1.0, 2.0, 3.0, 4.0], "lo": [0.0] * 4, "hi": [2.0] * 4,
                                            "base": [-10.0, 20.0, 30.0, 40.0]}}}
    for a, loop in (("none", None), ("ucb", {"retrain_every": 1, "explore": "softmax", "temperature": 0.5}),
                    ("fairco", {"retrain_every": 0})):
        d.arm(a)["loop"] = loop  # the headline arms keep the hand-set ranker; a [loop] retraining makes "retrained"
        d.series[a]["loop_value_per_impression_by_day"] = _s([0.4, 0.41 + 0.01 * (a == "ucb"), 0.42])
        d.series[a]["loop_coverage_by_day"] = _s([0.5, 0.6, 0.7])
        d.series[a]["loop_ndcg10_next_day_by_day"] = _s([None, None, None] if a == "none" else [0.3, 0.35, 0.4])
    return d


def draw(data, monkeypatch, *names):
    """The figures ``names`` (default: all) drawn, ``name -> (title, caption, figure, tight)``, without files.

    Each test draws what it reads (not a shared fixture), so that a mutation run links each figure's code to
    the tests that check it."""
    got = {}

    def record(self, fig, name, title, caption, tight=True):
        got[name] = (title, caption, fig, tight)
        self.items.append((name, title, caption, b""))

    monkeypatch.setattr(F._Figures, "save", record)
    f = F._Figures(data)
    for n in names or NAMES:
        getattr(f, n)()
    return got


def _r(x):
    return None if x is None else round(float(x), 4)


def _hex(c):
    return [to_hex(x, keep_alpha=True) for x in np.atleast_2d(c)][:2] if len(c) else []


def describe(fig) -> dict:
    """How a figure looks, without positions: axes texts and scales, every artist's style and size."""
    out = {"size": [_r(x) for x in fig.get_size_inches()],
           "legends": [{"texts": [t.get_text() for t in lg.get_texts()],
                        "handles": [to_hex(h.get_color()) for h in lg.legend_handles if hasattr(h, "get_color")], "size": _r(lg.get_texts()[0].get_fontsize())
                        if lg.get_texts() else None, "ncols": lg._ncols, "frame": lg.get_frame_on()}
                       for lg in fig.legends], "axes": []}
    for ax in fig.axes:
        lg = ax.get_legend()
        a = {"title": ax.get_title(), "title_size": _r(ax.title.get_fontsize()), "xlabel": ax.get_xlabel(),
             "ylabel": ax.get_ylabel(), "ylabel_size": _r(ax.yaxis.label.get_fontsize()),
             "scales": [ax.get_xscale(), ax.get_yscale()], "on": bool(ax.axison), "yinv": bool(ax.yaxis_inverted()),
             "xlim": None if ax.get_autoscalex_on() else [_r(v) for v in ax.get_xlim()],
             "ylim": None if ax.get_autoscaley_on() else [_r(v) for v in ax.get_ylim()],
             "grid": [[bool(g.get_visible()), _r(g.get_alpha())] for g in
                      (ax.xaxis.get_gridlines()[:1] + ax.yaxis.get_gridlines()[:1])],
             "xlocator": type(ax.xaxis.get_major_locator()).__name__,
             "yticklabels": [t.get_text() for t in ax.get_yticklabels()]
             if type(ax.yaxis.get_major_formatter()).__name__ == "FixedFormatter" else None,
             "lines": [[ln.get_label() if not ln.get_label().startswith("_") else "", to_hex(ln.get_color()),
                        ln.get_linestyle(), _r(ln.get_linewidth()), str(ln.get_marker()), _r(ln.get_markersize()),
                        str(ln.get_markevery()), _r(ln.get_alpha()), _r(ln.get_zorder()), len(ln.get_xdata()),
                        str(ln.get_drawstyle())] for ln in ax.lines],
             "collections": [[type(c).__name__, _hex(c.get_facecolor()), _hex(c.get_edgecolor()),
                              [_r(w) for w in np.atleast_1d(c.get_linewidths())][:1], _r(c.get_alpha()),
                              len(c.get_paths()), _r(c.get_zorder()),
                              [_r(s) for s in c.get_sizes()][:1] if hasattr(c, "get_sizes") else None]
                             for c in ax.collections],
             "texts": [[t.get_text(), _r(t.get_fontsize()), to_hex(t.get_color()), t.get_ha(), t.get_va()]
                       for t in ax.texts],
             "legend": None if lg is None else {"texts": [t.get_text() for t in lg.get_texts()],
                                                "size": _r(lg.get_texts()[0].get_fontsize()), "ncols": lg._ncols,
                                                "frame": lg.get_frame_on()}}
        out["axes"].append(a)
    return out


def test_figures_look_as_pinned(data, monkeypatch):
    drawn = draw(data, monkeypatch)
    got = {n: {"title": t, "caption": c, "tight": tight, "figure": describe(fig)} for n, (t, c, fig, tight) in drawn.items()}
    got = json.loads(json.dumps(got))
    if os.environ.get("RANKSIM_UPDATE_FIGURE_SPEC"):
        SPEC.parent.mkdir(exist_ok=True)
        SPEC.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(SPEC.read_text())
    assert sorted(got) == sorted(want) == sorted(NAMES)
    for name in NAMES:
        assert got[name] == want[name], name


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.lines if not ln.get_label().startswith("_")}


def test_over_time_draws_the_series_in_percent(data, monkeypatch):
    drawn = draw(data, monkeypatch, "over_time")
    fig = drawn["over_time"][2]
    ax0, ax1 = fig.axes[0], fig.axes[1]
    head = data.headline
    assert list(_lines(ax0)) == head
    for a in head:
        m = np.array(data.series[a]["new_creator_exposure_share_by_day"]["mean"])
        np.testing.assert_allclose(_lines(ax0)[a].get_ydata(), 100 * m)
        np.testing.assert_array_equal(_lines(ax0)[a].get_xdata(), np.arange(m.size))
        v = np.array(data.series[a]["value_per_impression_by_day"]["mean"])
        b = np.array(data.series["none"]["value_per_impression_by_day"]["mean"])
        np.testing.assert_allclose(_lines(ax1)[a].get_ydata(), 100 * (v / b - 1))
    w = _lines(ax1)["warm-up (none)"]
    np.testing.assert_array_equal(w.get_xdata(), [-3, -2, -1])
    np.testing.assert_allclose(w.get_ydata(), 100 * (np.array([0.3, 0.35, 0.38]) / b[0] - 1))
    for k, name in ((2, "completion_rate_by_day"), (3, "retention_by_day")):
        np.testing.assert_allclose(_lines(fig.axes[k])["ucb"].get_ydata(),
                                   100 * np.array(data.series["ucb"][name]["mean"]))
    assert _lines(ax0)["none"].get_linewidth() == 2 and _lines(ax0)["ucb"].get_linewidth() == 1.3
    assert [t.get_text() for t in fig.legends[0].get_texts()] == head + ["warm-up (none)"]


def test_frontier_points_are_the_paired_means(data, monkeypatch):
    drawn = draw(data, monkeypatch, "frontier")
    ax = drawn["frontier"][2].axes[0]
    e, v = "new_creator_exposure_share_measured", "value_per_impression_measured"
    e, v = data.metric(e), data.metric(v)
    pts = {(round(x, 9), round(y, 9)) for ln in ax.lines for x, y in zip(ln.get_xdata(), ln.get_ydata())}
    assert (round(100 * data.stats["none"][e]["mean"], 9), 0.0) in pts
    for a in data.labels[1:]:
        p = data.paired[a]
        assert (round(100 * p[e]["arm"], 9), round(100 * p[v]["rel"], 9)) in pts, a
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "none" and "fixed_tilt (strength 0.5\u21922.0)" in texts and "ucb" in texts
    assert texts == ["none", "fixed_tilt", "ucb", "fairco", "fixed_tilt (strength 0.5\u21922.0)"]
    tilt = [ln for ln in ax.lines if len(ln.get_xdata()) == 2]
    assert tilt and np.all(np.diff(sorted(tilt[0].get_xdata())) > 0)
    # the strongest setting carries the label: the label's point is the last of the sorted curve
    ann = next(t for t in ax.texts if t.get_text().startswith("fixed_tilt ("))
    p2 = data.paired["fixed_tilt__strength=2.0"]
    assert ann.xy == pytest.approx((100 * p2[e]["arm"], 100 * p2[v]["rel"]))


def test_distribution_figures_draw_their_series(data, monkeypatch):
    drawn = draw(data, monkeypatch, "lorenz", "quality_exposure", "survival")
    ax = drawn["lorenz"][2].axes[0]
    ln = _lines(ax)
    g = data.stats["ucb"]["exposure_gini"]["mean"]
    m = np.array(data.series["ucb"]["exposure_lorenz"]["mean"])
    line = ln[f"ucb (Gini {g:.3f})"]
    np.testing.assert_allclose(line.get_xdata(), m[:, 0])
    np.testing.assert_allclose(line.get_ydata(), m[:, 1])
    np.testing.assert_array_equal(ln["perfect equality"].get_ydata(), [0, 1])
    ax = drawn["quality_exposure"][2].axes[0]
    rho = data.stats["fairco"]["new_creator_quality_exposure_corr"]["mean"]
    q = np.array(data.series["fairco"]["new_creator_exposure_by_quality_decile"]["mean"])
    line = _lines(ax)[f"fairco (rank corr. {rho:.2f})"]
    np.testing.assert_allclose(line.get_ydata(), q[:, 1])
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, q.shape[0] + 1))
    axes = drawn["survival"][2].axes
    c = np.array([[np.nan if x is None else x for x in r] for r in data.series["ucb"]["new_creator_survival_curve"]["mean"]])
    i = data.headline.index("ucb")
    for k in range(3):
        line = _lines(axes[k])["ucb"]
        ok = np.isfinite(c[k])
        np.testing.assert_allclose(line.get_ydata(), 100 * c[k][ok])
        np.testing.assert_allclose(line.get_xdata(), np.arange(c[k].size)[ok] + 0.2 * (i / 4 - 0.5))
        assert line.get_drawstyle() == "steps-post"
        (band,) = [c for c in axes[k].collections if to_hex(c.get_facecolor()[0]) == to_hex(line.get_color())]
        y = band.get_paths()[0].vertices[:, 1]
        lo = np.array(data.series["ucb"]["new_creator_survival_curve_lo"]["mean"][k], dtype=float)
        hi = np.array(data.series["ucb"]["new_creator_survival_curve_hi"]["mean"][k], dtype=float)
        assert y.min() == pytest.approx(100 * np.nanmin(lo)) and y.max() == pytest.approx(100 * np.nanmax(hi))
    assert sum(len(ax.collections) for ax in axes) == 3  # only ucb has intervals


def test_interval_figures_draw_the_paired_changes(data, monkeypatch):
    drawn = draw(data, monkeypatch, "user_value", "ai_parity")
    axes = drawn["user_value"][2].axes
    arms = [a for a in data.headline if a != "none"]
    for ax, m in zip(axes, ("value_per_impression_measured", "completion_rate_measured", "retention_measured")):
        m = data.metric(m)
        off = ax.collections[-1].get_offsets()
        np.testing.assert_allclose(off[:, 0], [100 * data.paired[a][m]["rel"] for a in arms])
        np.testing.assert_array_equal(off[:, 1], np.arange(len(arms)))
    assert [t.get_text() for t in axes[0].get_yticklabels()] == arms
    ax = drawn["ai_parity"][2].axes[0]
    q = next(ln for ln in ax.lines if ln.get_label() == "matched quality" or len(ln.get_xdata()) == len(data.headline))
    np.testing.assert_allclose(q.get_xdata(), [data.stats[a]["ai_label_exposure_ratio"]["mean"] for a in data.headline])
    np.testing.assert_allclose(q.get_ydata(), np.arange(len(data.headline)) - 0.15)


def test_long_run_and_payback(data, monkeypatch):
    drawn = draw(data, monkeypatch, "long_run", "payback")
    axes = drawn["long_run"][2].axes
    for ax, name in zip(axes, LONG):
        np.testing.assert_allclose(_lines(ax)["fairco"].get_ydata(), data.series["fairco"][name]["mean"])
    left, right = drawn["payback"][2].axes
    ft = _lines(left)["fixed_tilt"]
    np.testing.assert_allclose(ft.get_ydata(), 100 * np.array([-1.0, -0.5, 0.5, 1.0]) / np.array([10, 20, 30, 40.0]))
    np.testing.assert_allclose(_lines(left)["ucb"].get_ydata(), 100 * np.array([1, 2, 3, 4.0]) / np.array([10, 20, 30, 40.0]))
    vlines = [ln for ln in left.lines if ln.get_label().startswith("_") and np.ptp(ln.get_xdata()) == 0]
    assert [ln.get_xdata()[0] for ln in vlines] == [2]
    np.testing.assert_allclose(_lines(right)["fixed_tilt"].get_ydata(), [1.0, 2.0, np.nan, 3.0])
    assert len(right.collections) == 0 and len(left.collections) == 2
    for ax in (left, right):  # the zero line: no change against none
        assert any(list(ln.get_ydata()) == [0, 0] and list(ln.get_xdata()) == [0, 1] for ln in ax.lines)


def test_loop_figure_colours_by_ranker(data, monkeypatch):
    drawn = draw(data, monkeypatch, "loop")
    fig = drawn["loop"][2]
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert titles == ["user value per impression", "live posts shown at least once (%)",
                      "retrained model's NDCG@10, next day"]
    assert [ax.axison for ax in fig.axes] == [True] * 3 + [False]
    assert [t.get_text() for t in fig.axes[3].get_legend().get_texts()] == [
        "hand-set", "retrained daily, explore, ucb", "hand-set, fairco"]
    v, cov, ndcg = fig.axes[:3]
    assert {ln.get_label(): to_hex(ln.get_color()) for ln in v.lines} == {
        "hand-set": "#000000", "retrained daily, explore, ucb": "#1b9e77", "hand-set, fairco": "#000000"}
    np.testing.assert_allclose(_lines(cov)["hand-set"].get_ydata(), [50, 60, 70])
    np.testing.assert_allclose(_lines(v)["retrained daily, explore, ucb"].get_ydata(), [0.4, 0.42, 0.42])
    assert len(ndcg.lines) == 2  # none's NDCG is undefined every day: no line
    assert [(ln.get_linestyle(), ln.get_linewidth(), ln.get_marker()) for ln in v.lines] == [
        ("-", 2.0, "None"), ("--", 1.0, "o"), ("-", 1.0, "o")]


def test_short_runs_and_missing_baseline_draw_fewer_figures(data, monkeypatch):
    monkeypatch.setitem(data.summary["options"], "days", 27)
    monkeypatch.delitem(data.series["none"], "value_per_impression_by_warmup_day")
    monkeypatch.delitem(data.series["fixed_tilt"], "new_creator_exposure_by_quality_decile")
    got = draw(data, monkeypatch, "over_time", "quality_exposure")
    assert [ln.get_label() for ln in got["over_time"][2].axes[1].lines] == data.headline  # no warm-up line
    assert [ln.get_label().split(" (")[0] for ln in got["quality_exposure"][2].axes[0].lines] == [
        "none", "ucb", "fairco"]
    saved = []
    monkeypatch.setattr(F._Figures, "save", lambda self, fig, name, *a, **k: saved.append(name))
    f = F._Figures(data)
    for n in NAMES:
        getattr(f, n)()
    assert saved == [n for n in NAMES if n not in ("long_run", "payback")]
    assert "seed" not in data.stats["none"] and set(data.stats["none"]) == set(data.summary["scalars"])
    assert data.labels[-2:] == ["fixed_tilt__strength=2.0", "fixed_tilt__strength=0.5"]  # the frontier sorts them
    assert F._colors(data) == {"none": "#000000", "fixed_tilt": "#1f77b4", "ucb": "#ff7f0e", "fairco": "#2ca02c",
                               "fixed_tilt__strength=0.5": "#1f77b4", "fixed_tilt__strength=2.0": "#1f77b4"}
    assert f.style["none"] == ("-", "o") and f.style["fairco"] == (":", "D") and f.style["ucb"] == ("-.", "^")


def test_save_writes_png_and_svg_and_returns_the_png(data, tmp_path):
    from ranker import _figures

    data.out_dir, old = tmp_path, data.out_dir
    try:
        f = F._Figures(data)
        fig, ax = _figures.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        f.save(fig, "x", "T", "C")
    finally:
        data.out_dir = old
    (name, title, caption, png), = f.items
    assert (name, title, caption) == ("x", "T", "C")
    assert png == (tmp_path / "figures" / "x.png").read_bytes() and png.startswith(b"\x89PNG")
    svg = (tmp_path / "figures" / "x.svg").read_text()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg
    assert b"Software" not in png[:200] and sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["x.png", "x.svg"]
    assert fig.axes == []  # closed


def test_write_report_draws_every_figure_and_inlines_it(tmp_path):
    from sim.report import write_report

    out = tmp_path / "rep"
    C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=2, out_dir=out, jobs=1, progress=False, report=False,
              run_fn=fake_run)
    path = write_report(out)
    assert path == out / "report.html"
    page = path.read_text(encoding="utf-8")
    names = ["frontier", "over_time", "user_value", "lorenz", "quality_exposure", "survival", "ai_parity"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(f"{n}.{x}" for n in names for x in ("png", "svg"))
    assert page.count('src="data:image/png;base64,') == len(names)
    assert '<span class="num" data-arm="fixed_tilt"' in page and not list(out.glob(".*tmp*"))
