"""What a comparison compares: *arms* crossed with seeds, planned before any run.

An arm is a policy with its parameters (every registered policy at its
defaults, plus one arm per value of each ``--sweep POLICY.PARAM=v1,v2``),
optionally crossed with rankers. Seed :math:`k` builds the same world and
draws the same random numbers for every arm (common random numbers: every
draw is a pure function of the seed, a stream and the user, day and slot,
see :mod:`ranker.rng`), so the difference between two arms on one seed is
the policy, not noise. Each (arm, seed) is one :class:`RunSpec`, which
:mod:`sim.runner` runs into ``DIR/runs/<arm>__seed<k>/``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ranker.policies import REGISTRY, check_sweep, make_policy
from sim.config import Config, tomllib

#: The arm every difference is taken against.
BASELINE = "none"
DEFAULT_SEEDS = 3

_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def jsonable(x):
    """A JSON-ready copy: numpy scalars as Python numbers, non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x




@dataclass(frozen=True)
class Arm:
    """One thing compared across seeds: a policy with parameter overrides.

    Attributes
    ----------
    label : str
        Unique, directory-safe name: ``policy`` or ``policy__param=value``
        (``__ranker=<spec>`` appended when the arm sets a ranker).
    policy : str
        Registered policy name.
    params : dict
        Parameter overrides (empty: the policy's defaults).
    sweep : tuple or None
        ``(param, value)`` when the arm comes from ``--sweep``.
    ranker : str or None
        ``None``: the base config's ``[ranker]``; else a ranker in the
        command line's form (``hand``, ``oracle``, ``learned:MODEL_DIR``),
        see :meth:`sim.config.RankerConfig.parse`.
    grid : bool
        The arm is one strength of its policy's registered grid (the
        strength frontier ``ranksim compare`` draws by default).
    """

    label: str
    policy: str
    params: dict = field(default_factory=dict)
    sweep: tuple | None = None
    ranker: str | None = None
    grid: bool = False
    loop: dict | None = None

    def config(self, base):
        """``base`` (a :class:`sim.config.Config`) with this arm's policy and ranker.

        An arm that sets its own ranker (``--rankers``) keeps the base's ``[loop]``
        (exploration, retraining) only when that ranker learns (learned, distilled);
        hand and oracle arms are then the fixed baselines, measured with the loop's
        metrics but neither exploring nor retraining. An arm of the loop grid
        (:func:`loop_grid_arms`) sets its whole ``[loop]`` section itself (``loop``).
        """
        if self.loop is not None:
            import dataclasses

            from sim.config import LoopConfig

            c = dataclasses.replace(base, loop=LoopConfig(**self.loop))
            return c.with_overrides(policy=self.policy, policy_params=dict(self.params), ranker=self.ranker)
        if self.ranker is not None and base.loop.measuring or self.ranker is not None and base.loop.exploring:
            import dataclasses

            from sim.config import LoopConfig, RankerConfig

            if RankerConfig.parse(self.ranker).kind not in ("learned", "distilled"):
                base = dataclasses.replace(base, loop=LoopConfig(metrics=base.loop.measuring))
        return base.with_overrides(policy=self.policy, policy_params=dict(self.params), ranker=self.ranker)

    def to_dict(self) -> dict:
        return {"label": self.label, "policy": self.policy, "params": jsonable(self.params),
                "sweep": None if self.sweep is None else [self.sweep[0], jsonable(self.sweep[1])],
                "ranker": self.ranker, "grid": self.grid, **({} if self.loop is None else {"loop": jsonable(self.loop)})}


@dataclass(frozen=True)
class RunSpec:
    """One run: an arm on one seed, with its fully resolved config.

    ``run_id`` is ``<arm label>__seed<seed>``, also the run's directory name
    under ``DIR/runs/``. Specs are small and picklable, for any executor.
    """

    run_id: str
    arm: str
    seed: int
    config: Any  # sim.config.Config


def format_value(v) -> str:
    """A parameter value as it appears in an arm label (directory-safe)."""
    if isinstance(v, bool):
        s = "true" if v else "false"
    elif isinstance(v, float):
        s = repr(v)
    elif isinstance(v, (list, tuple)):
        s = "-".join(format_value(x) for x in v)
    else:
        s = str(v)
    return _SAFE.sub("_", s)


def _split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` on commas outside brackets (so ``[1,2],[3,4]`` is two lists)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out]


def _parse_scalar(s: str):
    try:
        return tomllib.loads(f"x = {s}")["x"]
    except tomllib.TOMLDecodeError:
        return s


def parse_policies(text: str | Sequence[str] | None) -> list[str]:
    """Policy names from ``a,b,...`` (``None``: every registered one, ``none`` first).

    Raises ``ValueError`` naming an unknown policy and the registered ones.
    """
    allowed = sorted(REGISTRY)
    if text is None:
        return [BASELINE] + [p for p in allowed if p != BASELINE]
    names = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"--policies is empty; give one or more of: {', '.join(allowed)}.")
    bad = [n for n in names if n not in REGISTRY]
    if bad:
        raise ValueError(f"Unknown polic{'y' if len(bad) == 1 else 'ies'} {', '.join(map(repr, bad))} in --policies. "
                         f"Registered policies: {', '.join(allowed)}.")
    return list(dict.fromkeys(names))


def parse_sweep(text: str) -> list[Arm]:
    """Arms from one ``POLICY.PARAM=v1,v2,...`` (values as TOML scalars or lists).

    Each value is validated against the policy's parameter declaration before
    any run starts; errors name the bad part and what is allowed.
    """
    shape = "--sweep must look like POLICY.PARAM=v1,v2,... (e.g. fixed_tilt.strength=0.25,0.5,1)"
    if not isinstance(text, str) or "=" not in text or "." not in text.split("=", 1)[0]:
        raise ValueError(f"{shape}; got {text!r}.")
    lhs, rhs = text.split("=", 1)
    policy, pname = (s.strip() for s in lhs.split(".", 1))
    raw = _split_values(rhs)
    if policy in REGISTRY and (not rhs.strip() or any(not r for r in raw)):
        raise ValueError(f"--sweep {text!r} has an empty value; {shape}.")
    # unknown policy or parameter, a bad value, a strength grid of one point: each named here, before any run
    resolved = check_sweep(policy, pname, [_parse_scalar(r) for r in raw], texts=raw, where=text)
    arms = []
    for v in resolved:
        label = f"{policy}__{pname}={format_value(v)}"
        arms.append(Arm(label=label, policy=policy, params={pname: v}, sweep=(pname, v)))
    return arms


def strength_grid(policy: str, slate_size: int | None = None) -> tuple[str | None, tuple]:
    """A policy's strength parameter and its registered grid (``(None, ())`` for a policy without one)."""
    cls = REGISTRY[policy]
    pname = getattr(cls, "strength_param", None)
    if pname is None:
        return None, ()
    grid = cls.grid(slate_size) if hasattr(cls, "grid") else getattr(cls, "strength_grid", ())
    return pname, tuple(grid)


def grid_arms(policy: str, slate_size: int | None = None) -> list[Arm]:
    """One arm per strength of ``policy``'s registered grid (empty for a policy without one).

    Raises ``ValueError`` for a registered grid of fewer than 3 points: a
    frontier needs a curve.
    """
    pname, grid = strength_grid(policy, slate_size)
    if pname is None:
        return []
    if len(grid) < 3:
        raise ValueError(f"Policy {policy!r} registers a strength grid of {len(grid)} point(s) for {pname!r}; the "
                         f"frontier needs at least 3. Got {list(grid)!r} instead.")
    arms = []
    for v in grid:
        resolved = make_policy(policy, {pname: v}).params.to_dict()[pname]
        arms.append(Arm(label=f"{policy}__{pname}={format_value(resolved)}", policy=policy, params={pname: resolved},
                        sweep=(pname, resolved), grid=True))
    return arms


def build_arms(policies: Sequence[str] | str | None = None, sweeps: Iterable[str] = (),
               rankers: Sequence[str] | None = None, frontier: bool = False,
               slate_size: int | None = None) -> list[Arm]:
    """The arms of a comparison: the baseline first, then policies, then sweep values.

    Parameters
    ----------
    policies : str or sequence of str, optional
        ``a,b,...`` or a list; ``None``: every registered policy. The
        baseline ``none`` is always included (first), since every difference
        is taken against it.
    sweeps : iterable of str
        ``POLICY.PARAM=v1,v2,...`` each; one arm per value, after the
        policies, in the order given; repeated labels are kept once.
    rankers : sequence of str, optional
        Rankers each arm is crossed with, in the command line's form
        (``hand``, ``oracle``, ``learned:MODEL_DIR``, ``distilled:MODEL_DIR``);
        ``None``: the base config's ranker. The first ranker's arms keep plain
        labels (so its ``none`` is the baseline every difference is taken
        against); the others' labels end in ``__ranker=<spec>``.
    frontier : bool
        Run each policy with a registered strength grid at every strength of
        it (:func:`grid_arms`) instead of once at its defaults.
    slate_size : int, optional
        The feed's slate size, for grids that depend on it.
    """
    names = parse_policies(policies)
    base = []
    for n in [BASELINE] + [n for n in names if n != BASELINE]:
        g = grid_arms(n, slate_size) if frontier else []
        base.extend(g or [Arm(label=n, policy=n)])
    for s in sweeps or ():
        base.extend(parse_sweep(s))
    arms, seen = [], set()
    rankers = [None] if not rankers else list(dict.fromkeys(rankers))
    for i, r in enumerate(rankers):
        for a in base:
            label = a.label if i == 0 else f"{a.label}__ranker={format_value(r)}"
            if label not in seen:
                seen.add(label)
                arms.append(Arm(label=label, policy=a.policy, params=dict(a.params), sweep=a.sweep, ranker=r,
                                grid=a.grid))
    return arms


def build_specs(base_cfg, arms: Sequence[Arm], n_seeds: int) -> list[RunSpec]:
    """One :class:`RunSpec` per (arm, seed), seeds ``base_cfg.run.seed + k``.

    Event logging is switched off (``log_sample = 0``): a comparison needs
    only each run's online metrics.
    """
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int):
        raise TypeError(f"The 'seeds' parameter of compare must be an int in the range [1, 1000]. Got {n_seeds!r} instead.")
    if not 1 <= n_seeds <= 1000:
        raise ValueError(f"The 'seeds' parameter of compare must be an int in the range [1, 1000]. Got {n_seeds!r} instead.")
    seed0 = base_cfg.run.seed
    specs = []
    for arm in arms:
        try:
            acfg = arm.config(base_cfg)
        except (TypeError, ValueError) as e:  # e.g. a quota share below one slot of this config's slate
            raise type(e)(f"Arm {arm.label!r}: {e}") from None
        for k in range(n_seeds):
            seed = seed0 + k
            cfg = acfg.with_overrides(seed=seed, log_sample=0.0)
            specs.append(RunSpec(run_id=f"{arm.label}__seed{seed}", arm=arm.label, seed=seed, config=cfg))
    return specs


def plan(cfg=None, policies=None, seeds: int = DEFAULT_SEEDS, sweeps: Iterable[str] = (),
         rankers: Sequence[str] | None = None, frontier: bool = False) -> tuple[list[Arm], list[RunSpec]]:
    """Arms and run specs of a comparison, validated (no work is done)."""
    cfg = Config() if cfg is None else cfg
    arms = build_arms(policies, sweeps, rankers, frontier=frontier, slate_size=cfg.feed.slate_size)
    return arms, build_specs(cfg, arms, seeds)


#: The rankers of the loop grid, in order: (label part, what it is).
LOOP_GRID_RANKERS = (("hand", "hand-set weights"), ("learned_once", "learned once, from the hand-set ranker's log"),
                     ("retrained", "retrained daily on the run's own log, from the hand-set weights"))
#: The label part of an exploring arm of the loop grid.
LOOP_GRID_EXPLORE = "+explore"


def loop_grid_arms(base_cfg, learned: str, policies: Sequence[str] | str | None = None,
                   oracle: bool = True) -> list[Arm]:
    """The arms of the learning-in-the-loop grid: ranker x exploration x boost.

    For each policy (``none`` first: no boost; then each policy given, at its
    defaults) the rankers of :data:`LOOP_GRID_RANKERS`, hand-set (the base
    config's ranker, which must be ``hand``), ``learned`` learned once
    (``learned:DIR`` or ``distilled:DIR``, never retrained) and retrained
    (from the hand-set weights, every ``[loop] retrain_every`` days of the
    base config, 1 when it is 0), each without and with exploration; then,
    when ``oracle``, the oracle without a boost (the gap's far end). Every
    arm measures the loop's metrics.

    The base config's ``[loop]`` gives the exploration (``explore``,
    ``temperature``; required) and the retraining's settings (window,
    sample, features, trees, and ``ipw``, applied to the exploring
    retrained arms only). Labels: ``none`` (hand-set, no exploration, no
    boost: the baseline), else ``POLICY__RANKER`` plus ``+explore`` (the
    hand-set arms without exploration keep the policy's plain label).
    """
    from sim.config import RankerConfig

    lp = base_cfg.loop
    if not lp.exploring:
        raise ValueError("The loop grid crosses every ranker with exploration on and off; give the exploring arms' "
                         "temperature (--explore-temperature T, or [loop] explore = 'plackett_luce'). Got explore = "
                         f"{lp.explore!r} instead.")
    if base_cfg.ranker.kind != "hand":
        raise ValueError(f"The loop grid's hand-set arms use the config's ranker, which must be 'hand'. Got "
                         f"{base_cfg.ranker.kind!r} instead.")
    kind = RankerConfig.parse(learned).kind
    if kind not in ("learned", "distilled"):
        raise ValueError(f"The loop grid's learned-once ranker must be learned:MODEL_DIR or distilled:MODEL_DIR. "
                         f"Got {learned!r} instead.")
    names = [BASELINE] + [n for n in (parse_policies(policies) if policies else []) if n != BASELINE]
    fixed = {"metrics": True}
    fixed_x = {"metrics": True, "explore": lp.explore, "temperature": lp.temperature}
    retrain = {k: v for k, v in lp.to_dict().items()}
    retrain.update(retrain_every=lp.retrain_every or 1, metrics=True)
    retrain_plain = dict(retrain, explore="none", ipw=False)
    arms = []
    for pol in names:
        for part, _ in LOOP_GRID_RANKERS:
            ranker = {"hand": None, "learned_once": learned, "retrained": "hand"}[part]
            for explore in (False, True):
                if part == "retrained":
                    loop = retrain if explore else retrain_plain
                else:
                    loop = fixed_x if explore else fixed
                label = pol if part == "hand" and not explore else \
                    f"{pol}__{part}{LOOP_GRID_EXPLORE if explore else ''}"
                arms.append(Arm(label=label, policy=pol, ranker=ranker, loop=dict(loop)))
        if pol == BASELINE and oracle:
            arms.append(Arm(label=f"{BASELINE}__oracle", policy=BASELINE, ranker="oracle", loop=dict(fixed)))
    return arms
