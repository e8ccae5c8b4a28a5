"""Config as data: every bad input fails before any work, with one clear message.

The tables below hold (TOML text, exception type, exact message regex). Each
message must name the field, the value and what is allowed, in
scikit-learn's shape. Messages are matched whole (``^...$``), so a change in
wording is a deliberate change of this file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from dataclasses import dataclass, fields

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ranker.params import Section, param
from ranker.policies import REGISTRY
from ranker.score import ScoreWeights
from sim.behavior import BehaviorConfig
from sim.creators import CreatorConfig
from sim.live import LiveConfig
from sim.sellers import SellerConfig
from sim.config import (NEW_BEHAVIOR_FIELDS, Config, ConfigError, FeedConfig, LoopConfig, PolicyConfig, RunConfig,
                        load_config, parse_config, write_config)
from sim.world import WorldConfig

#: TOML table name -> section class, as Config lays them out.
SECTIONS = {"world": WorldConfig, "behavior": BehaviorConfig, "feed": FeedConfig, "weights": ScoreWeights,
            "run": RunConfig, "loop": LoopConfig, "creators": CreatorConfig, "live": LiveConfig,
            "sellers": SellerConfig}


def keys(cls) -> str:
    """The "Allowed keys" list a message shows for ``cls``, regex-escaped."""
    return re.escape(str(sorted(f.name for f in fields(cls))))


def exact(text: str) -> str:
    return "^" + re.escape(text) + "$"


def field_msg(owner, name, what, got) -> str:
    return exact(f"The {name!r} parameter of {owner} must be {what}. Got {got} instead.")


EMPTY = r"^<string> is empty; a config needs at least one section, e\.g\. \[run\] days = 7\. " \
        r"Leave out --config to use the built-in default world\.$"

BAD = [
    # negative counts, zero where not allowed, above the maximum
    ("[world]\nn_users = -5", ValueError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "-5")),
    ("[world]\nn_users = 0", ValueError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "0")),
    ("[world]\nn_users = 50000001", ValueError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "50000001")),
    ("[world]\nnew_creators_per_day = -1", ValueError,
     field_msg("WorldConfig", "new_creators_per_day", "an int in the range [0, 1000000]", "-1")),
    ("[feed]\nslate_size = 0", ValueError,
     field_msg("FeedConfig", "slate_size", "an int in the range [1, 100]", "0")),
    ("[run]\ndays = 0", ValueError,
     field_msg("RunConfig", "days", "an int in the range [1, 3650]", "0")),
    ("[run]\nseed = -1", ValueError,
     field_msg("RunConfig", "seed", "an int in the range [0, 9223372036854775807]", "-1")),
    # probabilities outside [0, 1]; open bounds
    ("[run]\nlog_sample = 1.5", ValueError,
     field_msg("RunConfig", "log_sample", "a finite float in the range [0.0, 1.0]", "1.5")),
    ("[world]\npro_share = -0.1", ValueError,
     field_msg("WorldConfig", "pro_share", "a finite float in the range [0.0, 1.0]", "-0.1")),
    ("[behavior]\nrr_on = 1.01", ValueError,
     field_msg("BehaviorConfig", "rr_on", "a finite float in the range [0.0, 1.0]", "1.01")),
    ("[behavior]\nrr_rate = 0.0", ValueError,
     field_msg("BehaviorConfig", "rr_rate", "a finite float in the range (0.0, 1.0]", "0.0")),
    ("[world]\ninterest_concentration = 0", ValueError,
     field_msg("WorldConfig", "interest_concentration", "a finite float in the range (0.0, 100.0]", "0.0")),
    ("[feed]\nbreakout_percentile = 100.0", ValueError,
     field_msg("FeedConfig", "breakout_percentile", "a finite float in the range [50.0, 100.0)", "100.0")),
    # NaN and infinities
    ("[run]\nlog_sample = nan", ValueError,
     field_msg("RunConfig", "log_sample", "a finite float in the range [0.0, 1.0]", "nan")),
    ("[behavior]\nplay_b = -nan", ValueError,
     field_msg("BehaviorConfig", "play_b", "a finite float in the range [-20.0, 20.0]", "nan")),
    ("[world]\nfriends_mean = inf", ValueError,
     field_msg("WorldConfig", "friends_mean", "a finite float in the range [0.0, 2000.0]", "inf")),
    ("[weights]\nplay3 = -inf", ValueError,
     field_msg("ScoreWeights", "play3", "a finite float in the range [-100.0, 100.0]", "-inf")),
    # wrong types: string, float, bool, array or table where an int or float is wanted
    ('[world]\nn_users = "many"', TypeError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "'many'")),
    ("[world]\nn_users = 5.0", TypeError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "5.0")),
    ("[world]\nn_users = true", TypeError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "True")),
    ("[run]\nlog_sample = false", TypeError,
     field_msg("RunConfig", "log_sample", "a float in the range [0.0, 1.0]", "False")),
    ('[run]\nlog_sample = "0.5"', TypeError,
     field_msg("RunConfig", "log_sample", "a float in the range [0.0, 1.0]", "'0.5'")),
    ("[run]\nseed = [1, 2]", TypeError,
     field_msg("RunConfig", "seed", "an int in the range [0, 9223372036854775807]", "[1, 2]")),
    ("[world]\nn_users = {a = 1}", TypeError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "{'a': 1}")),
    ("[world.n_users]\nvalue = 5", TypeError,
     field_msg("WorldConfig", "n_users", "an int in the range [1, 50000000]", "{'value': 5}")),
    ("[run]\ndays = 1979-05-27", TypeError,
     field_msg("RunConfig", "days", "an int in the range [1, 3650]", "datetime.date(1979, 5, 27)")),
    # a section that is not a table
    ("world = 3", TypeError, exact("The [world] section must be a table. Got 3 instead.")),
    ("[[run]]\ndays = 3", TypeError, exact("The [run] section must be a table. Got [{'days': 3}] instead.")),
    ('policy = "none"', TypeError, exact("The [policy] section must be a table. Got 'none' instead.")),
    # unknown keys: top level, in a section, in [policy], in [policy.params]
    ("foo = 1", ValueError,
     "^" + re.escape("Unknown key(s) ['foo'] in the top level of the config. Allowed keys: ") + keys(Config)
     + r"\.$"),
    ("[wrold]\nn_users = 5", ValueError,
     "^" + re.escape("Unknown key(s) ['wrold'] in the top level of the config. Allowed keys: ") + keys(Config)
     + re.escape(". Did you mean: 'wrold' -> 'world'?") + "$"),
    ("[world]\nn_user = 5", ValueError,
     "^" + re.escape("Unknown key(s) ['n_user'] in [world]. Allowed keys: ") + keys(WorldConfig)
     + re.escape(". Did you mean: 'n_user' -> 'n_users'?") + "$"),
    ("[feed]\nzzz = 1\naaa = 2", ValueError,
     "^" + re.escape("Unknown key(s) ['aaa', 'zzz'] in [feed]. Allowed keys: ") + keys(FeedConfig) + r"\.$"),
    ('[policy]\nnam = "none"', ValueError,
     exact("Unknown key(s) ['nam'] in [policy]. Allowed keys: ['name', 'params']. Did you mean: 'nam' -> 'name'?")),
    ('[policy]\nname = "none"\nparams = {strength = 1}', ValueError,
     exact("Unknown key(s) ['strength'] in [policy.params (none)], which takes no keys.")),
    ('[policy]\nname = "none"\n[policy.params]\nstrength = 1.5', ValueError,
     exact("Unknown key(s) ['strength'] in [policy.params (none)], which takes no keys.")),
    ("[policy]\nparams = 5", TypeError,
     exact("The 'params' parameter of PolicyConfig must be a table. Got 5 instead.")),
    # unknown or mistyped policy name (the registered list is whatever exists now)
    ('[policy]\nname = "no_such_policy"', ValueError,
     r"^The 'name' parameter of PolicyConfig must be a str among \[[^\]]*'none'[^\]]*\]\. "
     r"Got 'no_such_policy' instead\.$"),
    ("[policy]\nname = 3", TypeError, exact("The 'name' parameter of PolicyConfig must be a str. Got 3 instead.")),
    # cross-field checks
    ("[behavior]\nrr_on = 0.3\nrr_off = 0.5", ValueError,
     exact("The 'rr_off' parameter of BehaviorConfig must be at most rr_on (0.3). Got 0.5 instead.")),
    ("[behavior]\nrr_off = 0.9", ValueError,
     exact("The 'rr_off' parameter of BehaviorConfig must be at most rr_on (0.7). Got 0.9 instead.")),
    ("[world]\nclickbait_share = 0.625\nsharebait_share = 0.5", ValueError,
     r"^The 'clickbait_share' and 'sharebait_share' parameters of WorldConfig must sum to at most 1\. "
     r"Got 0\.625 \+ 0\.5 = 1\.125 instead\.$"),
    # empty, whitespace-only, comments-only, malformed
    ("", ConfigError, EMPTY),
    ("  \n\t\n   \n", ConfigError, EMPTY),
    ("# a comment and nothing else\n\n# another\n", ConfigError, EMPTY),
    ("[world\nn_users = 5", ConfigError,
     r"^<string> is not valid TOML: Expected '\]' at the end of a table declaration \(at line 1, column 7\)$"),
    ("[world]\nn_users = ", ConfigError, r"^<string> is not valid TOML: Invalid value \(at end of document\)$"),
    ("[world]\nn_users = 5\nn_users = 6\n", ConfigError,
     r"^<string> is not valid TOML: Cannot overwrite a value \(at line 3, column 12\)$"),
    ("[run]\nlog_sample = .5", ConfigError, r"^<string> is not valid TOML: Invalid value \(at line 2, column 14\)$"),
]


@pytest.mark.parametrize("text, err, match", BAD, ids=[f"{i:02d}:{t[:28]!r}" for i, (t, _, _) in enumerate(BAD)])
def test_bad_config_raises_one_clear_error(text, err, match):
    with pytest.raises(err, match=match) as info:
        parse_config(text)
    # exactly the declared type: a ConfigError where a plain ValueError is expected would hide the field
    assert type(info.value) is err


def test_table_is_big_and_config_error_is_a_value_error():
    assert len(BAD) >= 20
    assert issubclass(ConfigError, ValueError)


# --- every bounded field of every section, generated from its declaration ---------------------------------------

def _declared(cls):
    return [f for f in fields(cls) if "kind" in f.metadata]


def _range(m) -> str:
    left = "(" if m["lo_open"] or m["lo"] is None else "["
    right = ")" if m["hi_open"] or m["hi"] is None else "]"
    lo = "-inf" if m["lo"] is None else repr(m["lo"])
    hi = "inf" if m["hi"] is None else repr(m["hi"])
    return f" in the range {left}{lo}, {hi}{right}"


def _outside(f):
    """Values just outside a field's declared range, as (TOML literal, Python value shown)."""
    m = f.metadata
    out = []
    if m["kind"] == "int":
        if m["lo"] is not None:
            out.append((str(m["lo"] - 1), str(m["lo"] - 1)))
        if m["hi"] is not None:
            out.append((str(m["hi"] + 1), str(m["hi"] + 1)))
    else:
        if m["lo"] is not None:
            v = float(m["lo"]) if m["lo_open"] else float(m["lo"]) - max(1e-6, abs(m["lo"]) * 1e-6)
            out.append((repr(v), repr(v)))
        if m["hi"] is not None:
            v = float(m["hi"]) if m["hi_open"] else float(m["hi"]) + max(1e-6, abs(m["hi"]) * 1e-6)
            out.append((repr(v), repr(v)))
        out += [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf")]
    return out


@pytest.mark.parametrize("table", sorted(SECTIONS))
def test_every_field_rejects_values_outside_its_range_and_wrong_types(table):
    cls = SECTIONS[table]
    owner = cls.__name__
    checked = 0
    for f in _declared(cls):
        m = f.metadata
        if m["kind"] not in ("int", "float"):
            continue
        article = "an int" if m["kind"] == "int" else "a finite float"
        for literal, shown in _outside(f):
            with pytest.raises(ValueError) as info:
                parse_config(f"[{table}]\n{f.name} = {literal}")
            assert str(info.value) == (f"The {f.name!r} parameter of {owner} must be {article}{_range(m)}. "
                                       f"Got {shown} instead."), f.name
            checked += 1
        with pytest.raises(TypeError, match=rf"^The {f.name!r} parameter of {owner} must be .* Got 'x' instead\.$"):
            parse_config(f'[{table}]\n{f.name} = "x"')
        # the default itself is accepted and kept
        assert getattr(parse_config(f"[{table}]\n{f.name} = {f.default!r}"), table) == cls()
    assert checked >= len(_declared(cls))


# --- the validation machinery on kinds the Config tree does not use yet (bool, str choices, floats) -------------

@dataclass(frozen=True)
class Toy(Section):
    flag: bool = param(False, "bool", doc="a switch")
    mode: str = param("a", "str", choices=("a", "b"), doc="a choice")
    label: str = param("x", "str", doc="free text")
    xs: tuple = param((0.5,), "floats", 0.0, 1.0, doc="probabilities")
    k: int = param(3, "int", 1, doc="at least one, no upper bound")
    z: float = param(0.0, "float", doc="any finite float")
    r: float = param(1.0, "float", 0.0, hi_open=False, lo_open=True, doc="positive")


TOY_BAD = [
    ("flag = 1", TypeError, field_msg("Toy", "flag", "a bool (true or false)", "1")),
    ("flag = 0", TypeError, field_msg("Toy", "flag", "a bool (true or false)", "0")),
    ('flag = "true"', TypeError, field_msg("Toy", "flag", "a bool (true or false)", "'true'")),
    ('mode = "c"', ValueError, field_msg("Toy", "mode", "a str among ['a', 'b']", "'c'")),
    ("mode = 1", TypeError, field_msg("Toy", "mode", "a str", "1")),
    ("label = []", TypeError, field_msg("Toy", "label", "a str", "[]")),
    ("xs = 0.5", TypeError, field_msg("Toy", "xs", "a list of floats", "0.5")),
    ("xs = [0.5, 1.5]", ValueError, field_msg("Toy", "xs[1]", "a finite float in the range [0.0, 1.0]", "1.5")),
    ('xs = [0.5, "a"]', TypeError, field_msg("Toy", "xs[1]", "a float in the range [0.0, 1.0]", "'a'")),
    ("xs = [nan]", ValueError, field_msg("Toy", "xs[0]", "a finite float in the range [0.0, 1.0]", "nan")),
    ("k = 0", ValueError, field_msg("Toy", "k", "an int in the range [1, inf)", "0")),
    ("z = inf", ValueError, field_msg("Toy", "z", "a finite float", "inf")),
    ("z = nan", ValueError, field_msg("Toy", "z", "a finite float", "nan")),
    ("r = inf", ValueError, field_msg("Toy", "r", "a finite float in the range (0.0, inf)", "inf")),
    ("r = 0.0", ValueError, field_msg("Toy", "r", "a finite float in the range (0.0, inf)", "0.0")),
    ("r = 1e400", ValueError, field_msg("Toy", "r", "a finite float in the range (0.0, inf)", "inf")),
    ("r = 1" + "0" * 400, ValueError, r"^The 'r' parameter of Toy must be a finite float in the range \(0\.0, inf\)\. "
                                      r"Got 10{400} instead\.$"),
    ("q = 1", ValueError, "^" + re.escape("Unknown key(s) ['q'] in [toy]. Allowed keys: ") + keys(Toy) + r"\.$"),
]


@pytest.mark.parametrize("text, err, match", TOY_BAD, ids=[t[:20] for t, _, _ in TOY_BAD])
def test_param_kinds_reject_bad_values(text, err, match):
    with pytest.raises(err, match=match) as info:
        Toy.from_dict(tomllib.loads(text), "toy")
    assert type(info.value) is err


def test_param_kinds_accept_and_normalize_good_values():
    t = Toy.from_dict(tomllib.loads('flag = true\nmode = "b"\nxs = [0, 1, 0.25]\nk = 10_000_000_000\nz = -3\n'
                                    "r = 1e300"), "toy")
    assert t.flag is True and t.mode == "b"
    assert t.xs == (0.0, 1.0, 0.25) and all(type(x) is float for x in t.xs)
    assert type(t.z) is float and t.z == -3.0
    assert t.to_dict()["xs"] == [0.0, 1.0, 0.25]
    # NumPy scalars (e.g. from a sweep grid) are accepted and stored as Python numbers
    t2 = Toy(k=np.int64(7), z=np.float32(0.5))
    assert type(t2.k) is int and t2.k == 7 and type(t2.z) is float
    with pytest.raises(TypeError, match="'flag' parameter of Toy must be a bool"):
        Toy(flag=np.bool_(True))
    with pytest.raises(TypeError, match="'k' parameter of Toy must be an int"):
        Toy(k=np.float64(2.0))
    assert Toy.from_dict(None) == Toy()
    with pytest.raises(TypeError, match=exact("The [Toy] section must be a table. Got 3 instead.")):
        Toy.from_dict(3)


def test_describe_lists_every_declared_field():
    rows = {name: (allowed, default, doc) for name, allowed, default, doc in Toy.describe()}
    assert list(rows) == [f.name for f in fields(Toy)]
    assert rows["k"] == ("int in the range [1, inf)", 3, "at least one, no upper bound")
    assert rows["mode"][0] == "one of a, b"
    assert rows["xs"][0] == "floats in the range [0.0, 1.0]"
    for cls in SECTIONS.values():
        described = cls.describe()
        assert [r[0] for r in described] == [f.name for f in _declared(cls)]
        assert all(doc for *_, doc in described), cls.__name__
        assert all(getattr(cls(), name) == default for name, _, default, _ in described)


def test_replace_validates_and_sections_are_frozen():
    w = WorldConfig()
    assert w.replace(n_users=7).n_users == 7 and w.n_users == 12_000
    with pytest.raises(ValueError, match=r"'n_users' parameter of WorldConfig .* Got 0 instead"):
        w.replace(n_users=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.n_users = 3  # type: ignore[misc]


# --- good configs ------------------------------------------------------------------------------------------------

def test_default_config_is_valid_and_equals_an_empty_tree():
    c = Config()
    for table, cls in SECTIONS.items():
        assert getattr(c, table) == cls()
    assert c.policy.name == "none"
    assert Config.from_dict({}) == c
    assert Config.from_dict({t: {} for t in (*SECTIONS, "policy")}) == c


def test_default_to_toml_round_trips():
    c = Config()
    text = c.to_toml()
    assert parse_config(text) == c
    assert parse_config(parse_config(text).to_toml()) == c
    # every field is written out: the file beside a run's output is the whole resolved config
    data = tomllib.loads(text)
    for table, cls in SECTIONS.items():
        if table in ("loop", "live", "sellers"):  # at its defaults (off) the section is left out: a run is written as before it
            assert table not in data
            continue
        left_out = set(NEW_BEHAVIOR_FIELDS) if table == "behavior" else set()  # at 0 (no effect): written as before them
        assert set(data[table]) == {f.name for f in _declared(cls)} - left_out
    assert data["policy"]["name"] == "none"
    kinked = c.replace(behavior=c.behavior.replace(complete_d_short=0.8))
    assert tomllib.loads(kinked.to_toml())["behavior"]["complete_d_short"] == 0.8
    assert set(tomllib.loads(kinked.to_toml())["behavior"]) == {f.name for f in _declared(BehaviorConfig)}
    assert parse_config(kinked.to_toml()) == kinked and parse_config(kinked.to_toml()) != c
    on = tomllib.loads(c.replace(loop=LoopConfig(explore="plackett_luce")).to_toml())
    assert set(on["loop"]) == {f.name for f in _declared(LoopConfig)}
    on = tomllib.loads(c.replace(live=LiveConfig(enabled=True), sellers=SellerConfig(enabled=True)).to_toml())
    assert set(on["live"]) == {f.name for f in _declared(LiveConfig)}
    assert set(on["sellers"]) == {f.name for f in _declared(SellerConfig)}


def test_non_default_config_round_trips():
    c = parse_config("[world]\nn_users = 123\npro_share = 0.0\n[behavior]\nrr_on = 0.9\nrr_off = 0.9\n"
                     "[feed]\nslate_size = 3\n[weights]\nlike = -2.5\n[run]\nseed = 9223372036854775807\n"
                     "log_sample = 0\n")
    assert c != Config()
    back = parse_config(c.to_toml())
    assert back == c
    assert back.run.seed == 2**63 - 1 and back.run.log_sample == 0.0 and type(back.run.log_sample) is float


def test_partial_file_fills_defaults():
    c = parse_config("[world]\nn_users = 500\n")
    # counts the file leaves out keep the default world's proportions: 1 creator per 20 users, 1 new a day per 1,000
    assert c.world == WorldConfig(n_users=500, n_creators=25, new_creators_per_day=1)
    assert c == Config(world=WorldConfig(n_users=500, n_creators=25, new_creators_per_day=1))
    c = parse_config("# tiny run\n[run]\ndays = 2\n[policy]\n")
    assert c.run == RunConfig(days=2) and c.world == WorldConfig() and c.policy == PolicyConfig()
    # an int where a float is allowed is stored as a float
    c = parse_config("[run]\nlog_sample = 1\n")
    assert type(c.run.log_sample) is float and c.run.log_sample == 1.0


def test_with_overrides_applies_and_validates():
    c = Config().with_overrides(seed=5, days=3, users=100, log_sample=0.25)
    assert (c.run.seed, c.run.days, c.world.n_users, c.run.log_sample) == (5, 3, 100, 0.25)
    assert c.replace(run=RunConfig(), world=WorldConfig()) == Config()
    assert Config().with_overrides() == Config()
    for kw, name in [(dict(users=0), "n_users"), (dict(users=-5), "n_users"), (dict(days=0), "days"),
                     (dict(seed=-1), "seed"), (dict(log_sample=1.5), "log_sample"),
                     (dict(log_sample=math.nan), "log_sample")]:
        with pytest.raises(ValueError, match=rf"^The '{name}' parameter of \w+ must be .* Got .* instead\.$"):
            Config().with_overrides(**kw)
    with pytest.raises(TypeError, match=r"^The 'n_users' parameter of WorldConfig must be an int"):
        Config().with_overrides(users=10.0)
    with pytest.raises(ValueError, match=r"^The 'name' parameter of PolicyConfig .* Got 'no_such_policy' instead"):
        Config().with_overrides(policy="no_such_policy")
    with pytest.raises(ValueError, match=re.escape("Unknown key(s) ['strength'] in [policy.params (none)]")):
        Config().with_overrides(policy="none", policy_params={"strength": 1.0})


def test_every_registered_policy_is_a_valid_config_and_round_trips():
    assert "none" in REGISTRY
    for name in sorted(REGISTRY):
        c = Config().with_overrides(policy=name)
        assert c.policy.name == name
        assert parse_config(c.to_toml()) == c, name
        assert c.policy.policy().name == name


# --- bad policy parameters, for whichever registered policies have float parameters -------------------------------

def _float_params():
    cases = []
    for name in sorted(REGISTRY):
        params_cls = REGISTRY[name].Params
        for f in _declared(params_cls):
            if f.metadata["kind"] == "float":
                cases.append(pytest.param(name, params_cls, f, id=f"{name}.{f.name}"))
    return cases


@pytest.mark.parametrize("policy, params_cls, f", _float_params())
def test_registered_policy_rejects_bad_float_param(policy, params_cls, f):
    owner = params_cls.__name__
    bad = [("nan", "nan"), ('"x"', "'x'"), ("true", "True")] + _outside(f)
    for literal, shown in bad:
        err = TypeError if literal in ('"x"', "true") else ValueError
        with pytest.raises(err) as info:
            parse_config(f'[policy]\nname = "{policy}"\n[policy.params]\n{f.name} = {literal}')
        assert re.fullmatch(rf"The '{f.name}' parameter of {owner} must be .* Got {re.escape(shown)} instead\.",
                            str(info.value)), str(info.value)
    with pytest.raises(ValueError, match=re.escape(f"Unknown key(s) ['no_such_param'] in [policy.params ({policy})]")):
        parse_config(f'[policy]\nname = "{policy}"\n[policy.params]\nno_such_param = 1.0')


# --- files ---------------------------------------------------------------------------------------------------

def test_missing_config_file(tmp_path):
    p = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=exact(f"Config file {str(p)!r} does not exist.")):
        load_config(p)
    with pytest.raises(ConfigError, match=exact(f"Config file {str(tmp_path)!r} is a directory, not a file.")):
        load_config(tmp_path)
    assert load_config(None) == Config()


def test_bad_files_name_their_path(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[world\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{p} is not valid TOML: ")):
        load_config(p)
    p.write_text("   \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{p} is empty;")):
        load_config(p)
    p.write_bytes(b"[run]\ndays = \xff\xfe\n")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{str(p)!r} is not UTF-8 text")):
        load_config(p)
    p.write_text("[world]\nn_users = -5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^The 'n_users' parameter of WorldConfig .* Got -5 instead\.$"):
        load_config(p)


def test_write_config_reads_back_equal_and_leaves_no_temporary(tmp_path):
    c = Config().with_overrides(seed=11, users=321)
    p = tmp_path / "config.toml"
    write_config(c, p)
    assert load_config(p) == c
    assert p.read_text(encoding="utf-8") == c.to_toml()
    # overwrite in place
    c2 = c.with_overrides(days=2)
    write_config(c2, p)
    assert load_config(p) == c2
    assert os.listdir(tmp_path) == ["config.toml"]


def test_write_config_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "config.toml"
    write_config(Config(), p)
    before = p.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_config(Config().with_overrides(seed=3), p)
    monkeypatch.undo()
    assert p.read_bytes() == before  # the old file, whole
    assert os.listdir(tmp_path) == ["config.toml"]  # no temporary left behind
