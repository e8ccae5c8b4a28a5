"""How a world's counts scale with its users (``--users``): :data:`SCALED_WITH_USERS` and :func:`scaled_count`."""

from __future__ import annotations

#: The counts that grow with users (:meth:`WorldConfig.with_users`); everything else is per user (activity,
#: friends, follows) or per creator (posting rate), so scaling these two keeps every proportion.
SCALED_WITH_USERS = ("n_creators", "new_creators_per_day")


def scaled_count(count: int, users: int, new_users: int) -> int:
    """``count`` per ``users`` carried to ``new_users``, rounded half up (exact when whole), at least 1 if ``count`` is."""
    if count <= 0:
        return 0
    return max(1, int(count * new_users // users + (2 * (count * new_users % users) >= users)))
