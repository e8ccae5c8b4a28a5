"""Online metrics of a run: computed while it runs, so big runs need no full log.

``OnlineMetrics`` accumulates per tick and per day; ``finalize`` returns the
content of ``metrics.json``: a mapping ``name -> {"value", "unit",
"description"}``. Scalars are what ``ranksim compare`` tabulates; series (per
day, per cohort, Lorenz points) are what its figures draw. Nothing here depends
on wall-clock time, so the same run always writes the same bytes.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ranker._numba import JIT, njit
from sim.demographics import AGE_BANDS, CITY_TIERS, GENDERS

ESTABLISHED_AGE_DAYS = 365.0  # creators present at day 0 count as this old
#: User activity levels (terciles of ``World.user_activity``), light to heavy.
ACTIVITY_LEVELS = ("light", "medium", "heavy")
#: Days at the end of a run the ``*_last_week`` scalars average over.
LAST_WEEK = 7
#: Posts with fewer impressions than this are left out of the matched-engagement parity audit.
PARITY_MIN_IMPRESSIONS = 20


def kaplan_meier(events, censored, ages, level=0.95):
    r"""Kaplan-Meier survival :math:`S(a) = P(T > a)` at integer ``ages``, with pointwise intervals.

    Parameters
    ----------
    events : array_like of int, shape (n_events,)
        Ages (days) at which a creator stopped posting: :math:`T` for those observed to quit.
    censored : array_like of int, shape (n_censored,)
        Ages at which a creator still posting was last seen (right-censored: :math:`T > c`).
    ages : array_like of int, shape (n_ages,)
        Where to evaluate.
    level : float
        Confidence level of the pointwise intervals (Greenwood's variance, ``scipy.stats.ecdf``'s
        ``confidence_interval(method="linear")``, clipped to [0, 1]).

    Returns
    -------
    s, lo, hi : ndarray of float64, shape (n_ages,)
        The estimate and its interval; NaN past the largest observed age (nobody left to see) or
        when there is nobody at all.
    at_risk : ndarray of int64, shape (n_ages,)
        Creators still observed at each age (:math:`T \ge a` or :math:`c \ge a`).

    .. math:: \hat S(a) = \prod_{t \le a} \left(1 - \frac{d_t}{n_t}\right)

    with :math:`d_t` quits at age :math:`t` and :math:`n_t` creators observed at age :math:`t`
    (a creator censored at :math:`t` counts as at risk at :math:`t`).
    """
    ev = np.asarray(events, dtype=np.float64).ravel()
    ce = np.asarray(censored, dtype=np.float64).ravel()
    ages = np.asarray(ages, dtype=np.float64)
    times = np.concatenate([ev, ce])
    at_risk = (times[None, :] >= ages[:, None]).sum(axis=1).astype(np.int64) if times.size else np.zeros(ages.size, np.int64)
    nan = np.full(ages.size, np.nan)
    if times.size == 0:
        return nan, nan.copy(), nan.copy(), at_risk
    seen = ages <= times.max()
    if ev.size == 0:  # nobody quit: survival is 1 wherever someone was seen
        one = np.where(seen, 1.0, np.nan)
        return one, one.copy(), one.copy(), at_risk
    res = stats.ecdf(stats.CensoredData(uncensored=ev, right=ce))
    sf = res.sf
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # undefined where the estimate is 0 or 1 (no variance): filled in below
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = sf.confidence_interval(confidence_level=level)
        s, lo, hi = sf.evaluate(ages), ci.low.evaluate(ages), ci.high.evaluate(ages)
    # before the first quit the estimate is 1 with no variance (scipy leaves the interval undefined there)
    lo = np.where(np.isnan(lo) & (s == 1.0), 1.0, lo)
    hi = np.where(np.isnan(hi) & (s == 1.0), 1.0, hi)
    lo = np.where(np.isnan(lo) & (s == 0.0), 0.0, lo)
    hi = np.where(np.isnan(hi) & (s == 0.0), 0.0, hi)
    seen |= s == 0.0  # once every creator has quit the estimate stays 0
    return np.where(seen, s, np.nan), np.where(seen, lo, np.nan), np.where(seen, hi, np.nan), at_risk


def user_groups(world) -> dict:
    """The user groups the report splits costs and benefits by: ``{grouping: (names, index per user)}``.

    Age band, gender and city tier as drawn by the world, and activity level:
    the terciles of a user's mean requests per active day (light, medium, heavy).
    """
    act = np.asarray(world.user_activity, dtype=np.float64)
    if act.size:
        cuts = np.quantile(act, [1 / 3, 2 / 3])
        level = np.searchsorted(cuts, act, side="right").astype(np.int8)
    else:
        level = np.zeros(0, np.int8)
    return {"age": (AGE_BANDS, np.asarray(world.user_age_band)),
            "gender": (GENDERS, np.asarray(world.user_gender)),
            "city": (CITY_TIERS, np.asarray(world.user_city_tier)),
            "activity": (ACTIVITY_LEVELS, level)}


def group_metric(kind: str, grouping: str, name: str) -> str:
    """Name of a by-group scalar: ``group.<kind>.<grouping>=<name>``."""
    return f"group.{kind}.{grouping}={name}"


def creator_age_days(join_day, t_days):
    """Age in days of creators at time ``t_days`` (day + tick fraction).

    Established creators (``join_day == 0``) count as ``ESTABLISHED_AGE_DAYS`` old
    at day 0, so they are never "new".
    """
    join = np.asarray(join_day, dtype=np.float64)
    return np.where(join > 0, t_days - join, t_days + ESTABLISHED_AGE_DAYS)


def gini(x):
    """Gini coefficient of non-negative values (0: equal, 1: one takes all)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum / cum[-1]).sum()) / n)


def lorenz(x, n_points=101):
    """Lorenz curve at ``n_points`` population shares: (population share, exposure share)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    p = np.linspace(0.0, 1.0, n_points)
    if x.size == 0 or x.sum() <= 0:
        return p, p.copy()
    cum = np.concatenate([[0.0], np.cumsum(x)]) / x.sum()
    pos = p * x.size
    return p, np.interp(pos, np.arange(x.size + 1), cum)


def _clean(x):
    """Nested lists with NaN/inf as None (JSON has no NaN)."""
    if isinstance(x, list):
        return [_clean(y) for y in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _m(value, unit, description):
    if isinstance(value, np.ndarray):
        value = _clean(value.tolist())
    elif isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        value = None
    return {"value": value, "unit": unit, "description": description}


@njit(**JIT)
def _tick_kernel(videos, out_u, values, play_col, comp_col, fol_col, rr_col):
    """One tick's served rows (``videos >= 0``) summed in row order, one sequential pass.

    Returns ``(impressions, 3 s plays, completions, follower impressions,
    regular-reader impressions, latent value summed in float64)``.
    """
    n = plays = comps = fols = rrs = 0
    value = 0.0
    for i in range(videos.shape[0]):
        if videos[i] < 0:
            continue
        n += 1
        plays += out_u[i, play_col] != 0
        comps += out_u[i, comp_col] != 0
        fols += out_u[i, fol_col] != 0
        rrs += out_u[i, rr_col] != 0
        value += np.float64(values[i])
    return n, plays, comps, fols, rrs, value


@njit(**JIT)
def _user_tick_kernel(videos, users, values, video_creator, creator_is_new, imps, new, value, scratch):
    """Add one tick's served rows (``videos >= 0``), summed per user, to the run's per-user totals.

    ``imps``, ``new``, ``value``: float64 (n_users,) totals of impressions, new-creator impressions and
    latent value. Each user's rows are first summed in row order into ``scratch`` (float64 (n_users, 3),
    zeros on entry and again on return), as ``np.bincount`` sums its weights, and that sum is then added
    to the user's totals once: the same bits as adding the tick's bincounts, without three fresh arrays of
    ``n_users`` a tick (their first-touch page faults cost more than the sums). Totals never hold -0.0,
    so leaving a user without rows untouched equals adding 0.0 to them.
    """
    for i in range(videos.shape[0]):
        v = videos[i]
        if v < 0:
            continue
        u = users[i]
        scratch[u, 0] += 1.0
        if creator_is_new[video_creator[v]]:
            scratch[u, 1] += 1.0
        scratch[u, 2] += np.float64(values[i])
    for i in range(videos.shape[0]):
        u = users[i]
        if videos[i] >= 0 and scratch[u, 0] > 0.0:  # the user's first served row: add their sums, once
            imps[u] += scratch[u, 0]
            new[u] += scratch[u, 1]
            value[u] += scratch[u, 2]
            scratch[u, 0] = scratch[u, 1] = scratch[u, 2] = 0.0


#: Users per chunk of :meth:`OnlineMetrics.end_day_users`' drift (16,384 x 20 topics x 8 bytes = 2.5 MiB).
DRIFT_ROWS = 16_384


class OnlineMetrics:
    """Accumulators of one run. See module docstring.

    ``days`` are the measured days; with ``warmup_days`` = W the engine first
    calls :meth:`add_tick` and :meth:`end_day` for simulated days 0 .. W - 1
    (the warm-up), which reach no metric but ``value_per_impression_by_warmup_day``.
    Every ``day`` argument is the simulated day; series are indexed by the
    reported day ``day - W`` (0 = the first measured day).
    """

    def __init__(self, world, feed, days, warmup_days=0):
        self.w = world
        self.feed = feed
        self.days = days
        self.warm = W = int(warmup_days)
        self._drift_buf = None  # end_day_users' scratch (DRIFT_ROWS x topics, float64), allocated on first use
        self._user_scratch = None  # add_tick's per-user sums of a tick (users x 3, float64, zeros between ticks)
        join = np.asarray(world.creator_join_day, dtype=np.int64)
        self.join = join
        #: the cohort of new creators the survival metrics follow: those joining in the measured window
        self.cohort = (join > 0) & (join >= W) & (join < W + days)
        n_cohorts = days  # cohort = measured join day (0 = present when the measured window opens)
        self.cohort_col = np.clip(join - W, 0, None)
        self.imps_by_cohort_day = np.zeros((days, n_cohorts), np.int64)
        z = lambda: np.zeros(days, np.float64)  # noqa: E731
        self.day_imps, self.day_new_imps, self.day_plays, self.day_completions = z(), z(), z(), z()
        self.day_value, self.day_follower_imps, self.day_rr_imps = z(), z(), z()
        self.day_returned, self.day_active = z(), z()
        self.day_new_alive = z()
        self.day_sat, self.day_novelty, self.day_drift = z(), z(), z()
        self.day_users_served = z()
        self.day_alive, self.day_alive_new, self.day_alive_graduated = z(), z(), z()
        self.day_posts, self.day_diversity, self.day_creators_served = z(), z(), z()
        self.warm_value, self.warm_imps = np.zeros(W), np.zeros(W)
        self.start = 0
        U = world.n_users
        self.user_imps = np.zeros(U, np.float64)
        self.user_new_imps = np.zeros(U, np.float64)
        self.user_value = np.zeros(U, np.float64)
        self.creator_imps = np.zeros(world.n_creators, np.int64)
        self.today_creator_imps = np.zeros(world.n_creators, np.int64)
        self.first_target_day = np.full(world.n_creators, -1, np.int32)

    def add_tick(self, day, t_days, videos, out_u, values, play_col, comp_col, fol_col, rr_col, creator_imps,
                 users=None):
        """Accumulate one tick of simulated ``day``: its served rows (``videos >= 0``) and ``creator_imps``,
        the impressions each creator received in it (int64, per creator; the engine's counters already
        hold them, so no row is looked up again here). ``users``: the user of each row, for the
        by-group metrics. A warm-up day adds only to its value per impression."""
        w = self.w
        n, plays, comps, fols, rrs, value = _tick_kernel(videos, out_u, values, play_col, comp_col, fol_col, rr_col)
        if day < self.warm:
            self.warm_imps[day] += n
            self.warm_value[day] += value
            return
        d = day - self.warm
        join = w.creator_join_day
        is_new = (join > 0) & (t_days - join < self.feed.new_creator_days)
        self.day_imps[d] += n
        self.day_new_imps[d] += int(creator_imps[is_new].sum())
        self.day_plays[d] += plays
        self.day_completions[d] += comps
        self.day_value[d] += value
        self.day_follower_imps[d] += fols
        self.day_rr_imps[d] += rrs
        self.imps_by_cohort_day[d] += np.bincount(self.cohort_col, weights=creator_imps,
                                                  minlength=self.days).astype(np.int64)[: self.days]
        self.creator_imps += creator_imps
        self.today_creator_imps += creator_imps
        if users is not None:
            if self._user_scratch is None:
                self._user_scratch = np.zeros((self.user_imps.size, 3), np.float64)
            _user_tick_kernel(videos, np.asarray(users), values, w.video_creator, is_new, self.user_imps,
                              self.user_new_imps, self.user_value, self._user_scratch)

    def end_day_users(self, day, sat, novelty, value, interest, anchor):
        """Record simulated ``day``'s users' state after the day closed (sim.users): the mean satisfaction,
        the day's novelty value ``novelty`` against its total latent value ``value``, and how far interests
        have drifted from the world's (mean total-variation distance per user)."""
        if day < self.warm:
            return
        d = day - self.warm
        self.day_sat[d] = float(np.mean(sat)) if sat.size else float("nan")
        self.day_novelty[d] = novelty
        # |interest - anchor| in float64, DRIFT_ROWS users at a time in a buffer kept across days and in
        # cache: (users x topics) temporaries cost more in first-touch page faults than the arithmetic (0.8 s
        # at 1M users). Each row's sum is NumPy's of that row alone, so the chunks change no bit
        n_users = interest.shape[0]
        buf = self._drift_buf
        if buf is None or buf.shape[1] != interest.shape[1]:
            buf = self._drift_buf = np.empty((min(n_users, DRIFT_ROWS), interest.shape[1]), np.float64)
        diff = np.empty(n_users, np.float64)
        for lo in range(0, n_users, DRIFT_ROWS):
            hi = min(n_users, lo + DRIFT_ROWS)
            b = buf[: hi - lo]
            np.copyto(b, interest[lo:hi])
            np.subtract(b, anchor[lo:hi], out=b)
            np.abs(b, out=b).sum(axis=1, out=diff[lo:hi])
        self.day_drift[d] = 0.5 * float(diff.mean()) if diff.size else 0.0

    def end_day(self, day, returned, active, alive, posts=0):
        """Record simulated ``day``'s returning and served users, the creators still posting (``alive``,
        bool per creator) and the posts published (``posts``). Nothing of a warm-up day is kept."""
        if day < self.warm:
            return
        d = day - self.warm
        join = self.join
        self.day_returned[d] = returned
        self.day_active[d] = active
        reached = (self.first_target_day < 0) & (self.creator_imps >= self.feed.first_impressions_target)
        self.first_target_day[reached] = d
        joined_new = (join > 0) & (join <= day)
        self.day_new_alive[d] = np.count_nonzero(alive & joined_new)
        here = alive & (join <= day)
        young = (day - join) < self.feed.new_creator_days
        self.day_alive[d] = np.count_nonzero(here)
        self.day_alive_new[d] = np.count_nonzero(here & joined_new & young)
        self.day_alive_graduated[d] = np.count_nonzero(here & joined_new & ~young)
        self.day_posts[d] = posts
        x = self.today_creator_imps
        tot = x.sum()
        if tot > 0:
            p = x[x > 0] / tot
            self.day_diversity[d] = float(np.exp(-(p * np.log(p)).sum()))
        self.day_creators_served[d] = np.count_nonzero(x)
        x[:] = 0

    def finalize(self, video_counters, quit_day, n_users, early_col, imps_col, play_col=None, posted=None):
        """The metrics mapping written to ``metrics.json``.

        ``quit_day``: the simulated day each creator quit (int32 max: never).
        ``play_col``: the video counter column of 3-second plays, for the
        AI-label parity audit at matched engagement (left out when ``None``).
        ``posted``: bool per video, the potential posts that were realised
        (``None``: all of them); the others count in no post metric.
        """
        w, feed, days, W = self.w, self.feed, self.days, self.warm
        self.posted = np.ones(np.shape(w.video_post_day), np.bool_) if posted is None else np.asarray(posted, np.bool_)
        out = {}
        imps = self.day_imps.sum()
        safe = lambda a, b: float(a / b) if b > 0 else float("nan")  # noqa: E731
        join = self.join
        new_c = self.cohort
        out["impressions"] = _m(int(imps), "impressions", "impressions served over the measured days")
        out["new_creator_exposure_share"] = _m(safe(self.day_new_imps.sum(), imps), "share of impressions",
                                               f"share of impressions going to creators younger than {feed.new_creator_days} days")
        share_by_day = np.divide(self.day_new_imps, self.day_imps, out=np.zeros(days), where=self.day_imps > 0)
        out["new_creator_exposure_share_by_day"] = _m(share_by_day, "share of impressions, per day", "new-creator exposure share each day")
        out["impressions_by_cohort_day"] = _m(self.imps_by_cohort_day, "impressions [day][join day]",
                                              "impressions each day by creator cohort (join day; 0 = present on the first measured day)")
        ce = self.creator_imps
        out["exposure_gini"] = _m(gini(ce), "Gini coefficient in [0, 1]", "inequality of impressions across creators who joined during the run or before")
        p, L = lorenz(ce)
        out["exposure_lorenz"] = _m(np.stack([p, L], axis=1), "[population share, exposure share]", "Lorenz curve of creator exposure")
        # breakouts: early impressions of posts published in the measured days whose early window was fully observed
        post_day = w.video_post_day.astype(np.int64) - W
        observed = (post_day >= 0) & (post_day <= days - feed.breakout_days) & self.posted
        early = video_counters[:, early_col]
        if observed.any():
            thr = np.percentile(early[observed], feed.breakout_percentile)
            broke = observed & (early >= max(thr, 1.0))
        else:
            thr, broke = float("nan"), observed
        vj = join[w.video_creator]
        vnew = (vj > 0) & (w.video_post_day - vj < feed.new_creator_days)
        out["breakout_threshold"] = _m(float(thr), "impressions", f"impressions within {feed.breakout_days} days that make a breakout (percentile {feed.breakout_percentile})")
        out["breakout_rate_new"] = _m(safe(np.count_nonzero(broke & vnew), np.count_nonzero(observed & vnew)), "share of posts",
                                      "share of new creators' posts that broke out")
        out["breakout_rate_established"] = _m(safe(np.count_nonzero(broke & ~vnew), np.count_nonzero(observed & ~vnew)), "share of posts",
                                              "share of other posts that broke out")
        out["breakouts_new"] = _m(int(np.count_nonzero(broke & vnew)), "posts", "new creators' posts that broke out")
        out["posts_observed_new"] = _m(int(np.count_nonzero(observed & vnew)), "posts",
                                       "new creators' posts whose breakout window was observed")
        out["breakouts_established"] = _m(int(np.count_nonzero(broke & ~vnew)), "posts", "other posts that broke out")
        out["posts_observed_established"] = _m(int(np.count_nonzero(observed & ~vnew)), "posts",
                                               "other posts whose breakout window was observed")
        out["new_creator_breakout_share"] = _m(safe(np.count_nonzero(broke & vnew), np.count_nonzero(broke)), "share of breakouts",
                                               "share of breakouts that were new creators' posts")
        out.update(self._survival(quit_day))
        # days until first N impressions
        jm = join - W
        reached = new_c & (self.first_target_day >= 0)
        dd = (self.first_target_day - jm)[reached]
        out["new_creator_reached_target"] = _m(safe(np.count_nonzero(reached), np.count_nonzero(new_c)), "share of creators",
                                               f"share of new creators reaching {feed.first_impressions_target} impressions")
        out["days_to_target_median"] = _m(float(np.median(dd)) if dd.size else float("nan"), "days",
                                          f"median days from joining to {feed.first_impressions_target} impressions (creators who got there)")
        # quality against exposure for new creators: are good newcomers found?
        q = w.creator_quality
        ne = self.creator_imps[new_c]
        qn = q[new_c]
        if ne.size > 2 and np.ptp(ne) > 0:
            rho = stats.spearmanr(qn, ne).statistic
        else:
            rho = float("nan")
        out["new_creator_quality_exposure_corr"] = _m(float(rho), "Spearman rho", "rank correlation of latent quality and impressions among new creators")
        if qn.size:
            edges = np.quantile(qn, np.linspace(0, 1, 11))
            b = np.clip(np.searchsorted(edges, qn, side="right") - 1, 0, 9)
            cnt = np.bincount(b, minlength=10)
            out["new_creator_exposure_by_quality_decile"] = _m(
                np.stack([np.bincount(b, weights=qn, minlength=10) / np.maximum(cnt, 1),
                          np.bincount(b, weights=ne, minlength=10) / np.maximum(cnt, 1)], axis=1),
                "[mean latent quality, mean impressions per creator]", "new creators' exposure by latent-quality decile")
        # users
        out["value_per_impression"] = _m(safe(self.day_value.sum(), imps), "latent value per impression", "mean latent user value per impression (ground truth)")
        out["total_value"] = _m(float(self.day_value.sum()), "latent value", "latent user value summed over the measured days")
        out["value_per_impression_by_day"] = _m(np.divide(self.day_value, self.day_imps, out=np.zeros(days), where=self.day_imps > 0),
                                                "latent value per impression, per day", "user value per impression each day")
        out["completion_rate_by_day"] = _m(np.divide(self.day_completions, self.day_imps, out=np.zeros(days),
                                                     where=self.day_imps > 0),
                                           "share of impressions, per day", "completion rate each day")
        out["play3_rate"] = _m(safe(self.day_plays.sum(), imps), "share of impressions", "3-second play rate")
        out["completion_rate"] = _m(safe(self.day_completions.sum(), imps), "share of impressions", "completion rate")
        ret = self.day_returned / max(n_users, 1)
        first = 0 if W > 0 else 1  # a cold run's first day has no earlier satisfaction to return on
        out["retention_by_day"] = _m(ret, "share of users", "share of users who opened the app each day")
        out["retention"] = _m(float(ret[first:].mean()) if days > first else float(ret[0]), "share of users",
                              "mean daily share of users opening the app" + (" (days after the first)" if first else ""))
        out["retention_last_day"] = _m(float(ret[-1]), "share of users", "share of users opening the app on the last day")
        out.update(self._users())
        out["rr_share_of_follower_impressions"] = _m(safe(self.day_rr_imps.sum(), self.day_follower_imps.sum()), "share of impressions",
                                                     "share of followers' impressions that reached regular readers")
        out.update(self._measured(n_users))
        out.update(self._parity(video_counters, imps_col, play_col))
        out["new_creators_alive_by_day"] = _m(self.day_new_alive, "creators", "creators who joined after the simulation's first day (warm-up included) and still post, each day")
        out.update(self._long_run(n_users))
        out.update(_world_metrics(w, W + days))
        return out

    def _users(self) -> dict:
        """The users' dynamics (sim.users): satisfaction, novelty, interest drift, session length."""
        days = self.days
        per_active = np.divide(self.day_imps, self.day_active, out=np.zeros(days), where=self.day_active > 0)
        nov = np.divide(self.day_novelty, self.day_value, out=np.zeros(days), where=self.day_value > 0)
        tot_v = self.day_value.sum()
        return {
            "satisfaction_mean_by_day": _m(self.day_sat, "satisfaction", "users' mean satisfaction after each day"),
            "satisfaction_mean": _m(float(self.day_sat[-1]) if days else float("nan"), "satisfaction",
                                    "users' mean satisfaction after the last day"),
            "novelty_share_by_day": _m(nov, "share of latent value", "each day's novelty value (positive value of users' "
                                       "first impression of a topic that day) over its total latent value"),
            "novelty_share": _m(float(self.day_novelty.sum() / tot_v) if tot_v > 0 else float("nan"), "share of latent value",
                                "novelty value over total latent value, all measured days"),
            "interest_drift_by_day": _m(self.day_drift, "total-variation distance",
                                        "mean distance of users' topic interests from their initial ones after each day"),
            "interest_drift": _m(float(self.day_drift[-1]) if days else float("nan"), "total-variation distance",
                                 "mean distance of users' topic interests from their initial ones after the last day"),
            "impressions_per_active_user_by_day": _m(per_active, "impressions", "impressions per user served each day "
                                                     "(session length)"),
            "impressions_per_active_user": _m(float(self.day_imps.sum() / self.day_active.sum())
                                              if self.day_active.sum() > 0 else float("nan"), "impressions",
                                              "impressions per served user-day, all measured days"),
        }

    def _long_run(self, n_users) -> dict:
        """The per-day series of the long-horizon section: supply, diversity, value, users."""
        nd = self.feed.new_creator_days
        warm_v = np.divide(self.warm_value, self.warm_imps, out=np.full(self.warm, np.nan), where=self.warm_imps > 0)
        return {
            "active_creators_by_day": _m(self.day_alive, "creators", "creators still posting each day (established and new)"),
            "active_new_creators_by_day": _m(self.day_alive_new, "creators",
                                             f"creators younger than {nd} days still posting each day"),
            "active_graduated_creators_by_day": _m(self.day_alive_graduated, "creators",
                                                   f"creators who joined after the simulation's first day, are {nd} days "
                                                   "old or older and still post, each day"),
            "catalogue_diversity_by_day": _m(self.day_diversity, "creators (effective number)",
                                             "effective number of creators in each day's impressions: exp of the entropy "
                                             "of the creators' shares of the day's impressions"),
            "creators_served_by_day": _m(self.day_creators_served, "creators", "creators with at least one impression each day"),
            "value_by_day": _m(self.day_value, "latent value", "latent user value summed over each day's impressions"),
            "cumulative_value_by_day": _m(np.cumsum(self.day_value), "latent value",
                                          "latent user value summed from the first measured day to each day"),
            "daily_active_users_by_day": _m(self.day_active, "users", "users served at least one impression each day"),
            "value_per_impression_by_warmup_day": _m(warm_v, "latent value per impression, per warm-up day",
                                                     "user value per impression on each warm-up day (days -W to -1, "
                                                     "under none; no other metric reads the warm-up)"),
            "warmup_days": _m(int(self.warm), "days", "days simulated under none before day 0 and left out of every other metric"),
            **{f"{name}_last_week": _m(float(series[-LAST_WEEK:].mean()) if series.size else float("nan"), unit,
                                       f"{what}, mean over the last {LAST_WEEK} measured days")
               for name, series, unit, what in (
                   ("active_creators", self.day_alive, "creators", "creators still posting"),
                   ("active_new_creators", self.day_alive_new, "creators", f"creators younger than {nd} days still posting"),
                   ("active_graduated_creators", self.day_alive_graduated, "creators",
                    f"creators who joined after the first simulated day and still post at {nd} days or older"),
                   ("posts", self.day_posts, "posts per day", "posts published a day"),
                   ("catalogue_diversity", self.day_diversity, "creators (effective number)",
                    "effective number of creators in a day's impressions"),
                   ("daily_active_users", self.day_active, "users", "users served a day"))},
        }

    def _survival(self, quit_day) -> dict:
        """Kaplan-Meier survival of the new creators who join in the measured window, by latent-quality third.

        A creator's age on day ``d`` is ``d - join``; one that quits at the end of day ``q`` posted
        ``q - join + 1`` days (its event age: it is not posting at that age), and one still posting
        on the last day is censored at its age then (``days - 1 - join``).
        """
        w, feed, days, W = self.w, self.feed, self.days, self.warm
        new_c = self.cohort
        jm = self.join - W
        qm = quit_day.astype(np.int64) - W
        quit = new_c & (qm < days)
        t = np.where(quit, qm + 1 - jm, days - 1 - jm)
        A = feed.new_creator_days
        ages = np.arange(days)
        out = {}
        q = w.creator_quality
        groups = [("all", new_c)]
        if new_c.any():
            lo_t, hi_t = np.quantile(q[new_c], [1 / 3, 2 / 3])
            tier = np.where(q < lo_t, 0, np.where(q < hi_t, 1, 2))
            groups += [(name, new_c & (tier == ti)) for ti, name in enumerate(("low", "mid", "high"))]
        else:
            groups += [(name, new_c) for name in ("low", "mid", "high")]
        curves = {}
        for name, sel in groups:
            curves[name] = kaplan_meier(t[sel & quit], t[sel & ~quit], ages)
        tiers = ("low", "mid", "high")
        what = f"Kaplan-Meier, new creators who joined on days 0-{days - 1}"
        out["new_creator_survival_curve"] = _m(np.stack([curves[n][0] for n in tiers]),
                                               "share still posting [tier low/mid/high][age in days]",
                                               f"{what}: probability of still posting at each age, by latent-quality third")
        out["new_creator_survival_curve_lo"] = _m(np.stack([curves[n][1] for n in tiers]), "share [tier][age]",
                                                  "lower end of the pointwise 95 % interval of new_creator_survival_curve")
        out["new_creator_survival_curve_hi"] = _m(np.stack([curves[n][2] for n in tiers]), "share [tier][age]",
                                                  "upper end of the pointwise 95 % interval of new_creator_survival_curve")
        out["new_creator_survival_curve_all"] = _m(np.stack(curves["all"][:3]), "share [estimate/lo/hi][age]",
                                                   f"{what}, all of them: estimate and pointwise 95 % interval at each age")
        out["new_creator_at_risk_by_age"] = _m(np.stack([curves[n][3] for n in tiers + ("all",)]).astype(np.float64),
                                               "creators [tier low/mid/high/all][age]",
                                               "new creators still observed at each age (quitting at it or later, or seen posting at it)")
        at = min(A, days - 1)
        pick = lambda c: float(c[at]) if A < days else float("nan")  # noqa: E731
        sdesc = f"Kaplan-Meier probability that a new creator still posts {A} days after joining (age {A}, the end of being new)"
        out["new_creator_survival"] = _m(pick(curves["all"][0]), "share of creators", sdesc)
        out["new_creator_survival_lo"] = _m(pick(curves["all"][1]), "share of creators", "lower end of its 95 % interval")
        out["new_creator_survival_hi"] = _m(pick(curves["all"][2]), "share of creators", "upper end of its 95 % interval")
        for name in tiers:
            out[f"new_creator_survival_{name}_quality"] = _m(pick(curves[name][0]), "share of creators",
                                                             f"{sdesc}, {name} latent-quality third")
        out["new_creators"] = _m(int(np.count_nonzero(new_c)), "creators", f"new creators who joined on days 0-{days - 1}")
        out["new_creators_quit"] = _m(int(np.count_nonzero(quit)), "creators", "of them, how many quit by the last day")
        # newcomers who become established: fully observed through age A, still posting then, and
        # reached the first-impressions milestone by then
        full = new_c & (jm + A <= days - 1)
        kept = full & (t > A)
        est = kept & (self.first_target_day >= 0) & (self.first_target_day - jm <= A)
        out["newcomers_observed_to_graduation"] = _m(int(np.count_nonzero(full)), "creators",
                                                     f"new creators who joined at least {A} days before the last day")
        out["newcomers_established"] = _m(int(np.count_nonzero(est)), "creators",
                                          f"of them, still posting at age {A} with {feed.first_impressions_target} "
                                          "impressions reached by then")
        out["newcomers_established_share"] = _m(float(np.count_nonzero(est) / np.count_nonzero(full)) if full.any()
                                                else float("nan"), "share of creators",
                                                "newcomers_established over newcomers_observed_to_graduation")
        return out

    def _measured(self, n_users) -> dict:
        """Scalars of the measured window (every day after the warm-up) and by user group."""
        w, s = self.w, self.start
        out = {}
        imps = self.day_imps[s:].sum()
        safe = lambda a, b: float(a / b) if b > 0 else float("nan")  # noqa: E731
        span = f"days {s}-{self.days - 1} (the measured window: every day after the warm-up)"
        out["measured_window_start"] = _m(int(s), "day", "first day of the measured window (day 0: the first day after the warm-up)")
        out["impressions_measured"] = _m(int(imps), "impressions", f"impressions served on {span}")
        out["new_creator_impressions_measured"] = _m(int(self.day_new_imps[s:].sum()), "impressions",
                                                     f"impressions of new creators' posts on {span}")
        out["new_creator_exposure_share_measured"] = _m(safe(self.day_new_imps[s:].sum(), imps), "share of impressions",
                                                        f"share of impressions going to new creators on {span}")
        out["value_per_impression_measured"] = _m(safe(self.day_value[s:].sum(), imps), "latent value per impression",
                                                  f"mean latent user value per impression on {span}")
        out["completion_rate_measured"] = _m(safe(self.day_completions[s:].sum(), imps), "share of impressions",
                                             f"completion rate on {span}")
        ret = self.day_returned[max(s, 0 if self.warm else 1):] / max(n_users, 1)
        out["retention_measured"] = _m(float(ret.mean()) if ret.size else float("nan"), "share of users",
                                       f"mean daily share of users opening the app on {span}")
        for grouping, (names, idx) in user_groups(w).items():
            for k, name in enumerate(names):
                sel = idx == k
                n_imp = self.user_imps[sel].sum()
                out[group_metric("users", grouping, name)] = _m(int(np.count_nonzero(sel)), "users",
                                                                f"users in the group {grouping} = {name}")
                out[group_metric("impressions", grouping, name)] = _m(int(n_imp), "impressions",
                                                                      f"impressions to {grouping} = {name} on {span}")
                out[group_metric("value_per_impression", grouping, name)] = _m(
                    safe(self.user_value[sel].sum(), n_imp), "latent value per impression",
                    f"mean latent user value per impression for {grouping} = {name} on {span}")
                out[group_metric("new_creator_exposure_share", grouping, name)] = _m(
                    safe(self.user_new_imps[sel].sum(), n_imp), "share of impressions",
                    f"share of {grouping} = {name}'s impressions going to new creators on {span}")
        return out

    def _parity(self, vc, imps_col, play_col) -> dict:
        """AI-label parity audit: exposure of labelled against unlabelled posts, matched on quality and on engagement.

        Matched quality: posts in tenths of latent video quality. Matched
        engagement: posts with at least :data:`PARITY_MIN_IMPRESSIONS`
        impressions, in tenths of their 3-second play rate. In each tenth
        holding both kinds, the mean impressions per labelled post over per
        unlabelled post; the tenths' ratios averaged, weighted by posts.
        """
        w, days = self.w, self.days
        post_day = w.video_post_day.astype(np.int64) - self.warm
        posted = (post_day >= 0) & (post_day < days) & self.posted
        vi = vc[:, imps_col].astype(np.float64)
        ai = np.asarray(w.video_is_ai, bool)
        out = {"ai_posts": _m(int(np.count_nonzero(posted & ai)), "posts", "AI-labelled posts published during the run"),
               "unlabelled_posts": _m(int(np.count_nonzero(posted & ~ai)), "posts",
                                      "unlabelled posts published during the run")}
        ratio = _matched_ratio(vi[posted], w.video_quality[posted], ai[posted])
        out["ai_label_exposure_ratio"] = _m(ratio, "ratio (1 = parity)",
                                            "impressions per AI-labelled post over per unlabelled post, within latent-quality deciles")
        if play_col is not None:
            ok = posted & (vi >= PARITY_MIN_IMPRESSIONS)
            rate = np.divide(vc[:, play_col], vi, out=np.zeros(vi.size), where=vi > 0)
            out["ai_label_exposure_ratio_engagement"] = _m(
                _matched_ratio(vi[ok], rate[ok], ai[ok]), "ratio (1 = parity)",
                f"impressions per AI-labelled post over per unlabelled post, within deciles of the 3-second play rate "
                f"(posts with at least {PARITY_MIN_IMPRESSIONS} impressions)")
            out["ai_posts_engagement_matched"] = _m(int(np.count_nonzero(ok & ai)), "posts",
                                                    "AI-labelled posts in the matched-engagement audit")
        return out


def _matched_ratio(x, key, ai) -> float:
    """Mean of ``x`` over labelled / unlabelled posts within tenths of ``key``, weighted by posts (NaN if none)."""
    if x.size == 0:
        return float("nan")
    edges = np.quantile(key, np.linspace(0, 1, 11))
    b = np.clip(np.searchsorted(edges, key, side="right") - 1, 0, 9)
    num = den = 0.0
    for k in range(10):
        a_sel, n_sel = (b == k) & ai, (b == k) & ~ai
        if a_sel.any() and n_sel.any() and x[n_sel].mean() > 0:
            wgt = np.count_nonzero(b == k)
            num += wgt * x[a_sel].mean() / x[n_sel].mean()
            den += wgt
    return num / den if den > 0 else float("nan")


def _world_metrics(w, simulated_days) -> dict:
    """The world's proportions per user, as drawn (what ``--users`` keeps when it scales a world)."""
    U = max(w.n_users, 1)
    ne = int(np.count_nonzero(np.asarray(w.creator_join_day) == 0))
    arrivals = (w.n_creators - ne) / max(simulated_days - 1, 1)
    posts = np.count_nonzero(w.video_post_day >= 0) / max(simulated_days, 1)
    return {
        "world_users": _m(int(w.n_users), "users", "users in the world"),
        "world_creators_per_1k_users": _m(1000.0 * ne / U, "creators per 1,000 users",
                                          "creators present at the first simulated day, per 1,000 users"),
        "world_new_creators_per_1k_users_per_day": _m(1000.0 * arrivals / U, "creators per 1,000 users per day",
                                                      "new creators joining a day, per 1,000 users"),
        "world_posts_per_user_per_day": _m(posts / U, "posts per user per day",
                                           "posts the world's creators would publish a day if none quit, per user"),
        "world_friends_per_user": _m(float(w.friend_indices.size / U), "friends", "mean friends per user"),
        "world_follows_per_user": _m(float(w.follow_indices.size / U), "creators", "mean creators a user follows at the first simulated day"),
    }
