"""New-creator boosting policies: a registry, one small class each.

PROVISIONAL: only ``none`` is registered while the others are being written
(see docs/CONTRACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.params import Section

REGISTRY: dict[str, type] = {}


def register(cls):
    REGISTRY[cls.name] = cls
    return cls


@dataclass(frozen=True)
class NoParams(Section):
    """No parameters."""


@dataclass(frozen=True)
class PolicyAction:
    boost: np.ndarray
    quota: float = 0.0
    eligible: np.ndarray | None = None


@register
class NoBoost:
    """No boost: the ranker's score alone decides."""

    name = "none"
    Params = NoParams

    def __init__(self, params=None):
        self.params = params if params is not None else self.Params()

    def act(self, ctx):
        return PolicyAction(boost=np.zeros(ctx.n_videos))


def make_policy(name, params=None):
    if not isinstance(name, str):
        raise TypeError(f"The 'name' parameter of PolicyConfig must be a str. Got {name!r} instead.")
    if name not in REGISTRY:
        raise ValueError(f"Unknown policy {name!r}. Registered policies: {sorted(REGISTRY)}.")
    cls = REGISTRY[name]
    p = params if isinstance(params, Section) else cls.Params.from_dict(dict(params or {}), f"policy.params ({name})")
    return cls(p)
