"""The configuration tree: one frozen, validated dataclass per section, loaded from TOML.

Sections: ``[world]`` (:class:`sim.world.WorldConfig`), ``[behavior]``
(:class:`sim.behavior.BehaviorConfig`), ``[feed]`` (:class:`FeedConfig`),
``[weights]`` (:class:`ranker.score.ScoreWeights`), ``[policy]``
(:class:`PolicyConfig`), ``[ranker]`` (:class:`RankerConfig`), ``[run]``
(:class:`RunConfig`), ``[loop]`` (:class:`LoopConfig`, left out of a written
config while at its defaults), ``[creators]`` (:class:`sim.creators.CreatorConfig`), ``[live]``
(:class:`sim.live.LiveConfig`) and ``[sellers]`` (:class:`sim.sellers.SellerConfig`), the last two
off by default and, like ``[loop]``, left out of a written config while at their defaults. Every field has a
default: the embedded default world is ``Config()``. A bad value fails before
any work starts, naming the field, the value and what is allowed; unknown keys
are errors.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ranker.params import Section, param, table_label, unknown_key_check
from ranker.policies import REGISTRY, make_policy
from ranker.score import ScoreWeights
from sim.behavior import BehaviorConfig
from sim.creators import CreatorConfig
from sim.live import LiveConfig
from sim.sellers import SellerConfig
from sim.world import WorldConfig


#: Most days a run simulates, warm-up included (the world is drawn for that many).
MAX_SIMULATED_DAYS = 3650
#: ``[behavior]`` fields a written config leaves out while they are 0 (no effect): added after runs were
#: pinned (tests/test_live_off.py), so a default run's config.toml stays byte for byte what it was.
NEW_BEHAVIOR_FIELDS = ("complete_d_short",)


class ConfigError(ValueError):
    """A configuration file that cannot be read or validated."""


@dataclass(frozen=True)
class FeedConfig(Section):
    """How feeds are assembled: ticks, slates, candidate sources, lifecycle thresholds."""

    REMOVED = {
        "quit_window_days": "Creators no longer quit below an absolute count of impressions: each has a motivation "
                            "driven by its reach relative to the platform's median post and to its own history, and "
                            "a daily quit hazard from it; set [creators] quit_b, quit_slope and motivation_rate "
                            "(see sim.creators).",
        "quit_min_impressions": "Replaced by the relative quit hazard of [creators] (quit_b, quit_slope; see "
                                "sim.creators).",
        "seen_memory": "It was a ring of each user's last N impressions, which let older posts be served again; "
                       "now no video is served twice to a user in a run (a per-user seen filter sized by "
                       "[feed] seen_bits_per_item; see sim.seen). Delete seen_memory.",
    }

    ticks_per_day: int = param(4, "int", 1, 96, doc="feed ticks per simulated day; counters and signals refresh each tick")
    slate_size: int = param(8, "int", 1, 100, doc="impressions served per request (feed refresh)")
    n_follow_candidates: int = param(16, "int", 0, 1000, doc="candidates per request from followed creators' recent posts (regular readers first)")
    n_interest_candidates: int = param(32, "int", 0, 1000, doc="candidates per request from interest-based retrieval")
    n_share_candidates: int = param(8, "int", 0, 64, doc="capacity of a user's inbox of opened shares, all offered as candidates")
    n_fresh_candidates: int = param(12, "int", 0, 1000, doc="candidates per request from the pool of fresh posts")
    candidate_window_days: int = param(7, "int", 1, 365, doc="posts older than this many days are no longer candidates")
    fresh_window_days: int = param(1, "int", 1, 30, doc="posts younger than this many days form the fresh pool")
    seen_bits_per_item: float = param(10.0, "float", 2.0, 64.0, doc="no video is served twice to a user in a run: bits of each user's seen filter per expected impression (10: 0.96 % of never-served candidates wrongly skipped, none ever repeated; bits/8 bytes per impression; sim.seen)")
    new_creator_days: int = param(14, "int", 1, 365, doc="a creator younger than this many days is a new creator")
    breakout_days: int = param(3, "int", 1, 60, doc="window after posting in which a post may break out, days")
    breakout_percentile: float = param(99.0, "float", 50.0, 100.0, hi_open=True, doc="a breakout reaches this percentile of posts' impressions within its window")
    first_impressions_target: int = param(1000, "int", 1, 10**9, doc="milestone for the 'days until a new creator's first N impressions' metric")


@dataclass(frozen=True)
class RunConfig(Section):
    """One run: seed, length, logging."""

    seed: int = param(0, "int", 0, 2**63 - 1, doc="the one seed every random stream derives from")
    days: int = param(14, "int", 1, 3650, doc="measured days (after the warm-up); day 0 is the first measured day")
    warmup_days: int = param(0, "int", 0, 365, doc="days simulated first under the baseline policy none (and the configured ranker; a [loop] retrains through them), numbered -warmup_days to -1 and left out of every metric and of the event log (0: the run starts cold)")
    log_sample: float = param(1.0, "float", 0.0, 1.0, doc="fraction of requests whose impressions are logged (0 logs none)")

    def check(self):
        if self.days + self.warmup_days > MAX_SIMULATED_DAYS:
            raise ValueError(f"The 'warmup_days' and 'days' parameters of RunConfig must sum to at most "
                             f"{MAX_SIMULATED_DAYS} (the days a world is drawn for). Got {self.warmup_days!r} + "
                             f"{self.days!r} = {self.warmup_days + self.days!r} instead.")

    @property
    def simulated_days(self) -> int:
        """Days the engine simulates: the warm-up, then the measured days."""
        return self.warmup_days + self.days


@dataclass(frozen=True)
class PolicyConfig(Section):
    """The new-creator boosting policy: a registered name and its parameters."""

    name: str = param("none", "str", choices=tuple(sorted(REGISTRY)), doc="registered policy name (see `ranksim policies`)")
    params: dict = field(default_factory=dict)

    def check(self):
        if not isinstance(self.params, dict):
            raise TypeError(f"The 'params' parameter of PolicyConfig must be a table. Got {self.params!r} instead.")
        # Validates the parameters by building the policy once, and stores them resolved
        # (defaults filled in, types normalized) so that a config equals its TOML round trip.
        resolved = make_policy(self.name, self.params).params.to_dict()
        object.__setattr__(self, "params", resolved)

    @classmethod
    def from_dict(cls, d, where=None):
        where = "policy" if where is None else where
        d = {} if d is None else d
        if not isinstance(d, dict):
            raise TypeError(f"The {table_label(where)} must be a table. Got {d!r} instead.")
        unknown_key_check(d, ("name", "params"), where)
        params = d.get("params", {})
        # A non-table ``params`` is passed through so that check() names it.
        return cls(name=d.get("name", "none"), params=dict(params) if isinstance(params, dict) else params)

    def policy(self):
        """The configured policy object."""
        return make_policy(self.name, self.params)

    def to_dict(self):
        return {"name": self.name, "params": dict(self.params)}


RANKER_KINDS = ("hand", "learned", "distilled", "oracle")


@dataclass(frozen=True)
class RankerConfig(Section):
    """Which ranker orders the feed (the ``[ranker]`` section).

    ``hand``: the weighted signals of ``[weights]``. ``learned``: a LightGBM model
    written by ``ranksim learn`` (per video per tick, through a Numba replay of
    its trees), plus the affinity and regular-reader terms of its linear
    distillation. ``distilled``: the hand-set formula with the weights of that
    model's linear distillation (``weights.json``). ``oracle``: latent quality and true affinity, the upper bound no real ranker
    can reach (it sees what the platform cannot).
    """

    kind: str = param("hand", "str", choices=RANKER_KINDS, doc="hand, learned, distilled or oracle")
    model_dir: str = param("", "str", doc="directory written by `ranksim learn` (kind = learned or distilled)")

    def check(self):
        if self.kind in ("learned", "distilled") and not self.model_dir:
            raise ValueError("The 'model_dir' parameter of RankerConfig must name a directory written by "
                             f"`ranksim learn` when kind = {self.kind!r}. Got '' instead.")
        if self.kind in ("hand", "oracle") and self.model_dir:
            raise ValueError(f"The 'model_dir' parameter of RankerConfig must be empty when kind = {self.kind!r}. "
                             f"Got {self.model_dir!r} instead.")

    @classmethod
    def parse(cls, spec: str) -> "RankerConfig":
        """``hand``, ``oracle``, ``learned:MODEL_DIR`` or ``distilled:MODEL_DIR`` (the command line's form)."""
        if not isinstance(spec, str):
            raise TypeError(f"A ranker must be given as a str. Got {spec!r} instead.")
        kind, _, rest = spec.partition(":")
        needs_dir = kind in ("learned", "distilled")
        if kind not in RANKER_KINDS or needs_dir != bool(rest):
            raise ValueError("A ranker must be one of 'hand', 'oracle', 'learned:MODEL_DIR' or "
                             f"'distilled:MODEL_DIR'. Got {spec!r} instead.")
        return cls(kind=kind, model_dir=rest)

    def label(self) -> str:
        return f"{self.kind}:{self.model_dir}" if self.model_dir else self.kind


EXPLORE_KINDS = ("none", "plackett_luce")
#: Feature presets a retraining in the loop may use (``ranker.learn.FEATURE_SETS``).
LOOP_FEATURE_SETS = ("loop", "video+pair")


@dataclass(frozen=True)
class LoopConfig(Section):
    """Learning in the loop (the ``[loop]`` section): exploration with propensities, and retraining.

    ``explore = "plackett_luce"`` draws each slate by Plackett-Luce over the final
    scores at ``temperature`` (``ranker._explore_kernels``) and logs each
    impression's ``propensity``. ``retrain_every = N > 0`` retrains the learned
    ranker every N days on the run's own impressions of the last
    ``window_days`` days (``sim.loop``). At its defaults (both off) the section
    is left out of ``config.toml`` and the run is exactly the run without it.
    """

    explore: str = param("none", "str", choices=EXPLORE_KINDS,
                         doc="none: serve the top k; plackett_luce: draw the slate, softmax of score / temperature")
    temperature: float = param(0.25, "float", 0.0, 100.0, lo_open=True,
                               doc="Plackett-Luce temperature, in score units (lower: closer to the top k)")
    retrain_every: int = param(0, "int", 0, 3650, doc="retrain the learned ranker every this many days (0: never)")
    window_days: int = param(3, "int", 1, 3650, doc="a retraining reads the impressions of the last this-many days")
    train_sample: float = param(0.25, "float", 0.0, 1.0, lo_open=True,
                                doc="share of requests whose impressions are kept for retraining")
    features: str = param("loop", "str", choices=LOOP_FEATURE_SETS,
                          doc="retraining's feature preset (ranker.learn.FEATURE_SETS)")
    n_trees: int = param(100, "int", 1, 10_000, doc="boosting rounds of each retraining")
    ipw: bool = param(False, "bool", doc="weight training rows by their inverse propensity (needs explore)")
    ipw_max_weight: float = param(20.0, "float", 1.0, 1e6,
                                  doc="inverse-propensity weights are clipped at this (clipped IPS)")
    train_threads: int = param(1, "int", 1, 1024, doc="LightGBM threads of a retraining (results depend on it)")
    metrics: bool = param(False, "bool", doc="add the loop's per-day metrics to metrics.json (on when retraining)")

    def check(self):
        if self.ipw and self.explore == "none":
            raise ValueError("The 'ipw' parameter of LoopConfig needs explore = 'plackett_luce' (without "
                             "exploration every propensity is 1). Got ipw = true with explore = 'none' instead.")

    @property
    def exploring(self) -> bool:
        return self.explore != "none"

    @property
    def retraining(self) -> bool:
        return self.retrain_every > 0

    @property
    def measuring(self) -> bool:
        return self.metrics or self.retraining


@dataclass(frozen=True)
class Config(Section):
    """The whole configuration of a run. ``Config()`` is the built-in default world."""

    world: WorldConfig = field(default_factory=WorldConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    creators: CreatorConfig = field(default_factory=CreatorConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    sellers: SellerConfig = field(default_factory=SellerConfig)

    def check(self):
        for name, typ in (("world", WorldConfig), ("behavior", BehaviorConfig), ("feed", FeedConfig),
                          ("weights", ScoreWeights), ("policy", PolicyConfig), ("ranker", RankerConfig),
                          ("run", RunConfig), ("loop", LoopConfig), ("creators", CreatorConfig),
                          ("live", LiveConfig), ("sellers", SellerConfig)):
            if not isinstance(getattr(self, name), typ):
                raise TypeError(f"The {name!r} parameter of Config must be a {typ.__name__}. Got {getattr(self, name)!r} instead.")
        # a policy parameter that rounds to no effect in this feed (a quota share below one slot) fails here,
        # where the slate size is known, before any run
        self.policy.policy().check_serving(self.feed.slate_size)
        lp = self.loop
        if lp.retraining:
            if self.ranker.kind == "oracle":
                raise ValueError("The 'retrain_every' parameter of LoopConfig retrains a learned ranker; the oracle "
                                 f"ranker learns nothing. Got retrain_every = {lp.retrain_every} with ranker "
                                 "'oracle' instead (use ranker hand, learned:DIR or distilled:DIR).")
            # the loop learns through the warm-up too (sim.loop), so the window may reach into it
            if lp.window_days > self.run.simulated_days:
                raise ValueError(f"The 'window_days' parameter of LoopConfig must be at most the run's simulated "
                                 f"days ({self.run.simulated_days}: {self.run.warmup_days} warm-up + {self.run.days} "
                                 f"measured) when retraining. Got {lp.window_days} instead.")
            if lp.retrain_every >= self.run.simulated_days:
                raise ValueError(f"The 'retrain_every' parameter of LoopConfig must be below the run's simulated "
                                 f"days ({self.run.simulated_days}: {self.run.warmup_days} warm-up + {self.run.days} "
                                 f"measured), or no retrained model would ever serve. "
                                 f"Got {lp.retrain_every} instead.")

    def to_dict(self) -> dict:
        d = super().to_dict()
        # off: written as before the section existed (a run's config.toml, and so its event files'
        # metadata, stay byte for byte what they were)
        for name, default in (("loop", LoopConfig()), ("live", LiveConfig()), ("sellers", SellerConfig())):
            if getattr(self, name) == default:
                del d[name]
        # behaviour terms added after runs were pinned, left out at their no-effect value for the same reason
        for name in NEW_BEHAVIOR_FIELDS:
            if d["behavior"][name] == 0.0:
                del d["behavior"][name]
        return d

    def with_overrides(self, *, policy=None, policy_params=None, seed=None, days=None, users=None, log_sample=None,
                       ranker=None, loop=None, warmup_days=None):
        """A copy with the command line's common overrides applied (validated).

        ``users`` scales the world through :meth:`sim.world.WorldConfig.with_users`: the
        creators present at day 0 and the new creators a day keep their number per user,
        unless the config file set them.

        ``ranker`` is a :class:`RankerConfig` or its command-line form (``learned:DIR``); ``loop`` a
        dict of :class:`LoopConfig` fields to change.
        """
        c = self
        if loop:
            # applied together with days (a window checked against the run's new length) and the warm-up
            # (the loop needs none: ranksim compare's built-in world has one unless --warmup-days 0)
            import dataclasses

            run_kw = {k: v for k, v in (("days", days), ("warmup_days", warmup_days)) if v is not None}
            run = c.run.replace(**run_kw) if run_kw else c.run
            c = dataclasses.replace(c, loop=c.loop.replace(**loop), run=run)
        if ranker is not None:
            c = c.replace(ranker=ranker if isinstance(ranker, RankerConfig) else RankerConfig.parse(ranker))
        if policy is not None or policy_params is not None:
            name = policy if policy is not None else c.policy.name
            params = policy_params if policy_params is not None else (c.policy.params if name == c.policy.name else {})
            c = c.replace(policy=PolicyConfig(name=name, params=dict(params)))
        run = {}
        if seed is not None:
            run["seed"] = seed
        if days is not None:
            run["days"] = days
        if log_sample is not None:
            run["log_sample"] = log_sample
        if warmup_days is not None:
            run["warmup_days"] = warmup_days
        if run:
            c = c.replace(run=c.run.replace(**run))
        if users is not None:  # the world's counts keep their proportions unless set explicitly
            c = c.replace(world=c.world.with_users(users))
        return c

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


def parse_config(text: str, source: str = "<string>") -> Config:
    """Parse and validate TOML text into a :class:`Config`.

    Raises :class:`ConfigError` (a ``ValueError``) for malformed TOML or an
    empty file (nothing but whitespace and comments), and
    ``TypeError``/``ValueError`` naming the field for bad values.
    """
    text = text[1:] if text.startswith("\ufeff") else text  # a UTF-8 byte-order mark is not TOML: skip it
    empty = ConfigError(f"{source} is empty; a config needs at least one section, e.g. [run] days = 7. "
                        "Leave out --config to use the built-in default world.")
    if not text.strip():
        raise empty
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source} is not valid TOML: {e}") from None
    if not data:
        raise empty
    return Config.from_dict(data, "")


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load a TOML file (``None``: the built-in default world); a UTF-8 byte-order mark is skipped."""
    if path is None:
        return Config()
    p = Path(path)
    if not p.is_file():
        what = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise ConfigError(f"Config file {str(p)!r} {what}.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{str(p)!r} is not UTF-8 text, so not a TOML config: {e}") from None
    return parse_config(text, str(p))


def write_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write the resolved config as TOML, atomically.

    The text goes to a uniquely named temporary file in the same directory,
    which then replaces ``path`` in one step: a reader sees the old file or
    the whole new one, never a part; on failure no temporary file is left.
    """
    from ranker.io import atomic_write

    text = cfg.to_toml().encode("utf-8")
    atomic_write(path, lambda f: f.write(text))
