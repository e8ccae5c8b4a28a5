r"""A model directory is untrusted input: check it whole before LightGBM or the replay sees it.

LightGBM parses ``model.txt`` in C++ (trees in parallel under OpenMP) and
trusts what it reads: a truncated file, an edited ``tree_sizes``, a split
index past the features, a child index past the tree or a huge
``num_leaves`` abort the process (SIGABRT, SIGSEGV) or read stray memory.
So :func:`check_model_dir` parses the text format itself, in Python, and
accepts only a model this package could have written:

- the header: ``tree`` first, ``version`` v3/v4, one class, one tree per
  iteration, ``max_feature_idx`` + 1 feature names (each a known feature,
  none repeated) and as many ``feature_infos``, no ``average_output``
  (random forests), ``tree_sizes`` (when present) naming the byte length of
  every tree block;
- every tree: ``Tree=k`` in order; ``num_leaves`` in ``[1, MAX_LEAVES]``;
  ``num_cat = 0`` and ``is_linear = 0``; ``split_feature``, ``threshold``,
  ``decision_type``, ``left_child``, ``right_child`` of ``num_leaves - 1``
  values and ``leaf_value`` of ``num_leaves``; split features in
  ``[0, max_feature_idx]``; thresholds finite; decision types numerical
  (``<=``); children forming one tree (every node and leaf reached exactly
  once from the root); leaf values finite with
  :math:`|v| \le` :data:`MAX_ABS_VALUE`; numbers in plain decimal
  (``nan``, ``inf``, ``1_0`` and hexadecimal are refused);
- ``end of trees`` after the last tree; what follows it (importances,
  training parameters) is not read, and not handed to LightGBM;
- ``weights.json`` (required: without it the learned ranker's per-candidate
  terms would silently be 0): a JSON object whose ``distillation.weights``
  maps every name of :data:`DISTILL_NAMES` to a finite number with
  :math:`|w| \le` :data:`MAX_ABS_WEIGHT`, ``distillation.intercept`` (when
  present) finite, and ``feature_names`` (when present) equal to the
  model's.

A problem is one :class:`ModelCheckError` (a ``ValueError``) whose message
names the file, the tree (when in one) and the field. The parsed model comes
back as :class:`CheckedModel`, with :meth:`CheckedModel.dump` in the shape of
``lightgbm.Booster.dump_model()`` so the tree replay is built without
LightGBM reading the file first.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

#: Largest ``num_leaves`` accepted (LightGBM's own upper bound).
MAX_LEAVES = 131_072
#: Largest number of trees accepted.
MAX_TREES = 100_000
#: Largest number of model features accepted.
MAX_FEATURES = 10_000
#: Largest ``model.txt`` accepted, bytes.
MAX_MODEL_BYTES = 1 << 30
#: Largest ``weights.json`` accepted, bytes.
MAX_WEIGHTS_BYTES = 64 << 20
#: Bound on a leaf value (raw score units); a ranking model's leaves are far smaller.
MAX_ABS_VALUE = 1e9
#: Bound on a distillation weight in ``weights.json``.
MAX_ABS_WEIGHT = 1e6
#: Names ``weights.json``'s ``distillation.weights`` must give (the hand-set formula's features).
DISTILL_NAMES = ("play3", "completion", "avg_play", "like", "comment", "share_ft", "rr_reach",
                 "affinity", "regular_reader")

MODEL_FILE = "model.txt"
WEIGHTS_FILE = "weights.json"

_INT = re.compile(r"[+-]?\d{1,10}")
_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?")
_NAME = re.compile(r"[^\s=]+")
_TREE_FIELDS = {
    # field: (kind, length: "n" leaves, "n-1" internal nodes, "1" scalar; required)
    "num_leaves": ("int", "1", True),
    "num_cat": ("int", "1", True),
    "split_feature": ("int", "n-1", True),
    "split_gain": ("float", "n-1", False),
    "threshold": ("float", "n-1", True),
    "decision_type": ("int", "n-1", True),
    "left_child": ("int", "n-1", True),
    "right_child": ("int", "n-1", True),
    "leaf_value": ("float", "n", True),
    "leaf_weight": ("float", "n", False),
    "leaf_count": ("int", "n", False),
    "internal_value": ("float", "n-1", False),
    "internal_weight": ("float", "n-1", False),
    "internal_count": ("int", "n-1", False),
    "is_linear": ("int", "1", False),
    "shrinkage": ("float", "1", False),
}
_MISSING_TYPES = {0: "None", 1: "Zero", 2: "NaN"}
#: Objectives of single-output models LightGBM writes (the replay reads raw scores only).
_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma", "tweedie",
               "binary", "cross_entropy", "cross_entropy_lambda", "lambdarank", "rank_xendcg")


class ModelCheckError(ValueError):
    """A model directory that must not be loaded: one line naming file, tree and field."""


@dataclass(frozen=True)
class CheckedTree:
    """One tree as parsed: ``num_leaves`` and its arrays (lists), already checked."""

    num_leaves: int
    split_feature: list
    threshold: list
    decision_type: list
    left_child: list
    right_child: list
    leaf_value: list


@dataclass(frozen=True)
class CheckedModel:
    """A checked model directory.

    Attributes
    ----------
    feature_names : tuple of str
    trees : tuple of CheckedTree
    weights : dict
        The content of ``weights.json``.
    text : str
        ``model.txt`` up to and including its ``end of trees`` line: the
        header and trees checked here. What follows in the file (feature
        importances, training parameters) is never handed to LightGBM, whose
        parser aborts the process on a damaged parameter line.
    """

    feature_names: tuple
    trees: tuple
    weights: dict
    text: str

    def dump(self) -> dict:
        """The model in the shape of ``lightgbm.Booster.dump_model()`` (the keys the replay reads)."""
        return {"num_class": 1, "num_tree_per_iteration": 1, "max_feature_idx": len(self.feature_names) - 1,
                "feature_names": list(self.feature_names),
                "tree_info": [{"tree_index": k, "num_cat": 0, "tree_structure": _structure(t)}
                              for k, t in enumerate(self.trees)]}


def _structure(t: CheckedTree) -> dict:
    if t.num_leaves == 1:
        return {"leaf_value": t.leaf_value[0]}

    def node(i):
        dt = t.decision_type[i]
        return {"split_index": i, "split_feature": t.split_feature[i], "threshold": t.threshold[i],
                "decision_type": "<=", "default_left": bool(dt & 2),
                "missing_type": _MISSING_TYPES[(dt >> 2) & 3]}

    root = node(0)
    stack = [(root, 0)]
    while stack:
        nd, i = stack.pop()
        for key, c in (("left_child", t.left_child[i]), ("right_child", t.right_child[i])):
            if c >= 0:
                child = node(c)
                nd[key] = child
                stack.append((child, c))
            else:
                nd[key] = {"leaf_index": ~c, "leaf_value": t.leaf_value[~c]}
    return root


def _fail(where: str, msg: str):
    raise ModelCheckError(f"{where}: {msg}")


def _parse_values(where, field, raw, kind, lo=None, hi=None):
    out = []
    for k, tok in enumerate(raw.split(" ") if raw else []):
        if kind == "int":
            if not _INT.fullmatch(tok):
                _fail(where, f"field {field!r} value {k} is {tok[:40]!r}, not an integer")
            v = int(tok)
            if not -(2**31) <= v < 2**31:
                _fail(where, f"field {field!r} value {k} is {tok[:40]!r}, outside the 32-bit range")
        else:
            if not _NUM.fullmatch(tok):
                _fail(where, f"field {field!r} value {k} is {tok[:40]!r}, not a finite decimal number")
            v = float(tok)
            if not math.isfinite(v):
                _fail(where, f"field {field!r} value {k} is {tok[:40]!r}, not finite")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            _fail(where, f"field {field!r} value {k} is {tok[:40]}, outside [{lo}, {hi}]")
        out.append(v)
    return out


def _key_values(where, lines, start, stop, what):
    """``key=value`` lines in ``lines[start:stop]`` (blank lines skipped), refusing repeats."""
    kv = {}
    for i in range(start, stop):
        line = lines[i]
        if not line:
            continue
        key, sep, val = line.partition("=")
        if not sep or not _NAME.fullmatch(key):
            _fail(where, f"line {i + 1} of the {what} is {line[:60]!r}, not key=value")
        if "=" in val:
            _fail(where, f"line {i + 1} of the {what} ({key}=...) holds more than one '='")
        if key in kv:
            _fail(where, f"field {key!r} appears twice in the {what} (line {i + 1})")
        kv[key] = val
    return kv


def parse_model_text(text: str, known_features, where: str = MODEL_FILE) -> tuple[tuple, tuple]:
    """Check LightGBM model text; return ``(feature_names, trees)``.

    Parameters
    ----------
    text : str
        The content of ``model.txt``.
    known_features : sequence of str
        Feature names the ranker can compute; every model feature must be one.
    where : str
        The file's name, for messages.

    Raises
    ------
    ModelCheckError
    """
    if "\x00" in text:
        _fail(where, "holds a NUL byte: not a LightGBM text model")
    if "\r" in text:
        _fail(where, "has carriage returns (\\r): LightGBM text models use \\n line ends")
    lines = text.split("\n")
    if not lines or lines[0] != "tree":
        _fail(where, f"first line is {lines[0][:40]!r}, not 'tree': not a LightGBM text model")
    tree_starts = [i for i, ln in enumerate(lines) if ln.startswith("Tree=")]
    try:
        end = lines.index("end of trees")
    except ValueError:
        _fail(where, "no 'end of trees' line: the file is truncated or not a LightGBM text model")
    tree_starts = [i for i in tree_starts if i < end]
    header_end = tree_starts[0] if tree_starts else end
    h = _key_values(where, lines, 1, header_end, "header")
    for key in ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
                "feature_names", "feature_infos"):
        if key not in h:
            _fail(where, f"header field {key!r} is missing")
    if h["version"] not in ("v3", "v4"):
        _fail(where, f"header field 'version' is {h['version'][:20]!r}; only v3 and v4 are read")
    for key in ("num_class", "num_tree_per_iteration"):
        if _parse_values(where, key, h[key], "int") != [1]:
            _fail(where, f"header field {key!r} is {h[key][:20]!r}; only single-output models (1) can be replayed")
    _parse_values(where, "label_index", h["label_index"], "int", 0)
    mfi = _parse_values(where, "max_feature_idx", h["max_feature_idx"], "int", 0, MAX_FEATURES - 1)
    if len(mfi) != 1:
        _fail(where, f"header field 'max_feature_idx' is {h['max_feature_idx'][:20]!r}, not one integer")
    n_feat = mfi[0] + 1
    names = tuple(h["feature_names"].split(" ")) if h["feature_names"] else ()
    if len(names) != n_feat:
        _fail(where, f"header field 'feature_names' has {len(names)} names but max_feature_idx={mfi[0]} "
                     f"needs {n_feat}")
    known = set(known_features)
    for j, nm in enumerate(names):
        if nm not in known:
            _fail(where, f"header field 'feature_names' name {j} is {nm[:40]!r}, not a ranker feature; "
                         f"known: {', '.join(known_features)}")
    dup = sorted({nm for nm in names if names.count(nm) > 1})
    if dup:
        _fail(where, f"header field 'feature_names' repeats {', '.join(dup)}")
    infos = h["feature_infos"].split(" ") if h["feature_infos"] else []
    if len(infos) != n_feat:
        _fail(where, f"header field 'feature_infos' has {len(infos)} entries, not {n_feat}")
    for j, info in enumerate(infos):
        lo_hi = info[1:-1].split(":") if info.startswith("[") and info.endswith("]") else None
        if info != "none" and not (lo_hi and len(lo_hi) == 2 and all(_NUM.fullmatch(x) for x in lo_hi)):
            _fail(where, f"header field 'feature_infos' entry {j} is {info[:40]!r}; expected [min:max] or none "
                         "(numerical features only)")
    obj = h.get("objective", "").split(" ")
    if obj[0] not in _OBJECTIVES or not all(
            len(kv) == 2 and re.fullmatch(r"[a-z_]+", kv[0]) and _NUM.fullmatch(kv[1])
            for kv in (tok.split(":") for tok in obj[1:])):
        _fail(where, f"header field 'objective' is {h.get('objective', '(missing)')[:40]!r}; expected one of "
                     f"{', '.join(_OBJECTIVES)} with name:number options")
    if "average_output" in h:
        _fail(where, "header field 'average_output' is set: random-forest models cannot be replayed")
    if len(tree_starts) > MAX_TREES:
        _fail(where, f"has {len(tree_starts)} trees; at most {MAX_TREES} are read")
    bounds = tree_starts + [end]
    # byte length of each tree block as LightGBM counts it: from 'Tree=k' to the next tree or the end
    sizes = [sum(len(ln.encode("utf-8")) + 1 for ln in lines[bounds[k]:bounds[k + 1]])
             for k in range(len(tree_starts))]
    if "tree_sizes" in h:
        ts = _parse_values(where, "tree_sizes", h["tree_sizes"], "int", 0)
        if len(ts) != len(tree_starts):
            _fail(where, f"header field 'tree_sizes' lists {len(ts)} trees but the file has {len(tree_starts)}")
        for k, (a, b) in enumerate(zip(ts, sizes)):
            if a != b:
                _fail(where, f"header field 'tree_sizes' entry {k} is {a} but tree {k} is {b} bytes long")
    trees = []
    for k in range(len(tree_starts)):
        s = bounds[k]
        if lines[s] != f"Tree={k}":
            _fail(where, f"line {s + 1} is {lines[s][:40]!r}; expected 'Tree={k}' (trees numbered in order)")
        trees.append(_check_tree(f"{where}: tree {k}", lines, s + 1, bounds[k + 1], n_feat))
    return names, tuple(trees)


def _check_tree(where, lines, start, stop, n_feat) -> CheckedTree:
    # LightGBM reads a tree's key=value lines up to the first empty line: nothing may follow it
    end = next((i for i in range(start, stop) if not lines[i]), stop)
    for i in range(end, stop):
        if lines[i]:
            _fail(where, f"line {i + 1} ({lines[i][:40]!r}) follows an empty line inside the tree")
    kv = _key_values(where, lines, start, end, "tree")
    for key in kv:
        if key not in _TREE_FIELDS:
            what = ("categorical splits" if key.startswith("cat_") else
                    "linear trees" if key.startswith(("leaf_coeff", "leaf_const", "leaf_features", "num_features"))
                    else "an unknown field")
            _fail(where, f"field {key!r} ({what}) cannot be replayed")
    if "num_leaves" not in kv:
        _fail(where, "field 'num_leaves' is missing")
    n = _parse_values(where, "num_leaves", kv["num_leaves"], "int", 1, MAX_LEAVES)
    if len(n) != 1:
        _fail(where, f"field 'num_leaves' is {kv['num_leaves'][:20]!r}, not one integer")
    n = n[0]
    vals = {}
    for key, (kind, length, required) in _TREE_FIELDS.items():
        want = {"1": 1, "n": n, "n-1": n - 1}[length]
        if key not in kv:
            if required and want > 0:
                _fail(where, f"field {key!r} is missing")
            continue
        v = _parse_values(where, key, kv[key], kind)
        if len(v) != want:
            _fail(where, f"field {key!r} has {len(v)} values; num_leaves={n} needs {want}")
        vals[key] = v
    if vals["num_cat"] != [0]:
        _fail(where, f"field 'num_cat' is {vals['num_cat'][0]}: categorical splits cannot be replayed")
    if vals.get("is_linear", [0]) != [0]:
        _fail(where, "field 'is_linear' is set: linear trees cannot be replayed")
    if "shrinkage" in vals and not vals["shrinkage"][0] > 0:
        _fail(where, f"field 'shrinkage' is {vals['shrinkage'][0]}; must be > 0")
    leaf = vals["leaf_value"]
    for i, v in enumerate(leaf):
        if abs(v) > MAX_ABS_VALUE:
            _fail(where, f"field 'leaf_value' value {i} is {v!r}; |value| must be <= {MAX_ABS_VALUE:g}")
    m = n - 1
    sf = vals.get("split_feature", [])
    for i, f in enumerate(sf):
        if not 0 <= f < n_feat:
            _fail(where, f"field 'split_feature' value {i} is {f}; the model has features 0..{n_feat - 1}")
    for i, dt in enumerate(vals.get("decision_type", [])):
        if dt & 1:
            _fail(where, f"field 'decision_type' value {i} is {dt}: categorical splits cannot be replayed")
        if not 0 <= dt < 16 or (dt >> 2) & 3 == 3:
            _fail(where, f"field 'decision_type' value {i} is {dt}; allowed: a numerical split (0..11, "
                         "missing type None/Zero/NaN)")
    left, right = vals.get("left_child", []), vals.get("right_child", [])
    seen_node = [False] * m
    seen_leaf = [False] * n
    for side, arr in (("left_child", left), ("right_child", right)):
        for i, c in enumerate(arr):
            if c >= 0:
                if not 0 < c < m:
                    _fail(where, f"field {side!r} value {i} is {c}; an internal child must be in 1..{m - 1}")
            elif not 0 <= ~c < n:
                _fail(where, f"field {side!r} value {i} is {c}; a leaf child must be in -1..{-n}")
    if m > 0:
        # every node and leaf reached exactly once from the root: a tree, no cycle, nothing shared
        stack = [0]
        seen_node[0] = True
        while stack:
            i = stack.pop()
            for side, c in (("left_child", left[i]), ("right_child", right[i])):
                if c >= 0:
                    if seen_node[c]:
                        _fail(where, f"field {side!r} value {i} is {c}: node {c} is reached twice (not a tree)")
                    seen_node[c] = True
                    stack.append(c)
                else:
                    if seen_leaf[~c]:
                        _fail(where, f"field {side!r} value {i} is {c}: leaf {~c} is reached twice (not a tree)")
                    seen_leaf[~c] = True
        if not all(seen_node):
            _fail(where, f"fields 'left_child'/'right_child' leave node {seen_node.index(False)} unreachable")
        if not all(seen_leaf):
            _fail(where, f"fields 'left_child'/'right_child' leave leaf {seen_leaf.index(False)} unreachable")
    return CheckedTree(num_leaves=n, split_feature=sf, threshold=vals.get("threshold", []),
                       decision_type=vals.get("decision_type", []), left_child=left, right_child=right,
                       leaf_value=leaf)


def check_weights(data, feature_names, where: str = WEIGHTS_FILE) -> dict:
    """Check the parsed content of ``weights.json`` against its schema (see the module docstring)."""
    if not isinstance(data, dict):
        _fail(where, f"must hold a JSON object; got a {type(data).__name__}")
    d = data.get("distillation")
    if not isinstance(d, dict):
        _fail(where, "field 'distillation' is missing or not an object")
    w = d.get("weights")
    if not isinstance(w, dict):
        _fail(where, "field 'distillation.weights' is missing or not an object")
    for name in DISTILL_NAMES:
        if name not in w:
            _fail(where, f"field 'distillation.weights' has no {name!r}; needs {', '.join(DISTILL_NAMES)}")
    for name, v in w.items():
        if name not in DISTILL_NAMES:
            _fail(where, f"field 'distillation.weights' names {str(name)[:40]!r}, not one of {', '.join(DISTILL_NAMES)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            _fail(where, f"field 'distillation.weights.{name}' is {v!r:.40}, not a number")
        if not math.isfinite(v) or abs(v) > MAX_ABS_WEIGHT:
            _fail(where, f"field 'distillation.weights.{name}' is {v!r}; must be finite with |w| <= {MAX_ABS_WEIGHT:g}")
    if "intercept" in d:
        v = d["intercept"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            _fail(where, f"field 'distillation.intercept' is {v!r:.40}, not a finite number")
    if "feature_names" in data and data["feature_names"] != list(feature_names):
        _fail(where, f"field 'feature_names' is {data['feature_names']!r:.80}; model.txt has {list(feature_names)}")
    return data


def _read_text(path: Path, limit: int) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if not path.is_file():
        raise ModelCheckError(f"{path}: not a regular file")
    if size > limit:
        _fail(str(path), f"is {size:,} bytes; at most {limit:,} are read")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(str(path), f"is not UTF-8 text (byte {e.start})")


def check_model_dir(model_dir, known_features) -> CheckedModel:
    """Check ``model.txt`` and ``weights.json`` of a model directory (nothing else reads them first).

    Parameters
    ----------
    model_dir : str or path-like
    known_features : sequence of str
        The ranker's feature names (``ranker.learn.FEATURE_NAMES``).

    Returns
    -------
    CheckedModel

    Raises
    ------
    FileNotFoundError
        The directory, ``model.txt`` or ``weights.json`` is missing.
    ModelCheckError
        Anything else, in one line naming file, tree and field.
    """
    d = Path(model_dir)
    if not d.is_dir():
        what = "is not a directory" if d.exists() else "does not exist"
        raise FileNotFoundError(f"model directory {str(d)!r} {what} (write one with `ranksim learn --out DIR`)")
    mpath, wpath = d / MODEL_FILE, d / WEIGHTS_FILE
    if not mpath.exists():
        raise FileNotFoundError(f"{d}: no {MODEL_FILE} (train one with `ranksim learn --out {d}`)")
    text = _read_text(mpath, MAX_MODEL_BYTES)
    names, trees = parse_model_text(text, known_features, str(mpath))
    if not wpath.exists():
        raise FileNotFoundError(f"{d}: no {WEIGHTS_FILE}; the learned ranker needs its distillation weights "
                                f"(written by `ranksim learn` beside {MODEL_FILE})")
    wtext = _read_text(wpath, MAX_WEIGHTS_BYTES)
    try:
        data = json.loads(wtext)
    except ValueError as e:
        _fail(str(wpath), f"not valid JSON: {e}")
    check_weights(data, names, str(wpath))
    safe = text[: text.index("\nend of trees") + len("\nend of trees")] + "\n"
    return CheckedModel(feature_names=names, trees=trees, weights=data, text=safe)

