"""The ``ranksim signals``, ``ranksim policies`` and ``ranksim learn`` subcommands.

``sim/cli.py`` registers them with :func:`add_signals_parser`,
:func:`add_policies_parser` and :func:`add_learn_parser`; each sets ``func`` on the parsed namespace to a
handler that returns an exit code. :func:`main` (and the shortcuts
:func:`signals_main`, :func:`policies_main`) run them without the rest of
the command line, for tests and scripts.

Exit codes (the same for every command, see :mod:`ranker.errors`): 0
success, 1 runtime failure (an OS error: permission, read-only, disk full,
broken pipe), 2 usage error (bad option, missing or malformed input, an
output that exists), 130 interrupted; errors are one line
``ranksim COMMAND: error: ...`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ranker.learn.evaluation import format_report
from ranker.learn.events import EVENT_LABELS, KUAIRAND_LABELS, kuairand_event_log, read_event_log
from ranker.learn.features import FEATURE_NAMES, FEATURE_SETS, build_training_set, resolve_features
from ranker.learn.model import MODEL_FILE, WEIGHTS_FILE, LearnConfig, save_model, train
from ranker.errors import UsageError, run_command
from ranker.score import base_scores, weight_vector  # noqa: F401  (re-exported for callers)


PROG = "ranksim"


def add_signals_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``signals (--counters FILE.csv | --kuairand FILE) --out FILE.csv [--weights TOML]``."""
    p = subparsers.add_parser(
        "signals",
        help="compute smoothed signals and scores from counters or a KuaiRand log",
        description=(
            "Write one row per video: its counters, every signal (log-lift over the population prior, "
            "0 = average) and its score under the weights (default: ranker.score.ScoreWeights). "
            "Signal formulas: docs/signals.md."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--counters", metavar="FILE.csv", help="per-video counters CSV (columns in docs/signals.md)")
    src.add_argument("--kuairand", metavar="FILE", help="impression log in the KuaiRand schema (tab- or comma-separated)")
    p.add_argument("--out", metavar="FILE.csv", required=True, help="output CSV (written atomically; must be new)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--weights", metavar="TOML",
                   help="TOML file with the score weights: a [weights] table, or weights at top level")
    p.set_defaults(func=run_signals)
    return p


def add_policies_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``policies``: list the registered boosting policies and their parameters."""
    p = subparsers.add_parser(
        "policies",
        help="list the new-creator boosting policies with their parameters and defaults",
        description="List every registered new-creator boosting policy: name, what it does, parameters.",
    )
    p.set_defaults(func=run_policies)
    return p


_InputError = UsageError  # bad input: one line, exit code 2


def load_weights(path):
    """Read score weights from a TOML file.

    Parameters
    ----------
    path : str or path-like or None
        A TOML file with a ``[weights]`` table (a run config works), or with
        the weights at top level. None gives the defaults.

    Returns
    -------
    ranker.score.ScoreWeights
    """
    from ranker.score import ScoreWeights

    if path is None:
        return ScoreWeights()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise _InputError(f"{path}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise _InputError(f"{path}: not a valid TOML file: {e}") from None
    table = data["weights"] if isinstance(data.get("weights"), dict) else data
    try:
        return ScoreWeights.from_dict(table, "weights")
    except (TypeError, ValueError) as e:
        raise _InputError(f"{path}: {e}") from None


def _check_out(out, overwrite=False) -> None:
    """``--out FILE``: not a directory, in an existing directory, new unless ``overwrite``."""
    p = Path(out)
    if p.is_dir():
        raise _InputError(f"--out {out}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise _InputError(f"--out {out}: directory {parent} does not exist")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise FileExistsError(f"--out {out}: the file exists; pass --overwrite to replace it")


def run_signals(args) -> int:
    """Handler of ``ranksim signals``; returns the exit code."""
    from ranker.io import read_counters_csv, read_kuairand, write_signals_csv
    from ranker.signals import compute_signals

    weights = load_weights(args.weights)
    _check_out(args.out, getattr(args, "overwrite", False))
    if args.kuairand is not None:
        counters, report = read_kuairand(args.kuairand)
        said = report.summary()
    else:
        counters = read_counters_csv(args.counters)
        said = f"read {counters.n_videos:,} videos from {args.counters}"
    signals = compute_signals(counters)
    scores = base_scores(signals.matrix, weights)
    # the file first: a reader of stdout that goes away (`| head`) cannot stop it being written
    write_signals_csv(args.out, counters, signals, scores)
    print(said)
    print(f"wrote {counters.n_videos:,} rows to {args.out}")
    return 0


def policy_rows():
    """(name, one-line doc, Params.describe() rows) of every registered policy, sorted by name."""
    from ranker.policies import REGISTRY

    out = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        doc = next((ln.strip() for ln in (cls.__doc__ or "").splitlines() if ln.strip()), "")
        out.append((name, doc, list(cls.Params.describe())))
    return out


POLICIES_PREAMBLE = (
    "Boosts are added to the ranker's score (log-lift units: 0.5 weighs like a rate e^0.5 = 1.65 times the "
    "average). Scope: whom a policy acts on (new = creators younger than [feed] new_creator_days; ugc = ordinary, "
    "non-professional creators). Strength grid: the strengths `ranksim compare` runs each policy at, mild to "
    "strong; at strength 0 a policy acts as none. A parameter that rounds to no effect (a slot_quota share below "
    "one slot of the slate) is an error before any run."
)


def format_policies() -> str:
    """The text ``ranksim policies`` prints: a preamble, then per policy its line, scope, strength grid, parameters."""
    import textwrap

    from ranker.policies import REGISTRY

    blocks = [textwrap.fill(POLICIES_PREAMBLE, 100)]
    for name, doc, rows in policy_rows():
        cls = REGISTRY[name]
        lines = [f"{name}: {doc}" if doc else name]
        lines.append(f"    scope: {cls.scope_text()}")
        if cls.strength_param is not None:
            grid = ", ".join(repr(v) for v in cls.grid())
            lines.append(f"    strength: {cls.strength_param}; registered grid: {grid}")
        if not rows:
            lines.append("    (no parameters)")
        else:
            table = [("parameter", "allowed", "default", "meaning")]
            table += [(str(r[0]), str(r[1]), repr(r[2]), str(r[3])) for r in rows]
            widths = [max(len(row[i]) for row in table) for i in range(3)]
            for row in table:
                lines.append("    " + "  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3])
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run_policies(args) -> int:
    """Handler of ``ranksim policies``; returns the exit code."""
    try:
        text = format_policies()
    except Exception as e:  # a broken policy class must not print a traceback
        raise RuntimeError(f"{type(e).__name__}: {e}") from None
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A parser with just the ``signals`` and ``policies`` subcommands."""
    parser = argparse.ArgumentParser(prog=PROG)
    sub = parser.add_subparsers(dest="command", required=True)
    add_signals_parser(sub)
    add_policies_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run ``ranksim signals|policies ...`` from an argument list; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else 2
    return run_command(PROG, args.command, args.func, args)


def signals_main(argv=None) -> int:
    """``ranksim signals`` with ``argv`` its arguments (after the word ``signals``)."""
    return main(["signals", *(sys.argv[1:] if argv is None else argv)])


def policies_main(argv=None) -> int:
    """``ranksim policies`` with ``argv`` its arguments (after the word ``policies``)."""
    return main(["policies", *(sys.argv[1:] if argv is None else argv)])


# --- ranksim learn ---------------------------------------------------------------

def add_learn_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``learn (--events DIR | --kuairand FILE) [--label NAME] [--holdout-days N] --out MODEL_DIR``."""
    p = subparsers.add_parser(
        "learn",
        help="learn signal weights with LightGBM LambdaRank from an event log",
        description=(
            "Build features as they stood before each impression, train LightGBM LambdaRank grouped by "
            "request on all but the last days, and report NDCG@5/@10 on the held-out days against the "
            "hand-set weights and a popularity baseline. Writes MODEL_DIR/model.txt, weights.json, "
            "weights.png and weights.svg."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--events", metavar="DIR", help="simulator event log: RUN/events (or RUN) of `ranksim simulate`")
    src.add_argument("--kuairand", metavar="FILE", help="impression log in the KuaiRand schema")
    p.add_argument("--label", metavar="NAME",
                   help=f"label: simulator logs {sorted(EVENT_LABELS)} (default latent_value, graded); "
                        f"KuaiRand {sorted(KUAIRAND_LABELS)} (default long_view)")
    p.add_argument("--features", default="all", metavar="SET",
                   help=f"model inputs: a preset among {sorted(FEATURE_SETS)} or comma-separated names "
                        f"(default all: {', '.join(FEATURE_NAMES)})")
    p.add_argument("--holdout-days", type=int, default=2, metavar="N", help="last days held out (default 2)")
    p.add_argument("--warmup-days", type=int, default=1, metavar="N",
                   help="first days that only fill the counters (default 1)")
    p.add_argument("--objective", default="lambdarank", choices=("lambdarank", "regression"),
                   help="lambdarank (default): grades ranked within requests; regression: the raw label")
    p.add_argument("--trees", type=int, default=200, metavar="N", help="boosting rounds (default 200)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="LightGBM threads (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="LightGBM seed (default 0)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in MODEL_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_learn)
    return p


def run_learn(args) -> int:
    """Handler of ``ranksim learn``; returns the exit code (errors are raised, see :mod:`ranker.errors`)."""
    cfg = LearnConfig(holdout_days=args.holdout_days, warmup_days=args.warmup_days, n_trees=args.trees,
                      threads=args.threads, seed=args.seed, objective=args.objective)
    features = resolve_features(args.features)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out}: exists and is not a directory")
    if (out / MODEL_FILE).exists() and not args.overwrite:
        raise FileExistsError(f"--out {out}: already holds a model; pass --overwrite to replace it")
    if args.events is not None:
        log = read_event_log(args.events)
    else:
        log = kuairand_event_log(args.kuairand)
    progress = not args.quiet
    ingest = getattr(log, "ingest", None)
    if ingest is not None and (progress or ingest.rows_dropped or ingest.issues):
        print(ingest.summary(), file=sys.stderr)  # dropped rows are never silent, even with --quiet
    if progress:
        print(f"read {log.n:,} impressions over {log.n_days} day(s) from "
              f"{args.events if args.events is not None else args.kuairand}", file=sys.stderr)
    ts = build_training_set(log, args.label, warmup_days=cfg.warmup_days, holdout_days=cfg.holdout_days,
                            progress=progress)
    result = train(ts, cfg, features=features, progress=progress)
    save_model(result, out, overwrite=args.overwrite)
    print(format_report(result.report))
    print(f"wrote {out / MODEL_FILE}, {WEIGHTS_FILE}, weights.png, weights.svg")
    return 0


def learn_main(argv=None) -> int:
    """Run ``ranksim learn`` alone (tests, scripts)."""
    parser = argparse.ArgumentParser(prog=PROG)
    sub = parser.add_subparsers(dest="command", required=True)
    add_learn_parser(sub)
    args = parser.parse_args(["learn", *(argv or [])])
    return run_command(PROG, "learn", args.func, args)
