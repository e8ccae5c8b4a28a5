r"""Boosting policies for new and ordinary creators: a registry, one small class each.

A policy reads a :class:`PolicyContext` (what a real ranker can see about the
candidate posts this tick: counters, smoothed signals and their Beta
posteriors, creator and post ages, creator kind, the score's weights) and
returns a :class:`PolicyAction`: a score boost per post, a share of each slate
reserved for new-creator posts, and optionally a mask of posts not to show.
``act`` is a pure function of the context: no state is kept between ticks, so
a run can be replayed from any tick, and the only randomness (Thompson
sampling) comes from the counter-based generator of :mod:`ranker.rng`, keyed
by ``(seed, STREAM_THOMPSON, video_id, day, tick)``.

Boosts are added to the ranker's score, whose signals are log-lifts over the
population prior (0 = an average video), so a boost of 0.5 weighs as much as a
completion rate :math:`e^{0.5} \approx 1.65` times the average one under unit
weights.

Scope
-----
Every policy declares whom it acts on (:attr:`Policy.scope`, shown by
``ranksim policies``): ``"new"`` (posts of creators younger than the
new-creator threshold), ``"ugc"`` (posts of ordinary, non-professional
creators: ``PolicyContext.creator_kind == 0``), ``"new_or_ugc"`` (either),
``"all"`` (every post: exploration policies only), ``"parity"`` (``fairco``,
which boosts whichever group is under-exposed) or ``"none"``. The platform
says it tilts traffic toward new *and* ordinary creators; ``ugc_tilt`` is the
tilt that does both.

Strength
--------
Every policy but ``none`` has one *strength* parameter
(:attr:`Policy.strength_param`) and a registered grid of at least
:data:`MIN_REGISTERED_GRID` strengths (:attr:`Policy.strength_grid`), from
mild to strong, at which ``ranksim compare`` draws its frontier of
new-creator exposure against user value. At strength 0 every policy acts
exactly like ``none``: zero boost, quota 0 and no mask. Policies never see
latent quality.

A parameter whose value rounds to no effect in the configured feed (a slot
quota share that rounds to 0 slots of the slate) is an error raised when the
configuration is validated (:meth:`Policy.check_serving`), before any run.

Registered names are part of the command line (``ranksim policies`` lists
them with the first line of each class docstring, scope, strength grid and
parameters): ``none``, ``fixed_tilt``, ``ugc_tilt``, ``decaying_tilt``,
``slot_quota``, ``traffic_pools``, ``ucb``, ``thompson``, ``fairco``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import special

from ranker._numba import PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_THOMPSON, key, log_beta

if TYPE_CHECKING:  # pragma: no cover
    from ranker.signals import Signals

#: Column order of ``Signals.matrix``, ``.alpha`` and ``.beta`` (docs/CONTRACTS.md).
SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")
#: The signals the platform weighs most (DOMAIN.md item 1): uncertainty bonuses act on these.
MAIN_SIGNALS = ("play3", "completion", "avg_play")
#: The key rates a post's traffic-pool graduation test reads.
POOL_SIGNALS = ("play3", "completion")
#: Weights of the score's signals when the context gives none: ``ranker.score.ScoreWeights()``'s.
DEFAULT_SCORE_WEIGHTS = (1.0, 1.0, 0.5, 0.3, 0.2, 0.5, 0.5)

#: Whom a policy acts on; see the module docstring.
SCOPES = {
    "new": "posts of new creators",
    "ugc": "posts of ordinary (UGC, non-professional) creators",
    "new_or_ugc": "posts of new creators and of ordinary (UGC) creators",
    "all": "every post",
    "parity": "whichever creator group gets less exposure per unit of merit",
    "none": "no post",
}
#: Scopes a boost may take (a tilt on "all" would shift every score alike: no effect).
BOOST_SCOPES = ("new", "ugc", "new_or_ugc")
#: Scopes an exploration policy may take.
EXPLORE_SCOPES = BOOST_SCOPES + ("all",)

#: Fewest strengths in a policy's registered grid.
MIN_REGISTERED_GRID = 3
#: Fewest distinct strengths in a grid given on the command line (``--sweep``).
MIN_SWEPT_GRID = 2

# Smallest rate used inside a logarithm: a lower bound can reach 0.
_RATE_FLOOR = 1e-9
# Smallest Beta shape used by the Thompson draws and their expectation.
_SHAPE_FLOOR = 1e-9

REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: check a policy class's declarations and add it to :data:`REGISTRY` under its ``name``.

    A class with a ``strength_param`` must register a grid of at least
    :data:`MIN_REGISTERED_GRID` strictly increasing, positive strengths, each
    a valid value of that parameter; a class without one must have no grid.
    """
    if cls.name in REGISTRY:
        raise ValueError(f"A policy named {cls.name!r} is already registered.")
    grid = tuple(cls.strength_grid)
    if cls.strength_param is None:
        if grid:
            raise ValueError(f"Policy {cls.name!r} registers a strength grid but no strength_param.")
    else:
        names = [row[0] for row in cls.Params.describe()]
        if cls.strength_param not in names:
            raise ValueError(f"Policy {cls.name!r}: strength_param {cls.strength_param!r} is not one of its "
                             f"parameters {names}.")
        if len(grid) < MIN_REGISTERED_GRID or any(b <= a for a, b in zip(grid, grid[1:])) or grid[0] <= 0:
            raise ValueError(f"Policy {cls.name!r} must register a strength grid of at least {MIN_REGISTERED_GRID} "
                             f"strictly increasing positive values. Got {list(grid)!r} instead.")
        for v in grid:
            cls.Params(**{cls.strength_param: v})
    REGISTRY[cls.name] = cls
    return cls


def _cols(names) -> np.ndarray:
    return np.array([SIGNAL_NAMES.index(n) for n in names], dtype=np.int64)


# --- context and action -------------------------------------------------------

_CTX_ARRAYS = (
    ("creator_age_days", np.float64),
    ("video_age_days", np.float64),
    ("is_new_creator", np.bool_),
    ("impressions", np.float64),
    ("creator_id", np.int32),
    ("active", np.bool_),
    ("base_score", np.float64),
)


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may see at one tick, per post (row = video id).

    Arrays are converted once to the dtypes below (no copy when they already
    have them) and must all have shape ``(n_videos,)``. Policies only read
    them. Everything is plain arrays: the ranker never sees the simulator's
    objects.

    Parameters
    ----------
    seed : int
        The run's seed (``>= 0``); keys Thompson draws.
    day, tick : int
        Simulated day and tick within the day (``>= 0``); key Thompson draws.
    n_videos : int
        Number of posts (rows) the arrays cover, active or not.
    creator_age_days : ndarray of float64, shape (n_videos,)
        Age of each post's creator, days.
    video_age_days : ndarray of float64, shape (n_videos,)
        Age of each post, days since posting.
    is_new_creator : ndarray of bool, shape (n_videos,)
        The post's creator is younger than ``new_creator_days``.
    impressions : ndarray of float64, shape (n_videos,)
        Impressions the post has had so far (count).
    creator_id : ndarray of int32, shape (n_videos,)
        Creator row of each post.
    active : ndarray of bool, shape (n_videos,)
        The post is a candidate now (within the candidate window, creator
        still active).
    base_score : ndarray of float64, shape (n_videos,)
        The ranker's score before any boost (log-lift units).
    signals : ranker.signals.Signals
        Smoothed signals: ``.matrix`` float64 (n_videos, 7) log-lifts in
        :data:`SIGNAL_NAMES` order, ``.alpha`` and ``.beta`` float64
        (n_videos, 7) Beta posterior parameters of each rate, ``.prior``.
    new_creator_days : int
        The configuration's new-creator threshold, days.
    creator_kind : ndarray of int8, shape (n_videos,), optional
        Creator kind of each post (0 ordinary/UGC, 1 professional). Needed
        by every policy whose scope includes ``"ugc"`` and by ``fairco``
        with ``groups="new_kind"``; they raise a ``ValueError`` naming this
        field when it is None.
    video_id : ndarray of int64, shape (n_videos,), optional
        Stable id (>= 0) of each row's post, keying its Thompson draws so a
        post keeps its draws whichever subset of posts the rows cover (common
        random numbers across policies). Default: the row index.
    score_weights : ndarray of float64, shape (7,), optional
        The weights of the score's signals in :data:`SIGNAL_NAMES` order
        (``ranker.score.weight_vector`` of the ``[weights]`` section), which
        ``ucb`` and ``thompson`` weigh each signal's uncertainty by. Default:
        :data:`DEFAULT_SCORE_WEIGHTS`.
    """

    seed: int
    day: int
    tick: int
    n_videos: int
    creator_age_days: np.ndarray
    video_age_days: np.ndarray
    is_new_creator: np.ndarray
    impressions: np.ndarray
    creator_id: np.ndarray
    active: np.ndarray
    base_score: np.ndarray
    signals: Signals
    new_creator_days: int
    creator_kind: np.ndarray | None = None
    video_id: np.ndarray | None = None
    score_weights: np.ndarray | None = None

    def __post_init__(self):
        for name in ("seed", "day", "tick", "n_videos", "new_creator_days"):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"The {name!r} field of PolicyContext must be a non-negative int. Got {v!r} instead.")
            object.__setattr__(self, name, int(v))
        n = self.n_videos
        arrays = list(_CTX_ARRAYS)
        if self.creator_kind is not None:
            arrays.append(("creator_kind", np.int8))
        if self.video_id is not None:
            arrays.append(("video_id", np.int64))
        for name, dtype in arrays:
            a = np.asarray(getattr(self, name), dtype=dtype)
            if a.shape != (n,):
                raise ValueError(
                    f"The {name!r} field of PolicyContext must have shape (n_videos,) = ({n},). Got {a.shape} instead."
                )
            object.__setattr__(self, name, a)
        if self.video_id is not None and n and self.video_id.min() < 0:
            raise ValueError(
                f"The 'video_id' field of PolicyContext must hold non-negative ids. Got {self.video_id.min()} instead."
            )
        w = np.asarray(DEFAULT_SCORE_WEIGHTS if self.score_weights is None else self.score_weights, dtype=np.float64)
        if w.shape != (len(SIGNAL_NAMES),) or not np.isfinite(w).all():
            raise ValueError(f"The 'score_weights' field of PolicyContext must be {len(SIGNAL_NAMES)} finite floats "
                             f"in {SIGNAL_NAMES} order. Got {self.score_weights!r} instead.")
        object.__setattr__(self, "score_weights", w)
        for name in ("matrix", "alpha", "beta"):
            shape = np.shape(getattr(self.signals, name))
            if shape != (n, len(SIGNAL_NAMES)):
                raise ValueError(
                    f"The 'signals.{name}' field of PolicyContext must have shape (n_videos, {len(SIGNAL_NAMES)}) "
                    f"= ({n}, {len(SIGNAL_NAMES)}). Got {shape} instead."
                )

    def is_ugc(self, who: str = "this policy") -> np.ndarray:
        """``creator_kind == 0`` per post (bool); a ``ValueError`` naming ``who`` when the kind is missing."""
        if self.creator_kind is None:
            raise ValueError(f"{who} needs PolicyContext.creator_kind (0 UGC, 1 professional). Got None instead.")
        return self.creator_kind == 0


def scope_mask(ctx: PolicyContext, scope: str, new: np.ndarray | None = None) -> np.ndarray:
    """Posts in ``scope`` (bool, shape (n_videos,)).

    ``new`` replaces ``ctx.is_new_creator`` as the meaning of "new" (a tilt
    with its own age threshold). Scopes with ``"ugc"`` read
    ``ctx.creator_kind``.
    """
    new = ctx.is_new_creator if new is None else new
    if scope == "all":
        return np.ones(ctx.n_videos, np.bool_)
    if scope == "new":
        return new
    ugc = ctx.is_ugc(f"The scope {scope!r}")
    if scope == "ugc":
        return ugc
    if scope == "new_or_ugc":
        return new | ugc
    raise ValueError(f"Unknown scope {scope!r}. Scopes: {sorted(SCOPES)}.")


class NonFiniteBoost(ValueError):
    """A :class:`PolicyAction` was given a boost that is not finite.

    ``position`` is the first such entry (in the order of the context's
    videos) and ``value`` its boost, so a caller can name the video.
    """

    def __init__(self, position: int, value: float):
        self.position = position
        self.value = value
        super().__init__(f"The 'boost' field of PolicyAction must hold finite numbers. Got {value!r} at position "
                         f"{position} instead (mask a post with the 'eligible' field).")


@dataclass(frozen=True)
class PolicyAction:
    """What a policy asks of the ranker for one tick.

    Parameters
    ----------
    boost : ndarray of float64, shape (n_videos,)
        Added to each post's score (log-lift units); finite.
    quota : float
        Share of each slate, in [0, 1], reserved for new-creator posts (the
        engine rounds it to slots, :func:`quota_slots`, and fills them only
        where new-creator candidates exist).
    eligible : ndarray of bool, shape (n_videos,), or None
        ``False``: the post is not to be shown this tick. ``None``: all are.
    """

    boost: np.ndarray
    quota: float = 0.0
    eligible: np.ndarray | None = None

    def __post_init__(self):
        if not 0.0 <= self.quota <= 1.0:
            raise ValueError(f"The 'quota' field of PolicyAction must be a float in the range [0, 1]. Got {self.quota!r} instead.")
        finite = np.isfinite(self.boost)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise NonFiniteBoost(bad, float(np.asarray(self.boost)[bad]))


def quota_slots(share: float, slate_size: int) -> int:
    """Slots of a slate of ``slate_size`` a quota ``share`` reserves: ``round(share * slate_size)`` (half to even)."""
    return int(round(share * slate_size))


# --- base class -----------------------------------------------------------------


class Policy:
    """Base of the registered policies: ``name``, ``Params``, ``act``, and the declarations below.

    Class attributes
    ----------------
    name : str
        Registered name.
    Params : type
        The parameter section.
    strength_param : str or None
        The parameter that sets how strongly the policy acts (0: like
        ``none``); None for ``none``.
    strength_grid : tuple of float
        Registered strengths, mild to strong (at least
        :data:`MIN_REGISTERED_GRID`), for the frontier ``ranksim compare``
        draws.
    fixed_scope : str or None
        The scope of a policy without a ``scope`` parameter.

    Parameters
    ----------
    params : Params section, optional
        Validated parameters (default: the section's defaults).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = Section
    strength_param: ClassVar[str | None] = None
    strength_grid: ClassVar[tuple] = ()
    fixed_scope: ClassVar[str | None] = None

    def __init__(self, params=None):
        if params is None:
            params = self.Params()
        if not isinstance(params, self.Params):
            raise TypeError(
                f"The 'params' parameter of {type(self).__name__} must be a {self.Params.__name__}. "
                f"Got {params!r} instead."
            )
        self.params = params

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.params.to_dict().items())
        return f"{type(self).__name__}({kw})"

    @property
    def scope(self) -> str:
        """Whom this policy acts on: a key of :data:`SCOPES`."""
        return getattr(self.params, "scope", None) or self.fixed_scope

    @property
    def strength(self) -> float | None:
        """The value of the strength parameter (None for ``none``)."""
        return None if self.strength_param is None else getattr(self.params, self.strength_param)

    def act(self, ctx: PolicyContext) -> PolicyAction:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_serving(self, slate_size: int) -> None:
        """Raise a ``ValueError`` naming a parameter that rounds to no effect with slates of ``slate_size``.

        Called when a configuration is validated (the slate size is known
        there), so the error comes before any run. The base class accepts
        everything.
        """

    @classmethod
    def grid(cls, slate_size: int | None = None) -> tuple:
        """The registered strength grid (for a slate of ``slate_size`` where that matters)."""
        return tuple(cls.strength_grid)

    @classmethod
    def summary(cls) -> str:
        """The one-line description: the first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0].strip()

    @classmethod
    def scope_text(cls) -> str:
        """How ``ranksim policies`` states the scope: the fixed scope, or the default and the choices."""
        if cls.fixed_scope is not None:
            return f"{cls.fixed_scope} ({SCOPES[cls.fixed_scope]})"
        rows = {r[0]: r for r in cls.Params.describe()}
        default = rows["scope"][2]
        return f"{default} ({SCOPES[default]}); parameter 'scope': {rows['scope'][1]}"


def _zeros(ctx: PolicyContext) -> PolicyAction:
    return PolicyAction(boost=np.zeros(ctx.n_videos))


def _scope_param(default: str, choices: tuple):
    return param(default, "str", choices=choices,
                 doc="whom the policy acts on (the scope line above says what each choice means)")


# --- policies -------------------------------------------------------------------


@dataclass(frozen=True)
class NoParams(Section):
    """No parameters."""


@register
class NoBoost(Policy):
    """No boost: the ranker's score alone decides.

    .. math::

       b_v = 0
    """

    name = "none"
    Params = NoParams
    fixed_scope = "none"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return _zeros(ctx)


@dataclass(frozen=True)
class FixedTiltParams(Section):
    """Parameters of ``fixed_tilt``."""

    strength: float = param(0.5, "float", 0.0, 100.0, doc="score bonus for posts in scope, log-lift units")
    days: int = param(0, "int", 0, 3650, doc="creators younger than this many days are new; 0: the config's new_creator_days")
    scope: str = _scope_param("new", BOOST_SCOPES)


@register
class FixedTilt(Policy):
    r"""Fixed tilt: a constant score bonus for posts of new creators (or of the declared scope).

    .. math::

       b_v = s \cdot \mathbf{1}[v \in S]

    with :math:`s` = ``strength`` and :math:`S` the scope: posts of creators
    younger than :math:`D` = ``days`` (``"new"``; ``days = 0`` uses the
    configuration's new-creator threshold, ``ctx.is_new_creator``), of
    ordinary creators (``"ugc"``) or of either (``"new_or_ugc"``).
    """

    name = "fixed_tilt"
    Params = FixedTiltParams
    strength_param = "strength"
    strength_grid = (0.25, 0.5, 1.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        young = ctx.is_new_creator if p.days == 0 else ctx.creator_age_days < p.days
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope, young), p.strength, 0.0))


@dataclass(frozen=True)
class UGCTiltParams(Section):
    """Parameters of ``ugc_tilt``."""

    strength: float = param(0.25, "float", 0.0, 100.0, doc="score bonus for posts of ordinary (UGC) creators, log-lift units")
    new_ratio: float = param(1.0, "float", 0.0, 100.0,
                             doc="bonus for posts of new creators, as a multiple of strength (added to the UGC bonus); 0: UGC only")


@register
class UGCTilt(Policy):
    r"""UGC tilt: a score bonus for ordinary (non-professional) creators, and as much again for new creators.

    The platform says it tilts traffic toward new *and* ordinary creators
    (DOMAIN.md item 4). With :math:`s` = ``strength`` and :math:`\rho` =
    ``new_ratio``:

    .. math::

       b_v = s \cdot \bigl(\mathbf{1}[\mathrm{ugc}_v] + \rho\, \mathbf{1}[\mathrm{new}_v]\bigr)

    so a new ordinary creator gets :math:`s (1 + \rho)`, an established
    professional nothing. Scope ``new_or_ugc`` (``ugc`` when
    :math:`\rho = 0`). Ordinary creators are most creators (85 % in the
    default world), so the UGC part mostly lowers professionals relative to
    everyone else.
    """

    name = "ugc_tilt"
    Params = UGCTiltParams
    strength_param = "strength"
    strength_grid = (0.1, 0.25, 0.5)

    @property
    def scope(self) -> str:
        return "new_or_ugc" if self.params.new_ratio > 0 else "ugc"

    @classmethod
    def scope_text(cls) -> str:
        return f"new_or_ugc ({SCOPES['new_or_ugc']}); ugc when new_ratio = 0"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        ugc = ctx.is_ugc("The ugc_tilt policy").astype(np.float64)
        return PolicyAction(boost=p.strength * (ugc + p.new_ratio * ctx.is_new_creator))


@dataclass(frozen=True)
class DecayingTiltParams(Section):
    """Parameters of ``decaying_tilt``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus at creator age 0, log-lift units")
    half_life_days: float = param(5.0, "float", 0.0, 3650.0, lo_open=True, doc="creator age at which the bonus halves, days")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class DecayingTilt(Policy):
    r"""Decaying tilt: a score bonus for new creators that halves every half-life of creator age.

    .. math::

       b_v = s \cdot 2^{-a_{c(v)} / h} \cdot \mathbf{1}[v \in S]

    with :math:`s` = ``strength``, :math:`h` = ``half_life_days``,
    :math:`a_{c(v)}` the creator's age in days and :math:`S` the scope. With
    scope ``"all"`` every creator keeps a small, ever-decaying bonus
    (established creators count as a year old, so theirs is tiny).
    """

    name = "decaying_tilt"
    Params = DecayingTiltParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        age = np.maximum(ctx.creator_age_days, 0.0)
        boost = p.strength * np.exp2(-age / p.half_life_days)
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope), boost, 0.0))


@dataclass(frozen=True)
class SlotQuotaParams(Section):
    """Parameters of ``slot_quota``."""

    share: float = param(0.125, "float", 0.0, 1.0, doc="share of each slate reserved for new-creator posts (rounded to slots)")


@register
class SlotQuota(Policy):
    r"""Slot quota: a share of every slate is reserved for new-creator posts.

    Scores are unchanged; the ranker fills at least
    :math:`\min(\mathrm{round}(q k), n_{\mathrm{new}})` of a slate's
    :math:`k` slots with the best new-creator candidates, where :math:`q` =
    ``share`` and :math:`n_{\mathrm{new}}` is the number of new-creator
    candidates of the request.

    .. math::

       b_v = 0, \qquad \mathrm{quota} = q

    A share that rounds to 0 slots of the configured slate (0.05 of 8) would
    silently act as ``none``: it is a configuration error. The registered
    grid reserves 1, 2 and 3 slots of the slate.
    """

    name = "slot_quota"
    Params = SlotQuotaParams
    strength_param = "share"
    strength_grid = (0.125, 0.25, 0.375)  # 1, 2 and 3 slots of the default slate of 8
    fixed_scope = "new"

    def act(self, ctx: PolicyContext) -> PolicyAction:
        return PolicyAction(boost=np.zeros(ctx.n_videos), quota=self.params.share)

    def check_serving(self, slate_size: int) -> None:
        share = self.params.share
        if share > 0 and quota_slots(share, slate_size) == 0:
            lo = 0.5 / slate_size
            raise ValueError(
                f"The 'share' parameter of SlotQuotaParams must be 0 or a float in the range ({lo!r}, 1.0] with "
                f"slate_size = {slate_size} (round(share x slate_size) slots are reserved). Got {share!r} instead, "
                f"which reserves 0 slots: the same as 'none'."
            )

    @classmethod
    def grid(cls, slate_size: int | None = None) -> tuple:
        """1, 2 and 3 slots of the slate (capped at the whole slate): ``j / slate_size``."""
        if slate_size is None:
            return tuple(cls.strength_grid)
        return tuple(sorted({min(j, slate_size) / slate_size for j in (1, 2, 3)}))


def _posterior(signals, cols):
    """Posterior mean and sd of the Beta rates in ``cols``: two float64 (n, len(cols)) arrays."""
    a = np.asarray(signals.alpha, dtype=np.float64)[:, cols]
    b = np.asarray(signals.beta, dtype=np.float64)[:, cols]
    n = a + b
    mean = a / n
    sd = np.sqrt(mean * (1.0 - mean) / (n + 1.0))
    return mean, sd


@dataclass(frozen=True)
class TrafficPoolsParams(Section):
    """Parameters of ``traffic_pools``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="score bonus of a post inside an open pool, log-lift units")
    pool_multiples: tuple = param((0.25, 1.0, 4.0), "floats", 0.0, 1e6, lo_open=True,
                                  doc="size of each pool, in mean impressions of a live post (the world's traffic per "
                                      "live post); strictly increasing")
    min_traffic: float = param(10.0, "float", 0.0, 1e12, lo_open=True,
                               doc="floor of the traffic per live post the pools scale with, impressions (a run's first ticks)")
    percentile: float = param(50.0, "float", 0.0, 100.0,
                              doc="percentile of the peers' lower bounds a post's lower bound must beat to graduate")
    z: float = param(1.0, "float", 0.0, 10.0, doc="lower bound = posterior mean - z * posterior sd")
    window_days: float = param(7.0, "float", 0.0, 3650.0, lo_open=True, doc="posts older than this many days are out of the pools")
    min_peers: int = param(10, "int", 1, 10**9,
                           doc="fewer in-scope peers than this at a post's pool level: compare with every post measured at least as much")
    scope: str = _scope_param("new", EXPLORE_SCOPES)
    drop_failed: bool = param(False, "bool", doc="a post that fails a graduation test is not shown at all (false: ranked organically)")

    def check(self):
        s = self.pool_multiples
        if len(s) == 0 or len(s) > 16 or any(b <= a for a, b in zip(s, s[1:])):
            raise ValueError(
                f"The 'pool_multiples' parameter of {type(self).__name__} must be a strictly increasing list of 1 to "
                f"16 floats. Got {list(s)!r} instead."
            )


@register
class TrafficPools(Policy):
    r"""Traffic pools: a new post gets a small pool of traffic, and a larger one only if its lower bound beats its peers'.

    Pool sizes scale with the world's traffic: with :math:`T` the mean
    impressions of the active posts (the traffic per live post, whatever
    the policy: the same impressions are spread over the same posts),
    floored at :math:`T_0` = ``min_traffic``, pool :math:`k` is used up at

    .. math::

       s_k = m_k \max(T, T_0)

    impressions, :math:`m_k` = ``pool_multiples`` (:math:`K` of them; the
    default 0.25, 1, 4: a quarter of an average live post's traffic, an
    average post's, four times it). A post in scope (younger than
    ``window_days``, in ``scope``) starts in pool 0. The policy keeps no
    memory: a post's level is read from its impressions :math:`n_v` and its
    current signals. With :math:`m_v = \#\{k : n_v \ge s_k\}` the number of
    sizes it has reached, the post is tested at gate :math:`m_v - 1`, like
    against like: its lower bound against the lower bounds of posts measured
    as much as it,

    .. math::

       L_v = \sum_{r \in R} \log \max(\mu_{v,r} - z\,\sigma_{v,r},\ \epsilon),
       \qquad
       \mathrm{pass}_v = L_v > P_p\bigl(\{L_u : u \in \mathrm{peers}_{m_v - 1}\}\bigr)

    .. math::

       b_v = s \cdot \mathbf{1}\bigl[m_v = 0 \ \lor\ (m_v < K \land \mathrm{pass}_v)\bigr]

    where :math:`R` = (3-second play, completion), :math:`\mu, \sigma` the
    Beta posterior mean and sd (:math:`\sigma^2 = \mu(1-\mu)/(\alpha+\beta+1)`),
    :math:`\epsilon = 10^{-9}`, :math:`P_p` the ``percentile``, :math:`z` =
    ``z`` and :math:`s` = ``strength``. The peers of gate :math:`k` are the
    active posts in scope with :math:`s_k \le n_u < s_{k+1}`
    (:math:`s_K = \infty`): posts pushed through the same pools and measured
    at the same exposure level, whose bounds are as wide as the post's own
    (posts that got there organically were selected by the ranker, and would
    set a bar no pushed post is meant to clear). When fewer than
    ``min_peers`` are there, the active posts of any creator with
    :math:`n_u \ge s_k` serve (measured at least as much); when there are
    none at all, the gate is open. A post
    that fails its gate gets no pool bonus and is ranked organically, or is
    not shown at all when ``drop_failed``. It is tested again every tick
    with its current signals, so organic traffic that lifts its lower bound
    can still open the next pool; and a post that reaches a size organically
    is tested there as if pushed. A post past the last size has graduated:
    no bonus, organic ranking. At ``strength = 0`` the policy is off (no
    bonus, no post dropped).
    """

    name = "traffic_pools"
    Params = TrafficPoolsParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)

    def traffic(self, ctx: PolicyContext) -> float:
        """:math:`\\max(T, T_0)`: the mean impressions of the active posts, floored at ``min_traffic``."""
        n = ctx.impressions[ctx.active]
        t = float(n.mean()) if n.size else 0.0
        return max(t, self.params.min_traffic)

    def sizes(self, ctx: PolicyContext) -> np.ndarray:
        """Pool sizes :math:`s_k` in impressions, float64 (K,)."""
        return np.asarray(self.params.pool_multiples, dtype=np.float64) * self.traffic(ctx)

    def state(self, ctx: PolicyContext):
        """Each post's pool state, derived from ctx alone.

        Returns
        -------
        level : ndarray of int64, shape (n_videos,)
            :math:`m_v`, the number of pool sizes reached.
        passed : ndarray of bool, shape (n_videos,)
            The post passed its gate :math:`m_v - 1` (False where
            :math:`m_v = 0`).
        open_pool : ndarray of bool, shape (n_videos,)
            The post is inside an open pool (would get the bonus if in scope).
        failed : ndarray of bool, shape (n_videos,)
            The post failed its gate.
        in_scope : ndarray of bool, shape (n_videos,)
            The post is subject to the pools.
        """
        p = self.params
        sizes = self.sizes(ctx)
        k_pools = len(sizes)
        n = ctx.impressions
        level = np.searchsorted(sizes, n, side="right").astype(np.int64)
        mean, sd = _posterior(ctx.signals, _cols(POOL_SIGNALS))
        lcb = np.log(np.maximum(mean - p.z * sd, _RATE_FLOOR)).sum(axis=1)
        # One threshold per gate; a loop over the K (<= 16) gates, never over posts.
        upper = np.append(sizes[1:], np.inf)
        in_scope = (ctx.video_age_days < p.window_days) & scope_mask(ctx, p.scope)
        thresholds = np.full(k_pools, -np.inf)
        act_lcb, act_n, act_in = lcb[ctx.active], n[ctx.active], in_scope[ctx.active]
        for k in range(k_pools):
            band = (act_n >= sizes[k]) & (act_n < upper[k])
            peers = act_lcb[band & act_in]
            if peers.size < p.min_peers:
                peers = act_lcb[act_n >= sizes[k]]
            if peers.size:
                thresholds[k] = np.percentile(peers, p.percentile)
        gate = np.maximum(level - 1, 0)
        passed = (level > 0) & (lcb > thresholds[gate])
        open_pool = (level == 0) | ((level < k_pools) & passed)
        failed = (level > 0) & ~passed
        return level, passed, open_pool, failed, in_scope

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        _, _, open_pool, failed, in_scope = self.state(ctx)
        boost = np.where(open_pool & in_scope, p.strength, 0.0)
        eligible = ~(failed & in_scope) if p.drop_failed else None
        return PolicyAction(boost=boost, eligible=eligible)


def score_log_sd(alpha, beta, cols, weights) -> np.ndarray:
    r"""Posterior sd of the score's log rates over ``cols``, per video.

    .. math::

       S_v = \Bigl(\sum_{r \in C} w_r^2\,
             \bigl(\psi_1(\alpha_{v,r}) - \psi_1(\alpha_{v,r} + \beta_{v,r})\bigr)\Bigr)^{1/2}

    :math:`\psi_1` the trigamma function: :math:`\psi_1(\alpha) -
    \psi_1(\alpha+\beta)` is the exact variance of :math:`\log \theta` for
    :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)`, the rates are taken as
    independent, and each is weighed as the score weighs its signal.

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters (> 0; floored at 1e-9).
    cols : ndarray of int64
        Signal columns.
    weights : ndarray of float64, shape (7,)
        Score weights in :data:`SIGNAL_NAMES` order.

    Returns
    -------
    ndarray of float64, shape (n_videos,)
        :math:`S_v`, log-lift units.
    """
    a = np.maximum(np.asarray(alpha, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    b = np.maximum(np.asarray(beta, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    var = special.polygamma(1, a) - special.polygamma(1, a + b)
    return np.sqrt(np.maximum(var, 0.0) @ (np.asarray(weights, dtype=np.float64)[cols] ** 2))


@dataclass(frozen=True)
class UCBParams(Section):
    """Parameters of ``ucb``."""

    c: float = param(0.5, "float", 0.0, 100.0, doc="bonus per unit of posterior sd of the score (at post age 0)")
    half_life_days: float = param(1.0, "float", 0.0, 3650.0, lo_open=True,
                                  doc="schedule: c halves every this many days of post age")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class UCB(Policy):
    r"""UCB: a bonus of c posterior sds of the post's score on its main signals, for new creators' fresh posts.

    .. math::

       b_v = c_v \, S_v \, \mathbf{1}[v \in S],
       \qquad
       c_v = c \cdot 2^{-t_v / h},
       \qquad
       S_v = \Bigl(\sum_{r \in R} w_r^2 \bigl(\psi_1(\alpha_{v,r}) - \psi_1(\alpha_{v,r} + \beta_{v,r})\bigr)\Bigr)^{1/2}

    over :math:`R` = (3-second play, completion, average play), the
    signals the platform weighs most, each weighed by the score's own weight
    :math:`w_r` (``ctx.score_weights``): :math:`S_v` is the posterior sd of
    the score's part on those signals (:func:`score_log_sd`: exact variances
    of the log rates, taken as independent), so :math:`\mathrm{score} +
    b_v` is an upper confidence bound of the score at :math:`c_v` sds. The
    like and comment rates are left out: their rates are small, so their
    log posteriors stay wide for thousands of impressions and would turn the
    bonus into a lottery on comments. :math:`S_v` shrinks as
    :math:`1/\sqrt{\alpha + \beta}` with impressions.

    Schedule: :math:`c_v` halves every :math:`h` = ``half_life_days`` of the
    post's age :math:`t_v`. Exploration is spent while a post is fresh,
    when its first impressions decide whether it is ever seen; a post still
    uncertain after days is one the feed had every chance to show, and a
    bonus then mostly buys impressions users did not want.

    Defaults: :math:`c = 0.5` and scope ``"new"``. Over every post and at
    :math:`c = 1` (the earlier default), established creators' low-traffic
    posts took most of the bonus and an unseen post's bonus outranked the
    top decile of base scores; at :math:`c = 0.5` an unseen post's bonus is
    about 0.35 log-lift units (prior strength about 7), below the gap
    between the median and the top decile of base scores.
    """

    name = "ucb"
    Params = UCBParams
    strength_param = "c"
    strength_grid = (0.25, 0.5, 1.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.c == 0.0:
            return _zeros(ctx)
        sd = score_log_sd(ctx.signals.alpha, ctx.signals.beta, _cols(MAIN_SIGNALS), ctx.score_weights)
        c = p.c * np.exp2(-np.maximum(ctx.video_age_days, 0.0) / p.half_life_days)
        return PolicyAction(boost=np.where(scope_mask(ctx, p.scope), c * sd, 0.0))


@njit(**PJIT)
def _thompson_log_draws(alpha, beta, cols, ids, seed, day, tick, out):
    """Log Beta draws per row and column: ``out[v, j] = log_beta(key(seed, STREAM_THOMPSON, ids[v], day, tick), cols[j], ...)``.

    ``alpha, beta`` float64 (n, 7), floored at ``_SHAPE_FLOOR``; ``cols``
    int64 signal columns (the draw index); ``ids`` int64 (n,) post ids.
    Writes ``out`` float64 (n, len(cols)).
    """
    for v in prange(alpha.shape[0]):
        k0 = key(seed, STREAM_THOMPSON, ids[v], day, tick)
        for j in range(cols.shape[0]):
            c = cols[j]
            a = max(alpha[v, c], _SHAPE_FLOOR)
            b = max(beta[v, c], _SHAPE_FLOOR)
            out[v, j] = log_beta(k0, c, a, b)


def thompson_log_draws(alpha, beta, cols, seed, day, tick, ids=None) -> np.ndarray:
    r"""Exact Beta posterior draws of the rates in ``cols``, as logarithms: float64 (n_videos, len(cols)).

    Entry :math:`(v, j)` is :math:`\log \theta_{v,c}`, :math:`\theta_{v,c}
    \sim \mathrm{Beta}(\alpha_{v,c}, \beta_{v,c})` with :math:`c` =
    ``cols[j]``, drawn by :func:`ranker.rng.log_beta` from key
    ``rng.key(seed, STREAM_THOMPSON, ids[v], day, tick)``, draw index
    :math:`c`: a pure function of (seed, post, day, tick, column), the
    same for any thread count, any subset of rows and any policy
    (common random numbers). Shapes are floored at :math:`10^{-9}`.

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters in :data:`SIGNAL_NAMES` order.
    cols : sequence of int
        Signal columns.
    seed, day, tick : int
        Non-negative key fields.
    ids : ndarray of int64, shape (n_videos,), optional
        Non-negative post id of each row (default: the row index).
    """
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    beta = np.ascontiguousarray(beta, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.int64)
    n = alpha.shape[0]
    ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty((n, cols.size), dtype=np.float64)
    _thompson_log_draws(alpha, beta, cols, ids, np.int64(seed), np.int64(day), np.int64(tick), out)
    return out


def thompson_lift(alpha, beta, cols, seed, day, tick, ids=None, weights=None) -> np.ndarray:
    r"""Sampled minus expected log rate, weighted and summed over signal columns, per video.

    .. math::

       \Delta_v = \sum_{c \in C} w_c \bigl(\log \theta_{v,c}
       - \mathbb{E}[\log \theta_{v,c}]\bigr),\qquad
       \mathbb{E}[\log \theta_{v,c}] = \psi(\alpha_{v,c}) - \psi(\alpha_{v,c} + \beta_{v,c})

    with :math:`\theta` from :func:`thompson_log_draws` and :math:`\psi` the
    digamma function: each term has mean exactly 0, whatever the counts
    (an unseen post's perturbation is centred, not pulled down by the
    concavity of the logarithm).

    Parameters
    ----------
    alpha, beta : ndarray of float64, shape (n_videos, 7)
        Beta posterior parameters (> 0; floored at 1e-9).
    cols : sequence of int
        Signal columns to sum over; column ``c`` uses draw index ``c``.
    seed, day, tick : int
        Non-negative key fields.
    ids : ndarray of int64, shape (n_videos,), optional
        Non-negative post id of each row (default: the row index).
    weights : ndarray of float64, shape (7,), optional
        Weight of each signal column (default: 1 each).

    Returns
    -------
    ndarray of float64, shape (n_videos,)
        :math:`\Delta_v`, log-lift units.
    """
    cols = np.asarray(cols, dtype=np.int64)
    logs = thompson_log_draws(alpha, beta, cols, seed, day, tick, ids)
    a = np.maximum(np.asarray(alpha, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    b = np.maximum(np.asarray(beta, dtype=np.float64)[:, cols], _SHAPE_FLOOR)
    expected = special.digamma(a) - special.digamma(a + b)
    w = np.ones(cols.size) if weights is None else np.asarray(weights, dtype=np.float64)[cols]
    return (logs - expected) @ w


@dataclass(frozen=True)
class ThompsonParams(Section):
    """Parameters of ``thompson``."""

    scale: float = param(1.0, "float", 0.0, 100.0, doc="weight of the sampled minus expected log score")
    scope: str = _scope_param("new", EXPLORE_SCOPES)


@register
class Thompson(Policy):
    r"""Thompson sampling: new creators' posts are ranked on a score drawn from its posterior, not its mean.

    .. math::

       b_v = \lambda \, \mathbf{1}[v \in S] \sum_{r \in R} w_r \bigl(\log \theta_{v,r}
             - \mathbb{E}[\log \theta_{v,r}]\bigr),
       \qquad \theta_{v,r} \sim \mathrm{Beta}(\alpha_{v,r}, \beta_{v,r})

    over :math:`R` = (3-second play, completion, average play), each weighed
    by the score's own weight :math:`w_r` (``ctx.score_weights``), with
    :math:`\lambda` = ``scale``, :math:`S` the scope and
    :math:`\mathbb{E}[\log \theta] = \psi(\alpha) - \psi(\alpha + \beta)`
    (:func:`thompson_lift`). Each term has mean exactly 0: a post's
    perturbation is centred whatever its counts, with the sd of its score's
    posterior (:func:`score_log_sd`, the quantity ``ucb`` adds :math:`c`
    times), so uncertain posts spread more and reach the top more often than
    their mean alone would allow, without being pulled down on average. The
    Beta draws are exact (:func:`ranker.rng.log_beta`, Marsaglia-Tsang gamma
    variates from the counter-based generator) and keyed by
    ``(seed, STREAM_THOMPSON, video_id, day, tick)`` (``ctx.video_id``, or
    the row index when it is None): a tick replays bit-identically for any
    thread count, and every Thompson arm of a comparison shares them
    (common random numbers; the scope and scale only mask and scale them).
    """

    name = "thompson"
    Params = ThompsonParams
    strength_param = "scale"
    strength_grid = (0.5, 1.0, 2.0)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.scale == 0.0:
            return _zeros(ctx)
        inside = scope_mask(ctx, p.scope)
        lift = thompson_lift(ctx.signals.alpha, ctx.signals.beta, _cols(MAIN_SIGNALS), ctx.seed, ctx.day, ctx.tick,
                             ctx.video_id, ctx.score_weights)
        return PolicyAction(boost=np.where(inside, p.scale * lift, 0.0))


@dataclass(frozen=True)
class FairCoParams(Section):
    """Parameters of ``fairco``."""

    strength: float = param(1.0, "float", 0.0, 100.0, doc="bonus for a group with no exposure per merit at all, log-lift units")
    merit: str = param("score", "str", choices=("score", "completion", "play3"),
                       doc="estimated merit: softplus of the base score, or a posterior mean rate")
    groups: str = param("new", "str", choices=("new", "new_kind"),
                        doc="groups: new vs established creators, or also split by creator kind (UGC / professional)")
    age_offset_days: float = param(1.0, "float", 0.0, 365.0, lo_open=True,
                                   doc="exposure rate = impressions / (post age + this), days")


@register
class FairCo(Policy):
    r"""FairCo parity controller: boosts whichever creator group gets less exposure per unit of estimated merit.

    Not a newcomer boost: it equalises exposure *per unit of merit* between
    groups, so it boosts new creators only when they get less exposure per
    merit than established ones, boosts established creators when the
    reverse holds, and does nothing where the ratio is already equal (a
    world in which the ranker already serves each group in proportion to
    its estimated merit). The merit it uses is the ranker's own estimate
    (``merit``): by default :math:`\log(1 + e^{x_v})` of the base score
    :math:`x_v`, so it can only correct exposure toward what the score
    already believes, never toward latent quality.

    After Morik, Singh, Hong and Joachims (2020), "Controlling Fairness and
    Bias in Dynamic Learning-to-Rank". Groups :math:`G` are new vs
    established creators (``groups="new"``), or those split by creator kind
    (``"new_kind"``, four groups). Over the active posts :math:`A_G` of each
    group:

    .. math::

       E_G = \frac{1}{|A_G|} \sum_{v \in A_G} \frac{n_v}{t_v + t_0},
       \qquad
       M_G = \frac{1}{|A_G|} \sum_{v \in A_G} m_v,
       \qquad
       \rho_G = E_G / M_G

    .. math::

       b_v = s \cdot \frac{\max_H \rho_H - \rho_{G(v)}}{\max_H \rho_H}

    with :math:`n_v` impressions, :math:`t_v` the post's age in days,
    :math:`t_0` = ``age_offset_days`` (exposure is a rate, so older posts do
    not count as more exposed merely for being older), :math:`s` =
    ``strength`` and merit :math:`m_v` = softplus of the base score
    (``merit="score"``) or the Beta posterior mean of the completion or
    3-second play rate. The best-served group gets 0, a group with no
    exposure gets :math:`s`; dividing by the maximum makes the bonus free of
    the units of exposure and merit (FairCo's growing factor
    :math:`\tau - 1` is replaced by this normalisation and the controller's
    feedback over ticks). Groups with no active post, and all posts when
    only one group is active, get 0.
    """

    name = "fairco"
    Params = FairCoParams
    strength_param = "strength"
    strength_grid = (0.5, 1.0, 2.0)
    fixed_scope = "parity"

    @classmethod
    def scope_text(cls) -> str:
        return ("parity: whichever group (new vs established creators; with groups = new_kind also UGC vs "
                "professional) gets less exposure per unit of merit; merit = softplus(base score) by default")

    def groups(self, ctx: PolicyContext):
        """Group index per post (int64, shape (n_videos,)) and the number of groups."""
        g = ctx.is_new_creator.astype(np.int64)
        if self.params.groups == "new":
            return g, 2
        if ctx.creator_kind is None:
            raise ValueError("The fairco policy with groups='new_kind' needs PolicyContext.creator_kind. Got None instead.")
        return g + 2 * (ctx.creator_kind.astype(np.int64) != 0), 4

    def merit(self, ctx: PolicyContext) -> np.ndarray:
        """Estimated merit per post, float64 (n_videos,), positive."""
        if self.params.merit == "score":
            return np.logaddexp(0.0, ctx.base_score)
        mean, _ = _posterior(ctx.signals, _cols((self.params.merit,)))
        return mean[:, 0]

    def ratios(self, ctx: PolicyContext):
        """Exposure per merit of each group, float64 (n_groups,); NaN for a group with no active post."""
        g, n_groups = self.groups(ctx)
        act = ctx.active
        rate = ctx.impressions[act] / (np.maximum(ctx.video_age_days[act], 0.0) + self.params.age_offset_days)
        count = np.bincount(g[act], minlength=n_groups).astype(np.float64)
        expo = np.bincount(g[act], weights=rate, minlength=n_groups)
        merit = np.bincount(g[act], weights=self.merit(ctx)[act], minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            # counts cancel: mean exposure / mean merit = summed exposure / summed merit
            rho = expo / np.maximum(merit, _RATE_FLOOR * count)
        return np.where(count > 0, rho, np.nan)

    def act(self, ctx: PolicyContext) -> PolicyAction:
        p = self.params
        if p.strength == 0.0:
            return _zeros(ctx)
        g, _ = self.groups(ctx)
        rho = self.ratios(ctx)
        present = ~np.isnan(rho)
        if present.sum() < 2:
            return _zeros(ctx)
        top = rho[present].max()
        gap = np.zeros_like(rho)
        if top > 0.0:
            gap[present] = (top - rho[present]) / top
        return PolicyAction(boost=p.strength * gap[g])


# --- construction ---------------------------------------------------------------


def make_policy(name: str, params: Any = None) -> Policy:
    """Build a registered policy from its name and parameters.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    params : dict, Section or None
        A mapping of the policy's parameters (validated through
        ``Params.from_dict``; unknown keys are errors), an already built
        ``Params`` section, or ``None`` for the defaults.

    Raises
    ------
    TypeError
        ``name`` is not a str, or ``params`` is a section of another policy.
    ValueError
        Unknown name (the message lists the registered ones) or a bad
        parameter value.
    """
    if not isinstance(name, str):
        raise TypeError(f"The 'name' parameter of PolicyConfig must be a str. Got {name!r} instead.")
    if name not in REGISTRY:
        raise ValueError(f"Unknown policy {name!r}. Registered policies: {sorted(REGISTRY)}.")
    cls = REGISTRY[name]
    p = params if isinstance(params, Section) else cls.Params.from_dict(dict(params or {}), f"policy.params ({name})")
    return cls(p)


def check_sweep(name: str, pname: str, values, slate_size: int | None = None, texts=None, where: str | None = None) -> list:
    """Validate the values of one ``--sweep NAME.PNAME=v1,v2,...``; return them resolved, repeats dropped.

    Each value must be valid for the parameter (and, when ``slate_size`` is
    given, must not round to no effect: :meth:`Policy.check_serving`). A
    sweep of the policy's strength parameter is a strength grid: it needs at
    least :data:`MIN_SWEPT_GRID` distinct values, since one point draws no
    curve.

    Parameters
    ----------
    name, pname : str
        Policy and parameter.
    values : sequence
        Parsed values.
    slate_size : int, optional
        The feed's slate size, for :meth:`Policy.check_serving`.
    texts : sequence of str, optional
        The values as the user wrote them, for messages (default: ``repr``).
    where : str, optional
        The whole sweep as written, for messages (default ``NAME.PNAME``).

    Raises
    ------
    ValueError
        Unknown policy or parameter (naming the allowed ones), a strength
        grid of one point; ``TypeError``/``ValueError`` from the parameter's
        own check, prefixed with ``--sweep NAME.PNAME=value``.
    """
    where = f"{name}.{pname}" if where is None else where
    texts = [repr(v) for v in values] if texts is None else list(texts)
    if name not in REGISTRY:
        raise ValueError(f"Unknown policy {name!r} in --sweep {where!r}. Registered policies: "
                         f"{', '.join(sorted(REGISTRY))}.")
    cls = REGISTRY[name]
    pnames = [row[0] for row in cls.Params.describe()]
    if not pnames:
        raise ValueError(f"Policy {name!r} has no parameters to sweep (--sweep {where!r}).")
    if pname not in pnames:
        raise ValueError(f"Policy {name!r} has no parameter {pname!r} (--sweep {where!r}). "
                         f"Its parameters: {', '.join(pnames)}.")
    resolved = []
    for v, text in zip(values, texts):
        try:
            pol = make_policy(name, {pname: v})
            if slate_size is not None:
                pol.check_serving(slate_size)
        except (TypeError, ValueError) as e:
            raise type(e)(f"--sweep {name}.{pname}={text}: {e}") from None
        r = pol.params.to_dict()[pname]
        if r not in resolved:
            resolved.append(r)
    if pname == cls.strength_param and len(resolved) < MIN_SWEPT_GRID:
        raise ValueError(
            f"--sweep {where!r} is a strength grid of {len(resolved)} point; a grid needs at least {MIN_SWEPT_GRID} "
            f"distinct values of {pname!r} to draw a curve. The registered grid of {name!r} is "
            f"{', '.join(repr(x) for x in cls.grid(slate_size))}."
        )
    return resolved


def describe_policies() -> list[tuple[str, str, list]]:
    """Rows for ``ranksim policies``: (name, one-line description, ``Params.describe()`` rows), by name."""
    return [(name, cls.summary(), cls.Params.describe()) for name, cls in sorted(REGISTRY.items())]


__all__ = [
    "REGISTRY", "SIGNAL_NAMES", "MAIN_SIGNALS", "POOL_SIGNALS", "SCOPES", "BOOST_SCOPES", "EXPLORE_SCOPES",
    "MIN_REGISTERED_GRID", "MIN_SWEPT_GRID", "DEFAULT_SCORE_WEIGHTS", "PolicyContext", "PolicyAction", "Policy",
    "NonFiniteBoost", "register", "make_policy", "check_sweep", "describe_policies", "scope_mask", "quota_slots",
    "thompson_lift", "thompson_log_draws", "score_log_sd",
] + [cls.__name__ for cls in REGISTRY.values()] + [
    "NoParams", "FixedTiltParams", "UGCTiltParams", "DecayingTiltParams", "SlotQuotaParams", "TrafficPoolsParams",
    "UCBParams", "ThompsonParams", "FairCoParams",
]
