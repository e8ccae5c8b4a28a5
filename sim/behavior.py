"""The behaviour model: (user, video, draws) -> outcomes and latent user value.

PROVISIONAL: the config section is final in shape; the kernels are being
written (see the behaviour contract in docs/CONTRACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ranker.params import Section, param


@dataclass(frozen=True)
class BehaviorConfig(Section):
    """Coefficients of the behaviour model (the ``[behavior]`` section).

    Logits: ``b*`` intercepts, ``*_q`` quality, ``*_a`` log-affinity,
    ``*_h`` hook, ``*_s`` shareability, ``*_r`` regular reader, ``*_c``
    completion. See :func:`sim.behavior.impression` for the formulas.
    """

    play_b: float = param(-0.2, "float", -20.0, 20.0, doc="3-second play: intercept (logit)")
    play_h: float = param(0.9, "float", -20.0, 20.0, doc="3-second play: hook coefficient")
    play_q: float = param(0.3, "float", -20.0, 20.0, doc="3-second play: quality coefficient")
    play_a: float = param(0.6, "float", -20.0, 20.0, doc="3-second play: log-affinity coefficient")
    play_r: float = param(0.8, "float", -20.0, 20.0, doc="3-second play: regular-reader coefficient")
    complete_b: float = param(-0.6, "float", -20.0, 20.0, doc="completion given a 3-second play: intercept")
    complete_q: float = param(1.0, "float", -20.0, 20.0, doc="completion: quality coefficient")
    complete_a: float = param(0.5, "float", -20.0, 20.0, doc="completion: log-affinity coefficient")
    complete_r: float = param(0.4, "float", -20.0, 20.0, doc="completion: regular-reader coefficient")
    complete_d: float = param(0.7, "float", 0.0, 20.0, doc="completion: penalty per unit of ln(duration / 30 s)")
    like_b: float = param(-3.0, "float", -20.0, 20.0, doc="like given a 3-second play: intercept")
    like_q: float = param(0.7, "float", -20.0, 20.0, doc="like: quality coefficient")
    like_a: float = param(0.4, "float", -20.0, 20.0, doc="like: log-affinity coefficient")
    like_c: float = param(1.0, "float", -20.0, 20.0, doc="like: completion coefficient")
    comment_b: float = param(-4.5, "float", -20.0, 20.0, doc="comment given a 3-second play: intercept")
    comment_q: float = param(0.5, "float", -20.0, 20.0, doc="comment: quality coefficient")
    comment_a: float = param(0.3, "float", -20.0, 20.0, doc="comment: log-affinity coefficient")
    share_b: float = param(-4.0, "float", -20.0, 20.0, doc="share given a 3-second play: intercept")
    share_s: float = param(1.2, "float", -20.0, 20.0, doc="share: shareability coefficient")
    share_q: float = param(0.4, "float", -20.0, 20.0, doc="share: quality coefficient")
    share_max_recipients: int = param(3, "int", 1, 64, doc="a share goes to 1..this many friends")
    open_b: float = param(-0.8, "float", -20.0, 20.0, doc="recipient opens a shared card: intercept")
    open_q: float = param(0.9, "float", -20.0, 20.0, doc="open: quality coefficient (shareability plays no part)")
    open_a: float = param(0.5, "float", -20.0, 20.0, doc="open: recipient's log-affinity coefficient")
    follow_b: float = param(-5.0, "float", -20.0, 20.0, doc="follow given a 3-second play (non-followers): intercept")
    follow_q: float = param(0.8, "float", -20.0, 20.0, doc="follow: quality coefficient")
    follow_a: float = param(0.4, "float", -20.0, 20.0, doc="follow: log-affinity coefficient")
    follow_c: float = param(1.0, "float", -20.0, 20.0, doc="follow: completion coefficient")
    value_q: float = param(1.0, "float", -20.0, 20.0, doc="latent value: quality coefficient, per unit of watched fraction")
    value_a: float = param(0.5, "float", -20.0, 20.0, doc="latent value: log-affinity coefficient, per unit of watched fraction")
    value_b: float = param(0.0, "float", -20.0, 20.0, doc="latent value: intercept, per unit of watched fraction")
    affinity_floor: float = param(0.05, "float", 0.0, 1.0, lo_open=True, doc="affinity n_topics*interest is floored here before the log")
    rr_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="regular readers: weight of the newest impression in a follower's engagement average")
    rr_on: float = param(0.5, "float", 0.0, 1.0, doc="regular readers: a follower whose engagement reaches this becomes a regular reader")
    rr_off: float = param(0.3, "float", 0.0, 1.0, doc="regular readers: a regular reader whose engagement falls below this stops being one")
    rr_decay: float = param(0.05, "float", 0.0, 1.0, doc="regular readers: daily decay of a follower's engagement average")
    return_b: float = param(1.8, "float", -20.0, 20.0, doc="retention: logit of returning on a day, intercept")
    return_v: float = param(2.0, "float", -20.0, 20.0, doc="retention: logit per unit of the user's satisfaction (mean recent value per impression)")
    satisfaction_rate: float = param(0.3, "float", 0.0, 1.0, lo_open=True, doc="retention: weight of the latest day in a user's satisfaction average")

    def check(self):
        if self.rr_off > self.rr_on:
            raise ValueError(
                f"The 'rr_off' parameter of BehaviorConfig must be at most rr_on ({self.rr_on}). "
                f"Got {self.rr_off} instead.")
