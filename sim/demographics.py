"""Who the users are: age band, gender and city tier, their shares, and how they shape activity and interests.

:func:`sim.world.build_world` draws each user's levels to the published
audience shares below, then :func:`demographic_effects` scales activity and
tilts topic interests by them (no random draws, so other parts of the world
do not change). The activity levels the report also groups users by (light,
medium, heavy) are thirds of the resulting activity, see
:func:`sim.metrics.user_groups`.
"""

from __future__ import annotations

import numpy as np

#: Age bands, ``user_age_band`` indexes this tuple.
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
#: Share of users in each age band: 25+ is 97.7 % (the platform's published audience); the
#: split above 25 is our assumption (Channels skews older than other apps).
AGE_SHARES = (0.023, 0.300, 0.290, 0.220, 0.167)
#: ``user_gender`` values: 0 male, 1 female.
GENDERS = ("male", "female")
#: Men to women about 4 : 6 (the platform's published audience).
GENDER_SHARES = (0.40, 0.60)
#: City tiers, ``user_city_tier`` indexes this tuple.
CITY_TIERS = ("tier-1 & new tier-1", "tier-2/3", "tier-4 and below & overseas")
#: Share of users per city tier (the platform's published audience).
CITY_SHARES = (0.32, 0.40, 0.28)
#: Requests per active day relative to the average user, by age band, gender
#: and city tier (multiplied, then rescaled so the population mean stays
#: ``activity_mean``). Our assumptions, in the direction public audience
#: reports give: Channels' users skew older and its heaviest users are middle
#: aged and older; lower-tier cities spend more time on short video; women
#: (the majority, about 6 in 10) use it slightly more. No published number
#: gives the sizes.
ACTIVITY_BY_AGE = (0.8, 0.9, 1.0, 1.15, 1.3)
ACTIVITY_BY_GENDER = (0.95, 1.05)
ACTIVITY_BY_TIER = (0.9, 1.0, 1.15)
#: Interest tilt per grouping: each level of a grouping (age band, gender,
#: city tier) favours its own subset of topics, multiplying a user's interest
#: in them by ``exp(demographic_interest * tilt)`` before renormalising.
INTEREST_TILT = {"age": 0.6, "gender": 0.5, "city": 0.3}


def demographic_effects(cfg, age, gender, city, activity, interest):
    """Activity and interests shaped by demographics (no random draws: other streams are untouched).

    Activity is multiplied by ``1 + s (m - 1)`` with ``m`` the product of
    :data:`ACTIVITY_BY_AGE`, :data:`ACTIVITY_BY_GENDER` and
    :data:`ACTIVITY_BY_TIER` of the user's levels and ``s`` the
    ``demographic_activity`` setting, then divided by the population mean of that
    factor under the published shares, so the mean activity stays
    ``activity_mean``. Each grouping ``g`` (age, gender, city) gives level
    ``k`` the topics ``t`` with ``(t * p_g + g) mod L_g == k`` (``p_g`` a
    prime, ``L_g`` the number of levels): a user's interest in their levels'
    topics is multiplied by ``exp(demographic_interest * INTEREST_TILT[g])``,
    then the interests are renormalised to sum to 1.
    """
    s = cfg.demographic_activity
    if s > 0:
        parts = ((ACTIVITY_BY_AGE, AGE_SHARES, age), (ACTIVITY_BY_GENDER, GENDER_SHARES, gender),
                 (ACTIVITY_BY_TIER, CITY_SHARES, city))
        m = np.ones(activity.size)
        mean = 1.0
        for mult, shares, idx in parts:
            mult = 1.0 + s * (np.asarray(mult) - 1.0)
            m *= mult[idx]
            mean *= float(np.dot(mult, shares))
        activity = (activity * (m / mean)).astype(activity.dtype)
    if cfg.demographic_interest > 0:
        topics = np.arange(interest.shape[1])
        logw = np.zeros(interest.shape)
        for gi, (g, idx, n_levels, prime) in enumerate((("age", age, len(AGE_BANDS), 7), ("gender", gender, 2, 3),
                                                         ("city", city, len(CITY_TIERS), 11))):
            fav = ((topics * prime + gi) % n_levels)[None, :] == np.asarray(idx, np.int64)[:, None]
            logw += cfg.demographic_interest * INTEREST_TILT[g] * fav
        tilted = interest * np.exp(logw)
        interest = (tilted / tilted.sum(axis=1, keepdims=True)).astype(interest.dtype)
    return activity, interest
