"""The ``ranksim`` command line: simulate | compare | learn | policies | signals.

Errors in input (a bad config value, a missing file) print one line naming the
problem and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys

from sim.compare import _int_arg  # ints are range-checked by the config, naming the field


def _fraction(s):
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]; got {s!r}") from None


def _parse_params(items):
    """``k=v`` pairs into a dict, values parsed as TOML scalars."""
    from sim.config import tomllib

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param must look like NAME=VALUE; got {item!r}.")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = tomllib.loads(f"x = {v.strip()}")["x"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v.strip()
    return out


def add_run_options(p, *, days_default=None):
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in default world)")
    p.add_argument("--seed", type=_int_arg(), help="override [run] seed")
    p.add_argument("--days", type=_int_arg(), help="override [run] days")
    p.add_argument("--users", type=_int_arg(), help="override [world] n_users")
    p.add_argument("--threads", type=_int_arg(), help="Numba threads (results do not depend on it)")


def _simulate(args) -> int:
    from sim.config import load_config
    from sim.engine import simulate

    cfg = load_config(args.config).with_overrides(
        policy=args.policy, policy_params=_parse_params(args.param) if args.param else None,
        seed=args.seed, days=args.days, users=args.users, log_sample=args.log_sample, ranker=args.ranker)
    res = simulate(cfg, out_dir=args.out, progress=not args.quiet, threads=args.threads, overwrite=args.overwrite)
    s = res.scalars()
    print(f"ranksim simulate: {res.impressions:,} impressions in {res.seconds:.1f} s "
          f"({res.impressions_per_second:,.0f}/s) -> {res.out_dir}")
    print(f"  policy {cfg.policy.name}: new-creator exposure {s['new_creator_exposure_share']:.3f}, "
          f"value/impression {s['value_per_impression']:.4f}, completion {s['completion_rate']:.3f}, "
          f"retention {s['retention']:.3f}, exposure Gini {s['exposure_gini']:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ranksim", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("simulate", help="run one policy on one seed and write config, metrics and events")
    add_run_options(s)
    s.add_argument("--policy", help="registered policy name (see `ranksim policies`)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE", help="policy parameter (repeatable)")
    s.add_argument("--log-sample", type=_fraction, help="fraction of requests logged to events/ (0: none)")
    s.add_argument("--ranker", metavar="SPEC", help="hand (default), learned:MODEL_DIR, distilled:MODEL_DIR or oracle")
    s.add_argument("--out", required=True, metavar="DIR", help="output directory (must be new or empty)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_simulate)

    try:
        from sim.compare import add_compare_parser
    except ImportError:  # pragma: no cover - compare not installed yet
        add_compare_parser = None
    if add_compare_parser is not None:
        add_compare_parser(sub)

    from ranker.commands import add_policies_parser, add_signals_parser

    add_policies_parser(sub)
    add_signals_parser(sub)
    try:
        from ranker.learn import add_learn_parser
    except ImportError:  # pragma: no cover
        add_learn_parser = None
    if add_learn_parser is not None:
        add_learn_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as e:
        if os.environ.get("RANKSIM_DEBUG"):
            raise
        print(f"ranksim {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ranksim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
