"""The ``ranksim`` command line: simulate | compare | learn | calibrate | policies | signals.

Every error is one line naming the problem; exit codes are the same for every
command (:mod:`ranker.errors`): 2 for a usage error (a bad option or config
value, a missing or malformed input, an output that exists; found before any
work, nothing is written), 1 for a runtime failure (an OS error such as
permission denied, a read-only or full disk, a broken pipe; a failed run;
another run holding the output), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ranker.commands import add_learn_parser, add_policies_parser, add_signals_parser
from ranker.errors import run_command
from ranker.learn.features import FEATURE_NAMES
from ranker.model_check import check_model_dir
from sim.arms import DEFAULT_SEEDS
from sim.calibrate import add_calibrate_parser
from sim.cluster import ClusterError
from sim.compare import DEFAULT_OUT, compare, compare_default_config
from sim.config import RankerConfig, load_config, tomllib
from sim.engine import simulate
from sim.report import verdict_lines
from sim.runner import RunFailed

#: Where ``ranksim simulate`` writes its run when ``--out`` is not given.
DEFAULT_RUN_OUT = "ranksim-run"


def _int_arg(lo=None):
    """argparse type: an int (``>= lo`` when given; config fields are checked by the config)."""

    def conv(s):
        what = "an int" if lo is None else f"an int >= {lo}"
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {s!r}") from None
        if lo is not None and v < lo:
            raise argparse.ArgumentTypeError(f"must be {what}; got {s!r}")
        return v

    conv.__name__ = "int"
    return conv


def add_compare_parser(subparsers) -> None:
    """Add ``ranksim compare`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "compare", help="run policies on the same seeds (paired) and write an HTML report",
        description="Run every policy on the same seeds (common random numbers), in parallel processes, and "
                    "write DIR/report.html, DIR/summary.csv, DIR/summary.json and DIR/runs/. Complete runs "
                    "already in DIR with an identical config are reused.")
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in default world scaled down "
                                                    "to 2,000 users, 200 creators, 4 new a day, 21 days)")
    p.add_argument("--policies", metavar="A,B,...", help="policies to compare (default: every registered one; "
                                                         "'none' is always included as the baseline)")
    p.add_argument("--seeds", type=_int_arg(1), default=DEFAULT_SEEDS, metavar="N",
                   help=f"seeds per policy, from the config's [run] seed on (default {DEFAULT_SEEDS})")
    p.add_argument("--days", type=_int_arg(), metavar="N", help="override [run] days (measured days)")
    p.add_argument("--warmup-days", type=_int_arg(), metavar="N",
                   help="override [run] warmup_days (days simulated under none before day 0, left out of every metric)")
    p.add_argument("--users", type=_int_arg(), metavar="N",
                   help="override [world] n_users; creators and new creators a day keep their number per user "
                        "unless the config file sets them")
    p.add_argument("--sweep", action="append", default=[], metavar="POLICY.PARAM=V1,V2,...",
                   help="one more arm per value (repeatable), e.g. fixed_tilt.strength=0.25,0.5,1")
    p.add_argument("--jobs", type=_int_arg(1), metavar="N",
                   help="worker processes, local or of --scheduler local (default: the cores)")
    p.add_argument("--scheduler", metavar="ADDRESS|local",
                   help="run on Dask: the address (tcp://host:8786) or scheduler file of an existing cluster, "
                        "whose workers must see --out at the same path; or 'local' for an embedded "
                        "LocalCluster of --jobs workers (default: local processes, no Dask)")
    p.add_argument("--rankers", metavar="A,B,...",
                   help="rankers to cross every policy with: hand, oracle, learned:MODEL_DIR, distilled:MODEL_DIR "
                        "(the first is the baseline's ranker; default: the config's)")
    p.add_argument("--loop-grid", metavar="learned:MODEL_DIR",
                   help="compare learning in the loop: hand-set, this model learned once, and retrained daily "
                        "(--retrain-every, default 1), each without and with exploration (--explore-temperature, "
                        "required) and without and with each boost of --policies, plus the oracle; implies "
                        "--no-frontier and --no-robustness")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output directory (default ./{DEFAULT_OUT})")
    p.add_argument("--no-frontier", dest="frontier", action="store_false",
                   help="run each policy once at its defaults instead of at every strength of its registered grid")
    p.add_argument("--no-robustness", dest="robustness", action="store_false",
                   help="skip re-running the headline verdicts on the second world variant")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_loop_options(p)
    p.set_defaults(func=_compare_cmd)


def _remake_command(argv) -> str:
    """The command line that re-makes a comparison, without the options that cannot change its numbers
    (``--jobs``, ``--scheduler``, ``--quiet``) and without ``--out``, so the summary is the same whatever ran
    it and wherever it was written."""
    out, skip = ["ranksim"], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--jobs", "--scheduler", "--out"):
            skip = True
            continue
        if a == "--quiet" or a.startswith(("--jobs=", "--scheduler=", "--out=")):
            continue
        out.append(a)
    return shlex.join(out)


def _parse_rankers(text):
    """``hand,learned:DIR,oracle`` -> validated list (``None`` when not given)."""
    if text is None:
        return None
    specs = [t.strip() for t in text.split(",") if t.strip()]
    if not specs:
        raise ValueError("--rankers needs at least one ranker: hand, oracle, learned:MODEL_DIR, distilled:MODEL_DIR.")
    for spec in specs:
        rk = RankerConfig.parse(spec)
        if rk.model_dir:  # checked whole now, before any world is built
            check_model_dir(rk.model_dir, FEATURE_NAMES)
    return specs


def _parse_loop_grid(text):
    """``--loop-grid learned:DIR``: the spec, its model checked whole now (``None`` when not given)."""
    if text is None:
        return None
    rk = RankerConfig.parse(text.strip())
    if rk.kind not in ("learned", "distilled"):
        raise ValueError(f"--loop-grid takes the learned-once model as learned:MODEL_DIR or distilled:MODEL_DIR. "
                         f"Got {text!r} instead.")
    check_model_dir(rk.model_dir, FEATURE_NAMES)
    return text.strip()


def _compare_cmd(args) -> int:
    base = load_config(args.config) if args.config else compare_default_config()
    cfg = base.with_overrides(days=args.days, users=args.users, log_sample=0.0, warmup_days=args.warmup_days,
                              loop=loop_overrides(args))
    try:
        res = compare(cfg, policies=args.policies, seeds=args.seeds, sweeps=args.sweep, out_dir=args.out,
                      jobs=args.jobs, progress=not args.quiet, scheduler=args.scheduler,
                      rankers=_parse_rankers(args.rankers), frontier=args.frontier and not args.loop_grid,
                      robustness=args.robustness and not args.loop_grid, loop_grid=_parse_loop_grid(args.loop_grid),
                      command=_remake_command(getattr(args, "argv", None) or sys.argv[1:]))
    except RunFailed as e:
        print(f"ranksim compare: error: {e} (finished runs are kept; run the same command again to resume)",
              file=sys.stderr)
        return 1
    except ClusterError as e:
        print(f"ranksim compare: error: {e}", file=sys.stderr)
        return 1
    ran = res.n_runs - res.n_reused
    reused = f" ({res.n_reused} reused)" if res.n_reused else ""
    print(f"ranksim compare: {ran} runs{reused} in {res.seconds:.1f} s -> {res.report or res.out_dir}")
    for line in verdict_lines(res.summary):
        print(f"  {line}")
    return 0


def _fraction(s):
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]; got {s!r}") from None


def _parse_params(items):
    """``k=v`` pairs into a dict, values parsed as TOML scalars."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param must look like NAME=VALUE; got {item!r}.")
        k, v = item.split("=", 1)
        if k.strip() in out:
            raise ValueError(f"--param {k.strip()} is given twice ({k.strip()}={out[k.strip()]!r} and {item!r}); "
                             "give each parameter once.")
        try:
            out[k.strip()] = tomllib.loads(f"x = {v.strip()}")["x"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v.strip()
    return out


def add_run_options(p, *, days_default=None):
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in default world)")
    p.add_argument("--seed", type=_int_arg(), help="override [run] seed")
    p.add_argument("--days", type=_int_arg(), help="override [run] days (measured days)")
    p.add_argument("--warmup-days", type=_int_arg(), metavar="N",
                   help="override [run] warmup_days (days simulated under none before day 0, left out of every metric)")
    p.add_argument("--users", type=_int_arg(), help="override [world] n_users; creators and new creators a day keep "
                                                    "their number per user unless the config file sets them")
    p.add_argument("--threads", type=_int_arg(), help="Numba threads (results do not depend on it)")


def add_loop_options(p):
    """Learning in the loop: exploration (``[loop] explore``, ``temperature``) and retraining."""
    p.add_argument("--explore-temperature", type=float, metavar="T",
                   help="draw each slate by Plackett-Luce over score / T and log each impression's propensity "
                        "([loop] explore = 'plackett_luce', temperature = T; T > 0)")
    p.add_argument("--retrain-every", type=int, metavar="N",
                   help="retrain the learned ranker every N days on the run's own impressions of the last "
                        "--window-days days, from the given model (or the hand-set weights with --ranker hand) "
                        "on day 0 ([loop] retrain_every)")
    p.add_argument("--window-days", type=int, metavar="W", help="days of impressions a retraining reads "
                                                                "([loop] window_days, default 3)")
    p.add_argument("--features", choices=("loop", "video+pair"),
                   help="feature preset of the retrained models ([loop] features, default loop: no exposure counts)")
    p.add_argument("--ipw", action="store_true",
                   help="weight training rows by their clipped inverse propensity (needs --explore-temperature)")
    p.add_argument("--loop-metrics", action="store_true",
                   help="write the loop's per-day metrics (exposure concentration, feed overlap) even without "
                        "retraining")


def loop_overrides(args) -> dict:
    """The ``[loop]`` fields the command line sets."""
    out = {}
    if getattr(args, "explore_temperature", None) is not None:
        out.update(explore="plackett_luce", temperature=args.explore_temperature)
    for name in ("retrain_every", "window_days", "features"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    if getattr(args, "ipw", False):
        out["ipw"] = True
    if getattr(args, "loop_metrics", False):
        out["metrics"] = True
    return out


def _simulate(args) -> int:
    cfg = load_config(args.config).with_overrides(
        policy=args.policy, policy_params=_parse_params(args.param) if args.param else None,
        seed=args.seed, days=args.days, users=args.users, log_sample=args.log_sample, ranker=args.ranker,
        loop=loop_overrides(args), warmup_days=args.warmup_days)
    res = simulate(cfg, out_dir=args.out, progress=not args.quiet, threads=args.threads, overwrite=args.overwrite)
    s = res.scalars()

    def num(name, digits=3):  # a rate over no impressions is undefined (NaN, or null in metrics.json)
        v = s.get(name)
        return "undefined" if v is None or v != v else f"{v:.{digits}f}"

    print(f"ranksim simulate: {res.impressions:,} impressions in {res.seconds:.1f} s "
          f"({res.impressions / res.seconds if res.seconds > 0 else 0:,.0f}/s) -> {res.out_dir}")
    print(f"  policy {cfg.policy.name}: new-creator exposure {num('new_creator_exposure_share')}, "
          f"value/impression {num('value_per_impression', 4)}, completion {num('completion_rate')}, "
          f"retention {num('retention')}, exposure Gini {num('exposure_gini')}")
    if "retrain_s" in res.timings:
        n = s.get("loop_retrainings") or 0
        print(f"  retraining: {n} model(s) in {res.timings['retrain_s']:.1f} s, apart from the feed loop's "
              f"{res.timings['feed_loop_s']:.1f} s")
    W = cfg.run.warmup_days
    warm = f"warm-up {W} days under none (days -{W} to -1)" if W else "no warm-up (the run starts cold)"
    print(f"  {world_line(s)}; {warm}, measured days 0 to {cfg.run.days - 1}")
    if res.impressions == 0:
        print("  note: no impressions were served (no user opened the app): every rate is undefined",
              file=sys.stderr)
    return 0


def world_line(scalars) -> str:
    """The world's proportions a run used, in one line (from its metrics' ``world_*`` scalars)."""
    g = scalars.get
    if g("world_users") is None:
        return "world proportions not recorded"
    return (f"world of {g('world_users'):,} users: {g('world_creators_per_1k_users'):.3g} creators and "
            f"{g('world_new_creators_per_1k_users_per_day'):.3g} new creators a day per 1,000 users, "
            f"{g('world_posts_per_user_per_day'):.3g} posts per user a day, {g('world_friends_per_user'):.3g} friends "
            f"and {g('world_follows_per_user'):.3g} follows per user")


def build_parser() -> argparse.ArgumentParser:
    from sim import __version__

    p = argparse.ArgumentParser(prog="ranksim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"ranksim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("simulate", help="run one policy on one seed and write config, metrics and events")
    add_run_options(s)
    s.add_argument("--policy", help="registered policy name (see `ranksim policies`)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE", help="policy parameter (repeatable)")
    s.add_argument("--log-sample", type=_fraction, help="fraction of requests logged to events/ (0: none)")
    s.add_argument("--ranker", metavar="SPEC", help="hand (default), learned:MODEL_DIR, distilled:MODEL_DIR or oracle")
    add_loop_options(s)
    s.add_argument("--out", default=DEFAULT_RUN_OUT, metavar="DIR",
                   help=f"output directory, new or empty (default ./{DEFAULT_RUN_OUT})")
    s.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_simulate)

    add_compare_parser(sub)
    add_calibrate_parser(sub)
    add_policies_parser(sub)
    add_signals_parser(sub)
    add_learn_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run_command("ranksim", args.command, args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
