"""The machinery of the boosting policies: context, action, base class, registry, scopes, construction.

The policies themselves live in :mod:`ranker.policy_tilts`,
:mod:`ranker.policy_explore` and :mod:`ranker.policy_fairco`;
:mod:`ranker.policies` is the public face that gathers them (import from there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ranker.params import Section, param

if TYPE_CHECKING:  # pragma: no cover
    from ranker.signals import Signals

SIGNAL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach")
#: The signals the platform says it weighs most: uncertainty bonuses act on these.
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


def _posterior(signals, cols):
    """Posterior mean and sd of the Beta rates in ``cols``: two float64 (n, len(cols)) arrays."""
    a = np.asarray(signals.alpha, dtype=np.float64)[:, cols]
    b = np.asarray(signals.beta, dtype=np.float64)[:, cols]
    n = a + b
    mean = a / n
    sd = np.sqrt(mean * (1.0 - mean) / (n + 1.0))
    return mean, sd


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


