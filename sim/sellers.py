"""Sellers: creators with a product, the orders their content brings, and the daily seller assessment.

A share of creators sell (``[sellers] share``). Each seller has one product
line, with a price (log-normal around ``price_median``) and a quality (partly
the creator's latent quality, partly its own). A viewer who stays past the
first 3 seconds of a seller's video, or enters a seller's live room, may buy
(:func:`commerce_tick`); each order may be returned (refunded), draw a
complaint and gets a rating from 1 to 5. Settlement GMV is the order value of
the orders not returned, so it is below order GMV.

Each day the platform assesses every seller (:func:`assess`) on the last
``window_days`` days::

    seller_score = 0.4 * gmv_score + 0.3 * selling_score + 0.3 * effective_followers_score

(the weights are ``gmv_weight``, ``selling_weight``, ``followers_weight``,
summing to 1), each component on a 0-100 scale; the definitions are in
:func:`assess` and ``docs/live_and_sellers.md``. With ``assessment_boost > 0``
the score of yesterday's assessment shifts the ranker's score of a seller's
posts and live rooms by ``assessment_boost * (seller_score - 50) / 50``.

Off by default (``enabled = false``): the feed loop then never calls anything
here and a run is, byte for byte, the run without this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ranker._numba import JIT, PJIT, njit, prange
from ranker.params import Section, param
from ranker.rng import STREAM_COMMERCE, STREAM_SELLER, key, normal, uniform
from sim import _engine_kernels as K

#: Assumed prior of the selling score's rates, worth ``prior_orders`` orders (a seller with no
#: orders yet scores from these): mean rating, return rate, complaint rate.
PRIOR_RATING = 4.0
PRIOR_RETURN_RATE = 0.15
PRIOR_COMPLAINT_RATE = 0.02
#: The GMV and effective-follower scores are log-scaled against this percentile of the sellers
#: with a positive amount (relative to peers, so the score means the same at any world size).
REFERENCE_PERCENTILE = 90.0

# Columns of commerce_tick's per-row output.
O_VALUE, O_RETURNED, O_COMPLAINT, O_RATING = 0, 1, 2, 3
N_O = 4
#: Slots of a request in the purchase keys (slate_size <= 100 < this): slot = (tick * 64 + request) * 128 + position.
SLATE_STRIDE = 128
# Draw indices of a purchase key (seed, STREAM_COMMERCE, user, day, slot).
D_BUY, D_RETURN, D_COMPLAINT, D_RATING = 0, 1, 2, 2  # the rating is normal(k, 2): uniforms 4 and 5


@dataclass(frozen=True)
class SellerConfig(Section):
    """Sellers and the seller assessment (the ``[sellers]`` section; off by default)."""

    enabled: bool = param(False, "bool", doc="a share of creators sell; orders, returns and the daily assessment")
    share: float = param(0.15, "float", 0.0, 1.0, doc="share of creators who sell")
    price_median: float = param(60.0, "float", 0.0, 1e6, lo_open=True, doc="median product price, yuan")
    price_spread: float = param(0.8, "float", 0.0, 5.0, doc="standard deviation of log price across sellers")
    product_quality_creator: float = param(0.5, "float", 0.0, 1.0,
                                           doc="correlation of a product's quality with its creator's latent quality")
    buy_b: float = param(-6.0, "float", -30.0, 10.0, doc="purchase logit: intercept (per 3-second play of a video)")
    buy_q: float = param(0.8, "float", -10.0, 10.0, doc="purchase logit: per unit of product quality")
    buy_complete: float = param(1.5, "float", -10.0, 10.0, doc="purchase logit: added when the video is completed")
    buy_live: float = param(1.0, "float", -10.0, 10.0,
                            doc="purchase logit in a live room: per log(1 + minutes stayed), added to buy_b + 2")
    return_b: float = param(-2.0, "float", -30.0, 30.0, doc="return (refund) logit: intercept")
    return_q: float = param(0.8, "float", 0.0, 10.0, doc="return logit falls by this per unit of product quality")
    complaint_b: float = param(-4.0, "float", -30.0, 30.0, doc="complaint logit: intercept")
    complaint_q: float = param(0.8, "float", 0.0, 10.0, doc="complaint logit falls by this per unit of product quality")
    rating_q: float = param(0.6, "float", 0.0, 5.0, doc="rating (1-5): 4 + rating_q * quality + noise, rounded")
    rating_noise: float = param(0.8, "float", 0.0, 5.0, doc="standard deviation of the rating's noise")
    window_days: int = param(7, "int", 1, 365, doc="the assessment reads the orders and buyers of the last this-many days")
    gmv_weight: float = param(0.4, "float", 0.0, 1.0, doc="weight of the settlement-GMV score in the seller score")
    selling_weight: float = param(0.3, "float", 0.0, 1.0, doc="weight of the selling score")
    followers_weight: float = param(0.3, "float", 0.0, 1.0, doc="weight of the effective-followers score")
    prior_orders: float = param(5.0, "float", 0.0, 1e6, doc="pseudo-orders of the selling score's prior rates")
    assessment_boost: float = param(0.0, "float", 0.0, 10.0,
                                    doc="score shift of a seller's posts and live rooms per (seller_score - 50) / 50 "
                                        "(0: the assessment does not feed traffic)")

    def check(self):
        total = self.gmv_weight + self.selling_weight + self.followers_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError("The 'gmv_weight', 'selling_weight' and 'followers_weight' parameters of SellerConfig "
                             f"must sum to 1. Got {self.gmv_weight!r} + {self.selling_weight!r} + "
                             f"{self.followers_weight!r} = {total!r} instead.")

    def commerce_params(self) -> np.ndarray:
        """The vector :func:`commerce_tick` reads (see :data:`CP_NAMES`)."""
        return np.array([float(getattr(self, n)) for n in CP_NAMES], np.float64)


CP_NAMES = ("buy_b", "buy_q", "buy_complete", "buy_live", "return_b", "return_q", "complaint_b", "complaint_q",
            "rating_q", "rating_noise")
CP_BUY_B, CP_BUY_Q, CP_BUY_COMPLETE, CP_BUY_LIVE, CP_RETURN_B, CP_RETURN_Q = 0, 1, 2, 3, 4, 5
CP_COMPLAINT_B, CP_COMPLAINT_Q, CP_RATING_Q, CP_RATING_NOISE = 6, 7, 8, 9


@njit(**JIT)
def draw_sellers(seed, creator_quality, share, price_median, price_spread, quality_corr, is_seller, price,
                 product_quality):
    """Which creators sell, and their product's price and quality (key (seed, STREAM_SELLER, c, 0, 0)).

    ``is_seller[c] = u0 < share``; ``price[c] = price_median * exp(price_spread * z1)``;
    ``product_quality[c] = a * quality[c] + sqrt(1 - a^2) * z2`` with ``a = quality_corr`` and
    z1, z2 standard normals (``normal(k, 1)``, ``normal(k, 2)``). Non-sellers get price 0, quality 0.
    """
    b = math.sqrt(max(0.0, 1.0 - quality_corr * quality_corr))
    for c in range(creator_quality.shape[0]):
        k0 = key(seed, STREAM_SELLER, c, 0, 0)
        is_seller[c] = uniform(k0, 0) < share
        if is_seller[c]:
            price[c] = price_median * math.exp(price_spread * normal(k0, 1))
            product_quality[c] = quality_corr * np.float64(creator_quality[c]) + b * normal(k0, 2)
        else:
            price[c] = 0.0
            product_quality[c] = 0.0


@njit(**JIT)
def _logit_draw(u, x):
    """``u < sigmoid(x)``."""
    return u * (1.0 + math.exp(-x)) < 1.0


@njit(**PJIT)
def commerce_tick(seed, day, tick, out_i, out_u, out_f, video_creator, session_creator, is_seller, price,
                  product_quality, cp, out):
    """Purchases of a tick's impressions, one output row per feed row (parallel over rows, independent).

    A video row (``out_i[row, I_VIDEO] >= 0``) of a seller's post may buy after a 3-second play:
    logit ``buy_b + buy_q * quality + buy_complete * completed``. A live row
    (``out_i[row, I_LIVE] >= 0``, a session of ``session_creator``) of a seller's room may buy after
    entering (``U_PLAY``): logit ``buy_b + 2 + buy_q * quality + buy_live * log(1 + minutes)``, minutes
    stayed ``F_WATCH / 60``. An order, of value ``price[c]``, is then returned with probability
    ``sigmoid(return_b - return_q * quality)``, draws a complaint with
    ``sigmoid(complaint_b - complaint_q * quality)`` and a rating
    ``clip(round(4 + rating_q * quality + rating_noise * z), 1, 5)`` (z standard normal).
    Draws: key (seed, STREAM_COMMERCE, user, day, slot), slot ``(tick * MAX_REQUESTS_PER_TICK + request)
    * slate + position`` (the behaviour's slot numbering), so policies share them.
    ``out`` (n_rows, N_O): value (0: no order), returned, complaint, rating (0: no order).
    """
    n_rows = out_i.shape[0]
    n_cols = out_i.shape[1]
    for row in prange(n_rows):
        out[row, O_VALUE] = 0.0
        out[row, O_RETURNED] = 0.0
        out[row, O_COMPLAINT] = 0.0
        out[row, O_RATING] = 0.0
        v = out_i[row, K.I_VIDEO]
        s = out_i[row, K.I_LIVE] if n_cols > K.I_LIVE else -1
        if v >= 0:
            c = video_creator[v]
        elif s >= 0:
            c = session_creator[s]
        else:
            continue
        if not is_seller[c] or out_u[row, K.U_PLAY] == 0:
            continue
        q = product_quality[c]
        if v >= 0:
            x = cp[CP_BUY_B] + cp[CP_BUY_Q] * q + cp[CP_BUY_COMPLETE] * out_u[row, K.U_COMPLETE]
        else:
            x = cp[CP_BUY_B] + 2.0 + cp[CP_BUY_Q] * q + cp[CP_BUY_LIVE] * math.log1p(out_f[row, K.F_WATCH] / 60.0)
        slot = (tick * K.MAX_REQUESTS_PER_TICK + out_i[row, K.I_REQ]) * SLATE_STRIDE + out_u[row, K.U_POS]
        k0 = key(seed, STREAM_COMMERCE, out_i[row, K.I_USER], day, slot)
        if not _logit_draw(uniform(k0, D_BUY), x):
            continue
        out[row, O_VALUE] = price[c]
        out[row, O_RETURNED] = _logit_draw(uniform(k0, D_RETURN), cp[CP_RETURN_B] - cp[CP_RETURN_Q] * q)
        out[row, O_COMPLAINT] = _logit_draw(uniform(k0, D_COMPLAINT), cp[CP_COMPLAINT_B] - cp[CP_COMPLAINT_Q] * q)
        r = math.floor(4.0 + cp[CP_RATING_Q] * q + cp[CP_RATING_NOISE] * normal(k0, D_RATING) + 0.5)
        out[row, O_RATING] = min(5.0, max(1.0, r))


@njit(**JIT)
def buyer_followers(f_ptr, f_n, f_cre, f_rr, users, creators, n_creators):
    """Per creator: the distinct (user, creator) pairs given (deduplicated by the caller) where the
    user follows the creator and is not a regular reader (those are counted among regular readers)."""
    out = np.zeros(n_creators, np.int64)
    for i in range(users.shape[0]):
        c = creators[i]
        j = K.follow_find(f_ptr, f_n, f_cre, users[i], c)
        if j >= 0 and not f_rr[j]:
            out[c] += 1
    return out


# --- the assessment (plain NumPy, once a day) ----------------------------------------------

def log_score(x: np.ndarray) -> np.ndarray:
    """``100 * min(1, log(1 + x) / log(1 + ref))``, ``ref`` the REFERENCE_PERCENTILE of the positive x
    (all 0 when none is positive)."""
    x = np.asarray(x, np.float64)
    pos = x[x > 0]
    if pos.size == 0:
        return np.zeros_like(x)
    ref = float(np.percentile(pos, REFERENCE_PERCENTILE))
    return 100.0 * np.minimum(1.0, np.log1p(x) / np.log1p(ref))


def selling_score(n_orders, rating_sum, returns, complaints, prior_orders):
    """``100 * (0.5 * (rating - 1) / 4 + 0.25 * (1 - return rate) + 0.25 * (1 - complaint rate))``, each of
    the three smoothed toward its prior (PRIOR_*) with ``prior_orders`` pseudo-orders."""
    n = np.asarray(n_orders, np.float64) + prior_orders
    with np.errstate(invalid="ignore", divide="ignore"):
        rating = (np.asarray(rating_sum, np.float64) + prior_orders * PRIOR_RATING) / n
        ret = (np.asarray(returns, np.float64) + prior_orders * PRIOR_RETURN_RATE) / n
        comp = (np.asarray(complaints, np.float64) + prior_orders * PRIOR_COMPLAINT_RATE) / n
    # no orders and no prior: the prior's values
    rating = np.where(n > 0, rating, PRIOR_RATING)
    ret = np.where(n > 0, ret, PRIOR_RETURN_RATE)
    comp = np.where(n > 0, comp, PRIOR_COMPLAINT_RATE)
    return 100.0 * (0.5 * (rating - 1.0) / 4.0 + 0.25 * (1.0 - ret) + 0.25 * (1.0 - comp))


@dataclass
class Assessment:
    """One day's assessment: per seller (ascending creator id) its components and score."""

    creator_id: np.ndarray
    settlement_gmv: np.ndarray
    order_gmv: np.ndarray
    effective_followers: np.ndarray
    gmv_score: np.ndarray
    selling_score: np.ndarray
    effective_followers_score: np.ndarray
    seller_score: np.ndarray

    def frame(self):
        import pandas as pd

        return pd.DataFrame({"creator_id": self.creator_id, "settlement_gmv": self.settlement_gmv,
                             "gmv_score": self.gmv_score, "selling_score": self.selling_score,
                             "effective_followers_score": self.effective_followers_score,
                             "seller_score": self.seller_score})


def combine(cfg: SellerConfig, gmv_score, sell_score, eff_score):
    """``gmv_weight * gmv_score + selling_weight * selling_score + followers_weight * effective_followers_score``."""
    return cfg.gmv_weight * gmv_score + cfg.selling_weight * sell_score + cfg.followers_weight * eff_score


class Orders:
    """Every order of the run, structure of arrays, appended per tick (orders are few)."""

    COLS = ("day", "user", "seller", "value", "returned", "complaint", "rating", "new_seller", "live")

    def __init__(self):
        self._parts = {c: [] for c in self.COLS}
        self._cache = None

    def add(self, **cols):
        for c in self.COLS:
            self._parts[c].append(np.asarray(cols[c]))
        self._cache = None

    def arrays(self) -> dict:
        if self._cache is None:
            dt = {"day": np.int64, "user": np.int64, "seller": np.int64, "value": np.float64, "returned": bool,
                  "complaint": bool, "rating": np.float64, "new_seller": bool, "live": bool}
            self._cache = {c: (np.concatenate(p).astype(dt[c]) if p else np.zeros(0, dt[c]))
                           for c, p in self._parts.items()}
        return self._cache


def assess(cfg: SellerConfig, day: int, orders: dict, sellers: np.ndarray, regular_readers: np.ndarray,
           buyer_follow_counts) -> Assessment:
    """The assessment at the end of ``day`` over days ``day - window_days + 1 .. day``.

    - settlement GMV: the value of the window's orders not returned; gmv_score = :func:`log_score` of it;
    - selling_score: :func:`selling_score` of the window's orders (ratings, return and complaint rates);
    - effective followers: followers who are regular readers, plus followers (not regular readers)
      who bought from the seller in the window (``buyer_follow_counts(users, sellers)`` counts the
      latter from distinct buyer pairs); effective_followers_score = :func:`log_score` of it;
    - seller_score = :func:`combine` of the three.

    ``sellers``: the assessed creators' ids, ascending; ``regular_readers``: per creator.
    """
    C = regular_readers.shape[0]
    w = (orders["day"] > day - cfg.window_days) & (orders["day"] <= day)
    s, val, ret = orders["seller"][w], orders["value"][w], orders["returned"][w]
    n_orders = np.bincount(s, minlength=C).astype(np.float64)
    order_gmv = np.bincount(s, weights=val, minlength=C)
    settled = np.bincount(s, weights=val * ~ret, minlength=C)
    returns = np.bincount(s, weights=ret.astype(np.float64), minlength=C)
    complaints = np.bincount(s, weights=orders["complaint"][w].astype(np.float64), minlength=C)
    rating_sum = np.bincount(s, weights=orders["rating"][w], minlength=C)
    pairs = np.unique(orders["user"][w] * C + s)
    eff = regular_readers.astype(np.int64) + buyer_follow_counts(pairs // C, pairs % C)
    g, e = settled[sellers], eff[sellers].astype(np.float64)
    gs = log_score(g)
    ss = selling_score(n_orders[sellers], rating_sum[sellers], returns[sellers], complaints[sellers],
                       cfg.prior_orders)
    es = log_score(e)
    return Assessment(creator_id=sellers.astype(np.int64), settlement_gmv=g, order_gmv=order_gmv[sellers],
                      effective_followers=e, gmv_score=gs, selling_score=ss, effective_followers_score=es,
                      seller_score=combine(cfg, gs, ss, es))


class SellerState:
    """The feed loop's side of selling (``sim.engine`` calls it only when ``[sellers] enabled``).

    Per tick :meth:`tick` draws the tick's purchases (:func:`commerce_tick`) and keeps the orders;
    per day :meth:`end_day` runs the assessment; :meth:`score_shift` is the assessment's feedback
    into the ranker's score (``assessment_boost``); :meth:`metrics` the run's commerce metrics.
    """

    def __init__(self, cfg: SellerConfig, world, seed: int, warm: int, new_creator_days: int):
        self.cfg, self.w, self.seed, self.warm, self.new_days = cfg, world, int(seed), int(warm), new_creator_days
        C = world.n_creators
        self.is_seller = np.zeros(C, np.bool_)
        self.price = np.zeros(C, np.float64)
        self.product_quality = np.zeros(C, np.float64)
        draw_sellers(np.int64(seed), world.creator_quality, float(cfg.share), float(cfg.price_median),
                     float(cfg.price_spread), float(cfg.product_quality_creator), self.is_seller, self.price,
                     self.product_quality)
        self.cp = cfg.commerce_params()
        self.orders = Orders()
        self.shift = np.zeros(C, np.float64)  # the assessment's score shift per creator (0: none yet)
        self.assessment = None
        self._buf = np.zeros((0, N_O), np.float64)
        self.no_sessions = np.zeros(0, np.int32)

    def tick(self, day, tick, t_days, out_i, out_u, out_f, session_creator=None):
        n = out_i.shape[0]
        if self._buf.shape[0] < n:
            self._buf = np.zeros((max(n, int(self._buf.shape[0] * 1.25)), N_O), np.float64)
        out = self._buf[:n]
        sc = self.no_sessions if session_creator is None else session_creator
        commerce_tick(np.int64(self.seed), np.int64(day), np.int64(tick), out_i, out_u, out_f, self.w.video_creator,
                      sc, self.is_seller, self.price, self.product_quality, self.cp, out)
        rows = np.flatnonzero(out[:, O_VALUE] > 0)
        if rows.size == 0:
            return
        v = out_i[rows, K.I_VIDEO]
        live = v < 0
        c = np.where(live, sc[np.maximum(out_i[rows, K.I_LIVE], 0)] if live.any() else 0,
                     self.w.video_creator[np.maximum(v, 0)])
        from sim.metrics import creator_age_days

        new = creator_age_days(self.w.creator_join_day[c], t_days) < self.new_days
        o = out[rows]
        self.orders.add(day=np.full(rows.size, day), user=out_i[rows, K.I_USER], seller=c, value=o[:, O_VALUE],
                        returned=o[:, O_RETURNED] > 0, complaint=o[:, O_COMPLAINT] > 0, rating=o[:, O_RATING],
                        new_seller=new, live=live)

    def last_rows(self, rows):
        """The last tick's purchase outputs (:func:`commerce_tick`'s columns) of feed rows ``rows``."""
        return self._buf[rows]

    def end_day(self, day, follows, regular_readers):
        """The assessment of ``day`` (``follows``: the engine's follow state; ``regular_readers`` per creator)."""
        C = self.w.n_creators
        sellers = np.flatnonzero(self.is_seller & (self.w.creator_join_day <= day))

        def counts(users, creators):
            return buyer_followers(follows.ptr, follows.n, follows.cre, follows.rr, users.astype(np.int64),
                                   creators.astype(np.int64), C)

        self.assessment = assess(self.cfg, day, self.orders.arrays(), sellers, regular_readers, counts)
        if self.cfg.assessment_boost > 0:
            self.shift[:] = 0.0
            self.shift[sellers] = self.cfg.assessment_boost * (self.assessment.seller_score - 50.0) / 50.0

    def score_shift(self, creators):
        """The assessment's shift of the ranker's score for posts (or rooms) of ``creators``; None when off."""
        if self.cfg.assessment_boost <= 0:
            return None
        return self.shift[creators]

    def frame(self):
        """``sellers.csv``: the last day's assessment, one row per seller."""
        return self.assessment.frame()

    def metrics(self, days: int) -> dict:
        """Commerce over the measured days (simulated days ``warm ..``)."""
        from sim.metrics import _m

        o = self.orders.arrays()
        meas = o["day"] >= self.warm
        val, ret, new, live = o["value"][meas], o["returned"][meas], o["new_seller"][meas], o["live"][meas]
        settled = val * ~ret
        d = o["day"][meas] - self.warm
        gmv_order, gmv_settled = float(val.sum()), float(settled.sum())
        a = self.assessment
        joined = self.w.creator_join_day[a.creator_id] if a is not None else np.zeros(0)
        is_new_seller = joined > 0
        out = {
            "sellers": _m(int(self.is_seller.sum()), "creators", "creators who sell (drawn from [sellers] share)"),
            "orders": _m(int(val.size), "orders", "orders over the measured days"),
            "gmv_order": _m(gmv_order, "yuan", "order GMV: the value of every order over the measured days"),
            "gmv_settlement": _m(gmv_settled, "yuan", "settlement GMV: order GMV less returned (refunded) orders"),
            "gmv_settlement_by_day": _m(np.bincount(d, weights=settled, minlength=days).astype(np.float64),
                                        "yuan, per day", "settlement GMV of each measured day"),
            "return_rate": _m(float(ret.mean()) if ret.size else float("nan"), "share of orders",
                              "share of the measured days' orders returned and refunded"),
            "new_seller_gmv_share": _m(float(settled[new].sum()) / gmv_settled if gmv_settled else float("nan"),
                                       "share of GMV",
                                       "new sellers' share of settlement GMV (seller younger than "
                                       "feed.new_creator_days at the order)"),
            "new_seller_gmv": _m(float(settled[new].sum()), "yuan",
                                 "new sellers' settlement GMV over the measured days (seller younger than "
                                 "feed.new_creator_days at the order)"),
            "live_gmv_share": _m(float(settled[live].sum()) / gmv_settled if gmv_settled else float("nan"),
                                 "share of GMV", "share of settlement GMV ordered in live rooms"),
            "seller_score_mean": _m(float(a.seller_score.mean()) if a is not None and a.seller_score.size
                                    else float("nan"), "score (0-100)", "mean seller score of the last assessment"),
            "seller_score_mean_joined": _m(float(a.seller_score[is_new_seller].mean())
                                           if a is not None and is_new_seller.any() else float("nan"),
                                           "score (0-100)", "mean seller score of the last assessment, sellers who "
                                           "joined during the run (warm-up included)"),
        }
        return out
