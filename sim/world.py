"""The simulated world: users, creators, videos and graphs, as columns.

PROVISIONAL: the config section is final in shape; ``build_world`` is being
written (see the World contract in docs/CONTRACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ranker.params import Section, param


@dataclass(frozen=True)
class WorldConfig(Section):
    """Size and shape of the simulated world (the ``[world]`` section)."""

    n_users: int = param(20_000, "int", 1, 50_000_000, doc="users")
    n_topics: int = param(20, "int", 2, 512, doc="content topics")
    interest_concentration: float = param(0.3, "float", 0.0, 100.0, lo_open=True, doc="Dirichlet concentration of a user's topic interests (small: few topics)")
    activity_mean: float = param(6.0, "float", 0.0, 500.0, lo_open=True, doc="mean requests per user per active day")
    activity_sigma: float = param(1.0, "float", 0.0, 4.0, doc="log-normal sigma of user activity (heavy tail)")
    friends_mean: float = param(12.0, "float", 0.0, 2000.0, doc="mean friends per user")
    friends_sigma: float = param(1.0, "float", 0.0, 4.0, doc="log-normal sigma of friend counts")
    n_creators: int = param(1_000, "int", 1, 10_000_000, doc="established creators present at day 0")
    new_creators_per_day: int = param(20, "int", 0, 1_000_000, doc="new creators joining each day")
    pro_share: float = param(0.15, "float", 0.0, 1.0, doc="share of professional (non-UGC) creators")
    pro_quality_shift: float = param(0.5, "float", -5.0, 5.0, doc="mean latent-quality advantage of professional creators, in quality sd")
    ai_share: float = param(0.10, "float", 0.0, 1.0, doc="share of creators whose posts carry the AI-generated label")
    posts_per_day_mean: float = param(0.7, "float", 0.0, 50.0, lo_open=True, doc="mean posts per creator per day")
    posts_per_day_sigma: float = param(0.5, "float", 0.0, 4.0, doc="log-normal sigma of creators' posting rates")
    quality_sd: float = param(1.0, "float", 0.0, 10.0, doc="sd of creators' latent quality")
    video_quality_sd: float = param(0.5, "float", 0.0, 10.0, doc="sd of a video's quality around its creator's")
    hook_sd: float = param(0.7, "float", 0.0, 10.0, doc="sd of videos' hook (first-3-seconds pull, unrelated to substance)")
    shareability_sd: float = param(0.7, "float", 0.0, 10.0, doc="sd of videos' shareability (pulls shares, not opens)")
    clickbait_share: float = param(0.15, "float", 0.0, 1.0, doc="share of creators who make clickbait: strong hook, weak quality")
    sharebait_share: float = param(0.15, "float", 0.0, 1.0, doc="share of creators who make share-bait: high shareability, weak quality")
    bait_strength: float = param(1.5, "float", 0.0, 10.0, doc="hook or shareability lift of bait creators, in sd")
    bait_quality_penalty: float = param(0.7, "float", 0.0, 10.0, doc="quality deficit of bait creators, in quality sd")
    topic_loyalty: float = param(0.8, "float", 0.0, 1.0, doc="probability a post is on its creator's main topic")
    duration_median_s: float = param(30.0, "float", 3.0, 3600.0, doc="median video duration, seconds")
    duration_sigma: float = param(0.8, "float", 0.0, 4.0, doc="log-normal sigma of video durations")
    follows_mean: float = param(8.0, "float", 0.0, 10_000.0, doc="mean creators a user follows at day 0")
    follow_capacity: int = param(64, "int", 1, 100_000, doc="most creators a user can follow (least engaged follow is dropped beyond it)")
    backlog_days: int = param(3, "int", 0, 365, doc="days of posts established creators have before day 0")
