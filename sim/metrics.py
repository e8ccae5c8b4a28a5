"""Online metrics of a run: computed while it runs, so big runs need no full log.

``OnlineMetrics`` accumulates per tick and per day; ``finalize`` returns the
content of ``metrics.json``: a mapping ``name -> {"value", "unit",
"description"}``. Scalars are what ``ranksim compare`` tabulates; series (per
day, per cohort, Lorenz points) are what its figures draw. Nothing here depends
on wall-clock time, so the same run always writes the same bytes.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ranker._numba import JIT, njit
from sim.demographics import AGE_BANDS, CITY_TIERS, GENDERS

ESTABLISHED_AGE_DAYS = 365.0  # creators present at day 0 count as this old
#: User activity levels (terciles of ``World.user_activity``), light to heavy.
ACTIVITY_LEVELS = ("light", "medium", "heavy")
#: Posts with fewer impressions than this are left out of the matched-engagement parity audit.
PARITY_MIN_IMPRESSIONS = 20


def measured_start(days: int) -> int:
    """First day of the measured window: the run's last third (the whole run below 3 days).

    Until the run has a warm-up setting of its own, verdicts read the last
    third of the days, when the share of new creators no longer climbs from
    the empty start.
    """
    return int(days - days // 3) if days >= 3 else 0


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
def _user_tick_kernel(videos, users, values, video_creator, creator_is_new, n_users):
    """One tick's served rows (``videos >= 0``) summed per user, one sequential pass.

    Returns ``(impressions, new-creator impressions, latent value)``, float64
    arrays of ``n_users``: for each user the sum over their served rows in row
    order, as ``np.bincount`` sums its weights, so adding them to a run's
    totals gives the same bits as the bincounts did.
    """
    imps = np.zeros(n_users, np.float64)
    new = np.zeros(n_users, np.float64)
    value = np.zeros(n_users, np.float64)
    for i in range(videos.shape[0]):
        v = videos[i]
        if v < 0:
            continue
        u = users[i]
        imps[u] += 1.0
        if creator_is_new[video_creator[v]]:
            new[u] += 1.0
        value[u] += np.float64(values[i])
    return imps, new, value


class OnlineMetrics:
    """Accumulators of one run. See module docstring."""

    def __init__(self, world, feed, days):
        self.w = world
        self.feed = feed
        self.days = days
        n_cohorts = days  # cohort = join day (0 = established)
        self.imps_by_cohort_day = np.zeros((days, n_cohorts), np.int64)
        z = lambda: np.zeros(days, np.float64)  # noqa: E731
        self.day_imps, self.day_new_imps, self.day_plays, self.day_completions = z(), z(), z(), z()
        self.day_value, self.day_follower_imps, self.day_rr_imps = z(), z(), z()
        self.day_returned, self.day_active = z(), z()
        self.day_new_alive = z()
        self.day_users_served = z()
        self.start = measured_start(days)
        U = world.n_users
        self.user_imps = np.zeros(U, np.float64)
        self.user_new_imps = np.zeros(U, np.float64)
        self.user_value = np.zeros(U, np.float64)
        self.creator_imps = np.zeros(world.n_creators, np.int64)
        self.first_target_day = np.full(world.n_creators, -1, np.int32)

    def add_tick(self, day, t_days, videos, out_u, values, play_col, comp_col, fol_col, rr_col, creator_imps,
                 users=None):
        """Accumulate one tick: its served rows (``videos >= 0``) and ``creator_imps``, the
        impressions each creator received in it (int64, per creator; the engine's counters
        already hold them, so no row is looked up again here). ``users``: the user of each
        row; in the measured window (:func:`measured_start`) each user's impressions,
        new-creator impressions and value are summed, for the by-group metrics."""
        w = self.w
        n, plays, comps, fols, rrs, value = _tick_kernel(videos, out_u, values, play_col, comp_col, fol_col, rr_col)
        join = w.creator_join_day
        is_new = (join > 0) & (t_days - join < self.feed.new_creator_days)
        in_run = join < self.days
        self.day_imps[day] += n
        self.day_new_imps[day] += int(creator_imps[is_new].sum())
        self.day_plays[day] += plays
        self.day_completions[day] += comps
        self.day_value[day] += value
        self.day_follower_imps[day] += fols
        self.day_rr_imps[day] += rrs
        self.imps_by_cohort_day[day] += np.bincount(join[in_run], weights=creator_imps[in_run],
                                                    minlength=self.days).astype(np.int64)
        self.creator_imps += creator_imps
        if users is not None and day >= self.start:
            imps, new, value = _user_tick_kernel(videos, np.asarray(users), values, w.video_creator, is_new,
                                                 self.user_imps.size)
            self.user_imps += imps
            self.user_new_imps += new
            self.user_value += value

    def end_day(self, day, returned, active, alive):
        """Record the day's returning and served users, and survivors."""
        w = self.w
        self.day_returned[day] = returned
        self.day_active[day] = active
        reached = (self.first_target_day < 0) & (self.creator_imps >= self.feed.first_impressions_target)
        self.first_target_day[reached] = day
        joined_new = (w.creator_join_day > 0) & (w.creator_join_day <= day)
        self.day_new_alive[day] = np.count_nonzero(alive & joined_new)

    def finalize(self, video_counters, quit_day, n_users, early_col, imps_col, play_col=None, posted=None):
        """The metrics mapping written to ``metrics.json``.

        ``play_col``: the video counter column of 3-second plays, for the
        AI-label parity audit at matched engagement (left out when ``None``).
        ``posted``: bool per video, the potential posts that were realised
        (``None``: all of them); the others count in no post metric.
        """
        w, feed, days = self.w, self.feed, self.days
        self.posted = np.ones(np.shape(w.video_post_day), np.bool_) if posted is None else np.asarray(posted, np.bool_)
        out = {}
        imps = self.day_imps.sum()
        safe = lambda a, b: float(a / b) if b > 0 else float("nan")  # noqa: E731
        joined = w.creator_join_day < days
        new_c = (w.creator_join_day > 0) & joined
        out["impressions"] = _m(int(imps), "impressions", "impressions served over the run")
        out["new_creator_exposure_share"] = _m(safe(self.day_new_imps.sum(), imps), "share of impressions",
                                               f"share of impressions going to creators younger than {feed.new_creator_days} days")
        share_by_day = np.divide(self.day_new_imps, self.day_imps, out=np.zeros(days), where=self.day_imps > 0)
        out["new_creator_exposure_share_by_day"] = _m(share_by_day, "share of impressions, per day", "new-creator exposure share each day")
        out["impressions_by_cohort_day"] = _m(self.imps_by_cohort_day, "impressions [day][join day]",
                                              "impressions each day by creator cohort (join day; 0 = established)")
        ce = self.creator_imps[joined]
        out["exposure_gini"] = _m(gini(ce), "Gini coefficient in [0, 1]", "inequality of impressions across creators who joined during the run or before")
        p, L = lorenz(ce)
        out["exposure_lorenz"] = _m(np.stack([p, L], axis=1), "[population share, exposure share]", "Lorenz curve of creator exposure")
        # breakouts: early impressions of posts whose early window was fully observed
        post_day = w.video_post_day
        observed = (post_day >= 0) & (post_day <= days - feed.breakout_days) & self.posted
        early = video_counters[:, early_col]
        if observed.any():
            thr = np.percentile(early[observed], feed.breakout_percentile)
            broke = observed & (early >= max(thr, 1.0))
        else:
            thr, broke = float("nan"), observed
        vnew = new_c[w.video_creator] & (post_day - w.creator_join_day[w.video_creator] < feed.new_creator_days)
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
        # survival of new creators by latent quality tier
        q = w.creator_quality
        alive_end = quit_day >= days
        tiers = {}
        if new_c.any():
            lo_t, hi_t = np.quantile(q[new_c], [1 / 3, 2 / 3])
            tier = np.where(q < lo_t, 0, np.where(q < hi_t, 1, 2))
            for ti, name in enumerate(("low", "mid", "high")):
                sel = new_c & (tier == ti)
                tiers[name] = safe(np.count_nonzero(sel & alive_end), np.count_nonzero(sel))
            # survival curve by age (days since join), per tier
            curves = np.full((3, days), np.nan)
            age_end = np.where(quit_day < days, quit_day, days) - w.creator_join_day  # days survived
            for ti in range(3):
                sel = new_c & (tier == ti)
                for a in range(days):
                    at_risk = sel & (days - w.creator_join_day > a)  # observed for at least a days
                    if at_risk.any():
                        curves[ti, a] = np.count_nonzero(at_risk & (age_end > a)) / np.count_nonzero(at_risk)
            out["new_creator_survival_curve"] = _m(curves, "share alive [tier low/mid/high][days since join]",
                                                   "share of new creators still posting, by latent quality tercile and age")
        out["new_creator_survival"] = _m(safe(np.count_nonzero(new_c & alive_end), np.count_nonzero(new_c)), "share of creators",
                                         "share of new creators still posting at the end")
        for name in ("low", "mid", "high"):
            out[f"new_creator_survival_{name}_quality"] = _m(tiers.get(name, float("nan")), "share of creators",
                                                             f"survival of new creators in the {name} latent-quality tercile")
        # days until first N impressions
        reached = new_c & (self.first_target_day >= 0)
        dd = (self.first_target_day - w.creator_join_day)[reached]
        out["new_creator_reached_target"] = _m(safe(np.count_nonzero(reached), np.count_nonzero(new_c)), "share of creators",
                                               f"share of new creators reaching {feed.first_impressions_target} impressions")
        out["days_to_target_median"] = _m(float(np.median(dd)) if dd.size else float("nan"), "days",
                                          f"median days from joining to {feed.first_impressions_target} impressions (creators who got there)")
        # quality against exposure for new creators: are good newcomers found?
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
        out["total_value"] = _m(float(self.day_value.sum()), "latent value", "latent user value summed over the run")
        out["value_per_impression_by_day"] = _m(np.divide(self.day_value, self.day_imps, out=np.zeros(days), where=self.day_imps > 0),
                                                "latent value per impression, per day", "user value per impression each day")
        out["completion_rate_by_day"] = _m(np.divide(self.day_completions, self.day_imps, out=np.zeros(days),
                                                     where=self.day_imps > 0),
                                           "share of impressions, per day", "completion rate each day")
        out["play3_rate"] = _m(safe(self.day_plays.sum(), imps), "share of impressions", "3-second play rate")
        out["completion_rate"] = _m(safe(self.day_completions.sum(), imps), "share of impressions", "completion rate")
        ret = self.day_returned / max(n_users, 1)
        out["retention_by_day"] = _m(ret, "share of users", "share of users who opened the app each day")
        out["retention"] = _m(float(ret[1:].mean()) if days > 1 else float(ret[0]), "share of users",
                              "mean daily share of users opening the app (days after the first)")
        out["retention_last_day"] = _m(float(ret[-1]), "share of users", "share of users opening the app on the last day")
        out["rr_share_of_follower_impressions"] = _m(safe(self.day_rr_imps.sum(), self.day_follower_imps.sum()), "share of impressions",
                                                     "share of followers' impressions that reached regular readers")
        out.update(self._measured(n_users))
        out.update(self._parity(video_counters, imps_col, play_col))
        out["new_creators_alive_by_day"] = _m(self.day_new_alive, "creators", "new creators joined and still posting, each day")
        return out

    def _measured(self, n_users) -> dict:
        """Scalars of the measured window (the last third of the days) and by user group."""
        w, s = self.w, self.start
        out = {}
        imps = self.day_imps[s:].sum()
        safe = lambda a, b: float(a / b) if b > 0 else float("nan")  # noqa: E731
        span = f"days {s}-{self.days - 1} (the measured window: the run's last third)"
        out["measured_window_start"] = _m(int(s), "day", "first day of the measured window (the run's last third)")
        out["impressions_measured"] = _m(int(imps), "impressions", f"impressions served on {span}")
        out["new_creator_impressions_measured"] = _m(int(self.day_new_imps[s:].sum()), "impressions",
                                                     f"impressions of new creators' posts on {span}")
        out["new_creator_exposure_share_measured"] = _m(safe(self.day_new_imps[s:].sum(), imps), "share of impressions",
                                                        f"share of impressions going to new creators on {span}")
        out["value_per_impression_measured"] = _m(safe(self.day_value[s:].sum(), imps), "latent value per impression",
                                                  f"mean latent user value per impression on {span}")
        out["completion_rate_measured"] = _m(safe(self.day_completions[s:].sum(), imps), "share of impressions",
                                             f"completion rate on {span}")
        ret = self.day_returned[max(s, 1):] / max(n_users, 1)
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
        post_day = w.video_post_day
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
