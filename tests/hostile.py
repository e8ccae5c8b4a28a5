"""Helpers of the hostile-input suite: a small valid model directory and ways to damage it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ranker.model_check import DISTILL_NAMES

#: Model features of the fixture model (a subset of ranker.learn.FEATURE_NAMES).
FIXTURE_FEATURES = ("play3", "completion", "avg_play", "like", "log_impressions")


def train_model_text(n_trees=4, num_leaves=7, seed=0) -> str:
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, len(FIXTURE_FEATURES)))
    X[::9, 2] = np.nan
    y = X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 3] + 0.1 * rng.normal(size=400)
    params = {"objective": "regression", "num_leaves": num_leaves, "verbose": -1, "seed": seed,
              "deterministic": True, "force_row_wise": True, "num_threads": 1, "min_data_in_leaf": 5}
    b = lgb.train(params, lgb.Dataset(X, y, feature_name=list(FIXTURE_FEATURES)), num_boost_round=n_trees)
    return b.model_to_string()


def weights_doc(**over) -> dict:
    doc = {"format": 1, "feature_names": list(FIXTURE_FEATURES),
           "distillation": {"features": list(DISTILL_NAMES), "weights": {n: 0.1 for n in DISTILL_NAMES},
                            "intercept": 0.0, "r2_holdout": float("nan")}}
    doc.update(over)
    return doc


def write_model_dir(d: Path, text: str, weights=None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.txt").write_text(text)
    if weights is not False:
        w = weights_doc() if weights is None else weights
        (d / "weights.json").write_text(w if isinstance(w, str) else json.dumps(w))
    return d


def tree_blocks(text: str) -> tuple[str, list[str], str]:
    """(header, tree blocks, tail) of LightGBM model text, split at 'Tree=' lines and 'end of trees'."""
    end = text.index("end of trees")
    starts = [m.start() for m in re.finditer(r"^Tree=", text[:end], flags=re.M)]
    header = text[:starts[0]]
    blocks = [text[a:b] for a, b in zip(starts, starts[1:] + [end])]
    return header, blocks, text[end:]


def fix_sizes(text: str) -> str:
    """Recompute ``tree_sizes`` so that an in-place edit is caught by the field it breaks."""
    header, blocks, tail = tree_blocks(text)
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    header = re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", header, flags=re.M)
    return header + "".join(blocks) + tail


def set_field(text: str, tree: int, field: str, value: str, resize=True) -> str:
    """Replace ``field=...`` in tree ``tree`` (or in the header when tree is None) by ``field=value``."""
    header, blocks, tail = tree_blocks(text)
    pat = re.compile(rf"^{re.escape(field)}=.*$", flags=re.M)
    if tree is None:
        header, n = pat.subn(f"{field}={value}", header, count=1)
    else:
        blocks[tree], n = pat.subn(f"{field}={value}", blocks[tree], count=1)
    assert n == 1, field
    out = header + "".join(blocks) + tail
    return fix_sizes(out) if resize else out


def get_field(text: str, tree: int, field: str) -> list[str]:
    header, blocks, _ = tree_blocks(text)
    src = header if tree is None else blocks[tree]
    return re.search(rf"^{re.escape(field)}=(.*)$", src, flags=re.M).group(1).split(" ")


def edit_value(text: str, tree: int, field: str, index: int, value, resize=True) -> str:
    vals = get_field(text, tree, field)
    vals[index] = str(value)
    return set_field(text, tree, field, " ".join(vals), resize)


def drop_field(text: str, tree: int, field: str) -> str:
    header, blocks, tail = tree_blocks(text)
    blocks[tree] = re.sub(rf"^{re.escape(field)}=.*\n", "", blocks[tree], count=1, flags=re.M)
    return fix_sizes(header + "".join(blocks) + tail)
