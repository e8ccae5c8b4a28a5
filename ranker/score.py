"""Scoring candidate sets on the platform's signals, and top-k per request.

PROVISIONAL: ``ScoreWeights`` is final in shape; kernels are being written
(see docs/CONTRACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ranker.params import Section, param


@dataclass(frozen=True)
class ScoreWeights(Section):
    """Hand-set weights of the score (the ``[weights]`` section).

    Each signal is a log-lift over the population prior (0 = an average
    video), so weights are comparable.
    """

    play3: float = param(1.0, "float", -100.0, 100.0, doc="weight of the 3-second play rate signal")
    completion: float = param(1.0, "float", -100.0, 100.0, doc="weight of the completion rate signal")
    avg_play: float = param(0.5, "float", -100.0, 100.0, doc="weight of the average play duration (relative to length) signal")
    like: float = param(0.3, "float", -100.0, 100.0, doc="weight of the like rate signal")
    comment: float = param(0.2, "float", -100.0, 100.0, doc="weight of the comment rate signal")
    share_ft: float = param(0.5, "float", -100.0, 100.0, doc="weight of the share follow-through signal")
    rr_reach: float = param(0.5, "float", -100.0, 100.0, doc="weight of the creator's regular-reader reach signal")
    affinity: float = param(1.0, "float", -100.0, 100.0, doc="weight of the viewer's logged topic affinity (log-lift)")
    regular_reader: float = param(0.5, "float", -100.0, 100.0, doc="bonus when the viewer is a regular reader of the creator")
