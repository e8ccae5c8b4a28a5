"""Validated, frozen parameter sections: config as data.

Each section is a frozen dataclass whose fields are declared with :func:`param`.
``__post_init__`` checks every field against its declaration and raises one
clear error naming the field, the value and what is allowed, in
scikit-learn's shape::

    The 'slate_size' parameter of FeedConfig must be an int in the range
    [1, 500]. Got 0 instead.

``TypeError`` for a wrong type, ``ValueError`` for a wrong value. Unknown keys
are errors (:meth:`Section.from_dict`), never ignored; there are no aliases.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from dataclasses import MISSING, field, fields
from typing import Any


def param(default, kind, lo=None, hi=None, *, lo_open=False, hi_open=False, choices=None, doc=""):
    """Declare a validated field.

    Parameters
    ----------
    default : object
        Default value (also the embedded default world's value).
    kind : {"int", "float", "bool", "str", "floats"}
        Allowed type; ``"floats"`` is a tuple of floats (each checked against
        the range).
    lo, hi : float, optional
        Inclusive bounds unless ``lo_open``/``hi_open``.
    choices : tuple of str, optional
        Allowed values for ``"str"``.
    doc : str
        One line: meaning and unit. Shown by ``ranksim policies`` and in docs.
    """
    meta = dict(kind=kind, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, choices=choices, doc=doc)
    if kind == "floats":
        return field(default=tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def _range_text(m) -> str:
    lo, hi = m["lo"], m["hi"]
    if lo is None and hi is None:
        return ""
    left = "(" if (m["lo_open"] or lo is None) else "["
    right = ")" if (m["hi_open"] or hi is None) else "]"
    lo_s = "-inf" if lo is None else repr(lo)
    hi_s = "inf" if hi is None else repr(hi)
    return f" in the range {left}{lo_s}, {hi_s}{right}"


def _in_range(x, m) -> bool:
    lo, hi = m["lo"], m["hi"]
    if lo is not None and (x < lo or (m["lo_open"] and x == lo)):
        return False
    if hi is not None and (x > hi or (m["hi_open"] and x == hi)):
        return False
    return True


def check_value(owner: str, name: str, value: Any, m: dict) -> Any:
    """Check one value against its declaration; return it converted (int -> float)."""
    kind = m["kind"]
    head = f"The {name!r} parameter of {owner}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{head} must be a bool (true or false). Got {value!r} instead.")
        return value
    if kind == "str":
        allowed = m["choices"]
        if not isinstance(value, str):
            raise TypeError(f"{head} must be a str. Got {value!r} instead.")
        if allowed is not None and value not in allowed:
            raise ValueError(f"{head} must be a str among {sorted(allowed)}. Got {value!r} instead.")
        return value
    if kind == "floats":
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{head} must be a list of floats. Got {value!r} instead.")
        return tuple(check_value(owner, f"{name}[{i}]", v, dict(m, kind="float")) for i, v in enumerate(value))
    rng = _range_text(m)
    if kind == "int":
        # numbers.Integral admits NumPy integers; bools are ints in Python but never counts here.
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{head} must be an int{rng}. Got {value!r} instead.")
        value = int(value)
        if not _in_range(value, m):
            raise ValueError(f"{head} must be an int{rng}. Got {value!r} instead.")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{head} must be a float{rng}. Got {value!r} instead.")
        try:
            value = float(value)
        except OverflowError:  # an int too large for a double
            raise ValueError(f"{head} must be a finite float{rng}. Got {value!r} instead.") from None
        if math.isnan(value) or math.isinf(value) or not _in_range(value, m):
            raise ValueError(f"{head} must be a finite float{rng}. Got {value!r} instead.")
        return value
    raise AssertionError(f"unknown kind {kind!r} for {owner}.{name}")


class Section:
    """Base of validated frozen sections (subclasses are frozen dataclasses).

    A subclass may list fields it no longer has in ``REMOVED`` (a class
    attribute, name -> what replaced it): a config or a ``replace`` naming
    one fails with that text instead of an unknown-key error.
    """

    REMOVED: dict = {}

    def __post_init__(self):
        owner = type(self).__name__
        for f in fields(self):
            if "kind" not in f.metadata:
                continue
            v = check_value(owner, f.name, getattr(self, f.name), f.metadata)
            object.__setattr__(self, f.name, v)
        self.check()

    def check(self) -> None:
        """Cross-field checks; override where fields constrain each other."""

    @classmethod
    def from_dict(cls, d: dict | None, where: str | None = None):
        """Build from a mapping, rejecting unknown keys by name.

        Parameters
        ----------
        d : dict or None
            Parsed TOML table (``None``: all defaults).
        where : str, optional
            The table's dotted path as the user wrote it, for messages
            (default: the class name); ``""`` is the top level of a file.
        """
        where = cls.__name__ if where is None else where
        d = {} if d is None else d
        if not isinstance(d, dict):
            raise TypeError(f"The {table_label(where)} must be a table. Got {d!r} instead.")
        cls._removed_check(d, where)
        known = {f.name: f for f in fields(cls)}
        unknown_key_check(d, known, where)
        kw = {}
        for name, value in d.items():
            f = known[name]
            sub = _section_type(f)
            kw[name] = sub.from_dict(value, f"{where}.{name}" if where else name) if sub is not None else value
        return cls(**kw)

    def to_dict(self) -> dict:
        """Plain nested dict (TOML-ready: tuples become lists)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Section):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = dict(v)
            out[f.name] = v
        return out

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        type(self)._removed_check(changes, type(self).__name__)
        return dataclasses.replace(self, **changes)

    @classmethod
    def _removed_check(cls, d, where) -> None:
        gone = sorted(k for k in d if k in cls.REMOVED)
        if gone:
            place = f"[{where}]" if where else "the top level of the config"
            why = " ".join(f"{k!r}: {cls.REMOVED[k]}" for k in gone)
            raise ValueError(f"The parameter(s) {gone} of {place} were removed. {why}")

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """Rows of (name, allowed, default, doc) for help and docs."""
        rows = []
        for f in fields(cls):
            m = f.metadata
            if "kind" not in m:
                continue
            default = f.default if f.default is not MISSING else None
            allowed = m["kind"] + (_range_text(m) if m["kind"] in ("int", "float", "floats") else "")
            if m.get("choices"):
                allowed = "one of " + ", ".join(m["choices"])
            rows.append((f.name, allowed, default, m["doc"]))
        return rows


def table_label(where: str) -> str:
    """How messages name a TOML table: ``[world]``, or the file's top level for ``""``."""
    return f"[{where}] section" if where else "top level of the config"


def unknown_key_check(d: dict, allowed, where: str) -> None:
    """Raise ``ValueError`` naming any key of ``d`` not in ``allowed`` (with a close match as hint)."""
    allowed = sorted(allowed)
    unknown = sorted(set(d) - set(allowed), key=str)
    if not unknown:
        return
    place = f"[{where}]" if where else "the top level of the config"
    if not allowed:
        raise ValueError(f"Unknown key(s) {unknown} in {place}, which takes no keys.")
    hints = [f"{k!r} -> {close[0]!r}" for k in unknown
             if (close := difflib.get_close_matches(str(k), allowed, n=1))]
    hint = f" Did you mean: {', '.join(hints)}?" if hints else ""
    raise ValueError(f"Unknown key(s) {unknown} in {place}. Allowed keys: {allowed}.{hint}")


def _section_type(f):
    t = f.type
    if isinstance(t, type) and issubclass(t, Section):
        return t
    if f.default_factory is not MISSING:
        try:
            v = f.default_factory()
        except TypeError:
            return None
        if isinstance(v, Section):
            return type(v)
    return None
