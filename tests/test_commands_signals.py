import argparse
import csv
import re

import numpy as np
import pytest

from ranker import commands
from ranker.commands import add_policies_parser, add_signals_parser, main, policies_main, signals_main
from ranker.io import read_counters_csv, write_signals_csv
from ranker.policies import REGISTRY
from ranker.score import ScoreWeights
from ranker.signals import COUNTER_COLUMNS, SIGNAL_NAMES, Counters, compute_signals


def counters_csv(tmp_path, n=30, seed=0):
    rng = np.random.default_rng(seed)
    imp = rng.integers(1, 200, n).astype(float)
    cols = {c: np.zeros(n) for c in COUNTER_COLUMNS}
    shares = np.floor(imp * rng.uniform(0, 0.1, n))
    cols.update(video_id=np.arange(n), creator_id=rng.integers(0, 5, n), impressions=imp,
                plays_3s=np.floor(imp * rng.uniform(0.2, 0.9, n)), completions=np.floor(imp * rng.uniform(0, 0.3, n)),
                watch_s=imp * rng.uniform(2, 20, n), duration_s=rng.uniform(5, 60, n),
                likes=np.floor(imp * rng.uniform(0, 0.1, n)), shares=shares, share_recipients=2 * shares,
                share_opens=np.floor(2 * shares * rng.uniform(0, 1, n)), creator_followers=np.full(n, 40.0),
                creator_regular_readers=np.floor(40 * rng.uniform(0, 1, n)), creator_age_days=rng.uniform(0, 30, n))
    c = Counters.from_columns(cols)
    p = tmp_path / "counters.csv"
    s = compute_signals(c)
    write_signals_csv(p, c, s, np.zeros(n))  # a signals CSV reads back as counters
    return p, c


def read_out(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def matrix_of(rows):
    return np.array([[float(r[k]) for k in SIGNAL_NAMES] for r in rows])


def test_signals_from_counters_default_weights(tmp_path, capsys):
    src, c = counters_csv(tmp_path)
    out = tmp_path / "out.csv"
    assert signals_main(["--counters", str(src), "--out", str(out)]) == 0
    rows = read_out(out)
    assert len(rows) == c.n_videos
    assert list(rows[0]) == list(COUNTER_COLUMNS) + list(SIGNAL_NAMES) + ["score"]
    m = matrix_of(rows)
    np.testing.assert_allclose(m, compute_signals(c).matrix, rtol=1e-12, atol=1e-15)
    w = ScoreWeights()
    expected = m @ np.array([getattr(w, k) for k in SIGNAL_NAMES])
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-9, atol=1e-12)
    assert [int(r["video_id"]) for r in rows] == c.video_id.tolist()
    text = capsys.readouterr().out
    assert f"read {c.n_videos} videos from {src}" in text and f"wrote {c.n_videos} rows to {out}" in text


@pytest.mark.parametrize("toml", [
    "[weights]\nplay3 = 0.0\ncompletion = 2.0\nshare_ft = -1.0\n",
    "play3 = 0.0\ncompletion = 2.0\nshare_ft = -1.0\n",
    "[run]\nseed = 3\n[weights]\nplay3 = 0.0\ncompletion = 2.0\nshare_ft = -1.0\n",
])
def test_signals_weights_file(tmp_path, toml):
    src, c = counters_csv(tmp_path)
    wfile = tmp_path / "w.toml"
    wfile.write_text(toml)
    out = tmp_path / "out.csv"
    assert signals_main(["--counters", str(src), "--out", str(out), "--weights", str(wfile)]) == 0
    rows = read_out(out)
    w = ScoreWeights(play3=0.0, completion=2.0, share_ft=-1.0)
    expected = matrix_of(rows) @ np.array([getattr(w, k) for k in SIGNAL_NAMES])
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-9, atol=1e-12)


def _case(name, setup, expected):
    return pytest.param(setup, expected, id=name)


def _missing_file(tmp_path):
    return ["--counters", str(tmp_path / "none.csv")], f"{tmp_path / 'none.csv'}: no such file"


def _missing_column(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("video_id,impressions\n1,2\n")
    return ["--counters", str(p)], (
        f"{p}: missing required column(s) {[c for c in COUNTER_COLUMNS if c not in ('video_id', 'impressions')]}; "
        f"a counters CSV needs {', '.join(COUNTER_COLUMNS)}. Found: video_id, impressions.")


def _kuairand_missing_column(tmp_path):
    p = tmp_path / "k.tsv"
    p.write_text("user_id\tvideo_id\tplay_time_ms\n1\t2\t3\n")
    return ["--kuairand", str(p)], (
        f"{p}: missing required column(s) ['duration_ms', 'is_comment', 'is_forward', 'is_follow', 'is_like (or label)']; "
        "a KuaiRand log needs video_id, play_time_ms, duration_ms, is_comment, is_forward, is_follow and is_like "
        "(or label). Found: user_id, video_id, play_time_ms.")


def _negative_counter(tmp_path):
    src, _ = counters_csv(tmp_path)
    text = src.read_text().splitlines()
    head = text[0].split(",")
    row = text[1].split(",")
    row[head.index("likes")] = "-3"
    p = tmp_path / "neg.csv"
    p.write_text("\n".join([text[0], ",".join(row)] + text[2:]) + "\n")
    return ["--counters", str(p)], (
        f"{p}: Counters column 'likes' must be >= 0. Got -3.0 at row 0 (1 row(s)). Rows count from 0 after the header.")


def _weights(toml):
    def setup(tmp_path):
        src, _ = counters_csv(tmp_path)
        w = tmp_path / "w.toml"
        w.write_text(toml)
        return ["--counters", str(src), "--weights", str(w)], None
    return setup


def _section_error(table):
    with pytest.raises(ValueError) as e:
        ScoreWeights.from_dict(table, "weights")
    return str(e.value)


def _bad_weight_key(tmp_path):
    args, _ = _weights("[weights]\nplay = 1.0\n")(tmp_path)
    msg = _section_error({"play": 1.0})
    assert msg.startswith("Unknown key(s) ['play'] in [weights]. Allowed keys: ")
    return args, f"{args[-1]}: {msg}"


def _bad_weight_value(tmp_path):
    args, _ = _weights("[weights]\nlike = 1000.0\n")(tmp_path)
    msg = _section_error({"like": 1000.0})
    assert msg == ("The 'like' parameter of ScoreWeights must be a finite float in the range "
                   "[-100.0, 100.0]. Got 1000.0 instead.")
    return args, f"{args[-1]}: {msg}"


def _bad_toml(tmp_path):
    args, _ = _weights("[weights\nlike = 1\n")(tmp_path)
    return args, f"{args[-1]}: not a valid TOML file:"


def _missing_weights(tmp_path):
    src, _ = counters_csv(tmp_path)
    return ["--counters", str(src), "--weights", str(tmp_path / "w.toml")], f"{tmp_path / 'w.toml'}: no such file"


def _out_is_dir(tmp_path):
    src, _ = counters_csv(tmp_path)
    return ["--counters", str(src), "--out-override", str(tmp_path)], f"--out {tmp_path}: is a directory"


def _out_dir_missing(tmp_path):
    src, _ = counters_csv(tmp_path)
    out = tmp_path / "nope" / "o.csv"
    return ["--counters", str(src), "--out-override", str(out)], f"--out {out}: directory {tmp_path / 'nope'} does not exist"


INVALID = [
    _case("missing file", _missing_file, None),
    _case("missing column", _missing_column, None),
    _case("kuairand missing columns", _kuairand_missing_column, None),
    _case("negative counter", _negative_counter, None),
    _case("unknown weight", _bad_weight_key, None),
    _case("weight out of range", _bad_weight_value, None),
    _case("bad toml", _bad_toml, "prefix"),
    _case("missing weights file", _missing_weights, None),
    _case("out is a directory", _out_is_dir, None),
    _case("out directory missing", _out_dir_missing, None),
]


@pytest.mark.parametrize("setup, mode", INVALID)
def test_signals_bad_input_is_one_error_line(tmp_path, capsys, setup, mode):
    args, msg = setup(tmp_path)
    out = str(tmp_path / "out.csv")
    if "--out-override" in args:
        i = args.index("--out-override")
        out = args[i + 1]
        args = args[:i] + args[i + 2:]
    capsys.readouterr()
    assert signals_main(args + ["--out", out]) == 2  # a bad input is a usage error (ranker.errors), the same code for every command
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    line = err.rstrip("\n")
    expected = f"ranksim signals: error: {msg}"
    if mode == "prefix":
        assert line.startswith(expected)
    else:
        assert line == expected
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("argv, fragment", [
    ([], "required"),
    (["--counters", "a.csv"], "the following arguments are required: --out"),
    (["--counters", "a.csv", "--kuairand", "b.tsv", "--out", "x.csv"], "not allowed with argument"),
])
def test_signals_usage_errors(capsys, argv, fragment):
    assert signals_main(argv) == 2
    err = capsys.readouterr().err
    assert "ranksim signals: error: " in err and fragment in err


def test_policies_lists_every_policy_with_parameters(capsys):
    assert policies_main([]) == 0
    out = capsys.readouterr().out
    for name, cls in REGISTRY.items():
        doc = next(ln.strip() for ln in cls.__doc__.splitlines() if ln.strip())
        assert f"{name}: {doc}" in out
        for pname, allowed, default, pdoc in cls.Params.describe():
            line = next((ln for ln in out.splitlines() if ln.split()[:1] == [pname] and pdoc in ln), None)
            assert line is not None, (name, pname)
            assert allowed in line and repr(default) in line
    assert "none: " in out and "(no parameters)" in out


def test_parsers_plug_into_another_command_line(tmp_path):
    # the way sim/cli.py wires them
    parser = argparse.ArgumentParser(prog="ranksim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_signals_parser(sub)
    add_policies_parser(sub)
    src, c = counters_csv(tmp_path)
    args = parser.parse_args(["signals", "--counters", str(src), "--out", str(tmp_path / "o.csv")])
    assert args.func(args) == 0
    assert read_counters_csv(tmp_path / "o.csv").n_videos == c.n_videos
    args = parser.parse_args(["policies"])
    assert args.func(args) == 0
    assert main(["policies"]) == 0


def test_base_scores_matches_matrix_product():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(9, 7))
    w = ScoreWeights(like=2.0, rr_reach=-1.0)
    np.testing.assert_allclose(commands.base_scores(m, w), m @ commands.weight_vector(w))


def test_signals_kuairand_end_to_end(kuairand_path, tmp_path, capsys):
    out = tmp_path / "k.csv"
    assert signals_main(["--kuairand", str(kuairand_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "41,828 used, 0 dropped; 9,359 videos, 664 users" in text
    assert "share_opens" in text and "wrote 9,359 rows" in text
    rows = read_out(out)
    assert len(rows) == 9359
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all(np.isfinite(scores)) and scores.std() > 0
    back = read_counters_csv(out)
    assert back.impressions.sum() == 41828
