"""Generate docs/behavior.md from the docstrings: one source for the formulas.

Run::

    .venv/bin/python docs/make_docs.py          # rewrite docs/behavior.md
    .venv/bin/python docs/make_docs.py --check  # exit 1 if it is stale

The page is the docstrings of :mod:`sim.behavior` (the module,
``impression``, the ``*_probability`` helpers, ``recipient_opens``,
``BehaviorConfig`` and its ``describe()`` rows), :mod:`ranker.signals` (the
module, ``fit_beta_prior``, ``user_affinity``) and :mod:`ranker.score` (the
module, ``ScoreWeights``), converted from reStructuredText/numpydoc to GitHub
Markdown: ``.. math::`` blocks become ```` ```math ```` blocks (aligned when
they use ``&`` or ``\\\\``), ``:math:`x``` becomes ``$`x`$``, simple tables
become Markdown tables, numpydoc sections become bullet lists. Change a
formula in its docstring, then re-run this script; ``tests/test_notebooks.py``
fails while the committed page differs from what this script makes.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "behavior.md"

NUMPYDOC_SECTIONS = {"Parameters", "Returns", "Raises", "Attributes", "Yields", "Other Parameters", "See Also"}

# --------------------------------------------------------------------------- inline markup

_ROLE = re.compile(r":(?:func|class|data|mod|meth|attr|obj|const|exc):`~?([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def inline(text: str) -> str:
    """Inline reST -> Markdown: math, cross-references, literals."""
    text = _MATH.sub(lambda m: f"$`{m[1]}`$", text)
    text = _ROLE.sub(lambda m: f"`{m[1]}`", text)
    return _LITERAL.sub(lambda m: f"`{m[1]}`", text)


# --------------------------------------------------------------------------- blocks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _math_block(lines: list[str]) -> list[str]:
    """One ```math block per blank-line-separated group; aligned when it uses & or \\\\."""
    out, group = [], []
    for ln in lines + [""]:
        if ln.strip():
            group.append(ln.strip())
            continue
        if group:
            body = "\n".join(group)
            if "&" in body or re.search(r"\\\\\s*$", body, re.M):
                body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
            out += ["```math", body, "```", ""]
            group = []
    return out


_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")
_UNDERLINE = re.compile(r"^\s*([-=~^])\1{2,}\s*$")


def _table(lines: list[str]) -> list[str]:
    """A reST simple table (border, [header, border,] rows, border) -> Markdown table."""
    border = lines[0]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    bounds = list(zip(starts, starts[1:] + [None]))
    borders = [i for i, ln in enumerate(lines) if _BORDER.match(ln)]
    has_header = len(borders) >= 3
    body_from = borders[1] + 1 if has_header else 1

    def cells(ln):
        return [ln[a:b].strip() if b is not None else ln[a:].strip() for a, b in bounds]

    header = cells(lines[1]) if has_header else [""] * len(bounds)
    rows = []
    for ln in lines[body_from:borders[-1]]:
        if not ln.strip():
            continue
        c = cells(ln)
        if rows and not c[0]:  # continuation of the previous row
            rows[-1] = [f"{p} {q}".strip() for p, q in zip(rows[-1], c)]
        else:
            rows.append(c)

    def md(c):
        return "| " + " | ".join(inline(x).replace("|", "\\|") for x in c) + " |"

    return [md(header), "|" + "---|" * len(bounds)] + [md(r) for r in rows] + [""]


def rst_to_md(doc: str, level: int = 3) -> str:
    """Convert a cleaned docstring (numpydoc, reST subset) to Markdown; headings start at ``level``."""
    lines = doc.expandtabs().splitlines()
    out: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        ln = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        # heading: text over an underline of the same length
        if ln.strip() and _UNDERLINE.match(nxt) and not _BORDER.match(nxt) and len(nxt.strip()) >= len(ln.strip()):
            section = ln.strip()
            out += [f"{'#' * level} {inline(section)}", ""]
            i += 2
            continue
        # math directive: ".. math::" with the formula on the same line and/or an indented block
        if ln.lstrip().startswith(".. math::"):
            base = _indent(ln)
            body = [ln.split(".. math::", 1)[1]] if ln.split(".. math::", 1)[1].strip() else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                if body and not lines[i].strip() and ln.split(".. math::", 1)[1].strip():
                    break  # the one-line form ends at the first blank line
                body.append(lines[i])
                i += 1
            out += _math_block(body)
            continue
        # simple table
        if _BORDER.match(ln):
            j = i + 1  # the table ends at a border followed by a blank line (or the end)
            while j < len(lines) and not (_BORDER.match(lines[j]) and (j + 1 == len(lines) or not lines[j + 1].strip())):
                j += 1
            out += _table(lines[i:j + 1])
            i = j + 1
            continue
        # literal block after "::"
        if ln.rstrip().endswith("::") and not ln.lstrip().startswith(".."):
            out.append(inline(ln.rstrip()[:-1]))
            base = _indent(ln)
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                block.append(lines[i])
                i += 1
            while block and not block[0].strip():
                block.pop(0)
            while block and not block[-1].strip():
                block.pop()
            cut = min((_indent(b) for b in block if b.strip()), default=0)
            out += ["", "```text"] + [b[cut:] for b in block] + ["```", ""]
            continue
        # definition list / numpydoc entry: an unindented term followed by an indented description
        if (ln.strip() and _indent(ln) == 0 and nxt.strip() and _indent(nxt) > 0
                and not ln.lstrip().startswith(("- ", "* "))):
            term = ln.strip()
            if section in NUMPYDOC_SECTIONS and " : " in term:
                name, typ = term.split(" : ", 1)
                head = f"- **{inline(name)}** ({inline(typ)})"
            else:
                head = f"- **{inline(term)}**"
            i += 1
            desc = []
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > 0:
                desc.append(lines[i].strip())
                i += 1
            out.append(f"{head}: {inline(' '.join(desc))}")
            continue
        if section in NUMPYDOC_SECTIONS and ln.strip() and _indent(ln) == 0:
            if " : " in ln:  # an entry without a description
                name, typ = ln.strip().split(" : ", 1)
                out.append(f"- **{inline(name)}** ({inline(typ)})")
            else:
                out.append(f"- **{inline(ln.strip())}**")
            i += 1
            continue
        out.append(inline(ln))
        i += 1
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


# --------------------------------------------------------------------------- the page


def _doc(obj) -> str:
    d = inspect.getdoc(getattr(obj, "py_func", obj))
    if not d:
        raise ValueError(f"{obj!r} has no docstring")
    return d


def _signature(name: str, obj) -> str:
    f = getattr(obj, "py_func", obj)
    sig = inspect.signature(f).replace(return_annotation=inspect.Signature.empty)
    return f"`{name}{sig}`"


def _param_table(section_cls) -> str:
    rows = ["| parameter | default | allowed | meaning |", "|---|---|---|---|"]
    for name, allowed, default, doc in section_cls.describe():
        rows.append(f"| `{name}` | `{default!r}` | {allowed} | {doc.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def _demographics_table(world) -> str:
    rows = ["| grouping | level | share of users | activity factor | topic tilt |", "|---|---|---|---|---|"]
    for g, names, shares, mult in (("age band", world.AGE_BANDS, world.AGE_SHARES, world.ACTIVITY_BY_AGE),
                                    ("gender", world.GENDERS, world.GENDER_SHARES, world.ACTIVITY_BY_GENDER),
                                    ("city tier", world.CITY_TIERS, world.CITY_SHARES, world.ACTIVITY_BY_TIER)):
        key = {"age band": "age", "gender": "gender", "city tier": "city"}[g]
        for n, sh, m in zip(names, shares, mult):
            rows.append(f"| {g} | {n} | {100 * sh:.1f} % | {m:g} | {world.INTEREST_TILT[key]:g} |")
    return "\n".join(rows) + "\n"


def generate() -> str:
    """The page, as a string (deterministic: docstrings and declared defaults only)."""
    sys.path.insert(0, str(ROOT))
    from ranker import score, signals
    from sim import behavior, creators, demographics, engine, live, sellers, users, world

    parts = [
        "# The behaviour model and the signal formulas",
        "",
        "<!-- Generated by docs/make_docs.py from the docstrings of sim.behavior, sim.users, sim.creators, sim.world, ranker.signals, "
        "ranker.score, sim.live and sim.sellers. Do not edit by hand: change the docstring, then run `.venv/bin/python docs/make_docs.py`. "
        "tests/test_notebooks.py fails while this page is stale. -->",
        "",
        "What the simulated viewer does with one impression (section 1), how the ranker turns logged "
        "counters into smoothed signals (section 2), and how it scores them (section 3). Every formula "
        "here is the docstring of the code that computes it. The ranker sees only section 2's inputs "
        "(logged counters), never section 1's latent quality. More on the signals, the counters CSV and "
        "KuaiRand: [signals.md](signals.md).",
        "",
        "1. [The behaviour model](#1-the-behaviour-model-simbehavior)",
        "2. [From counters to signals](#2-from-counters-to-signals-rankersignals)",
        "3. [The hand-set score](#3-the-hand-set-score-rankerscore)",
        "",
        "## 1. The behaviour model (`sim.behavior`)",
        "",
        rst_to_md(_doc(behavior), 3),
        "### One impression",
        "",
        _signature("sim.behavior.impression", behavior.impression),
        "",
        rst_to_md(_doc(behavior.impression), 4),
        "### A shared card's recipient",
        "",
        _signature("sim.behavior.recipient_opens", behavior.recipient_opens),
        "",
        rst_to_md(_doc(behavior.recipient_opens), 4),
        "### Each probability on its own",
        "",
        "Scalar helpers (for tests and notebooks) giving each formula of `impression` alone.",
        "",
    ]
    for name in ("play_probability", "completion_probability", "like_probability", "comment_probability",
                 "share_probability", "follow_probability", "open_probability"):
        fn = getattr(behavior, name)
        parts += [f"#### `{name}`", "", _signature(name, fn), "", rst_to_md(_doc(fn), 5)]
    parts += [
        "### Parameters: the `[behavior]` section",
        "",
        rst_to_md(_doc(behavior.BehaviorConfig), 4),
        _param_table(behavior.BehaviorConfig),
        "### Reaction to the AI-generated label",
        "",
        "The platform says labelled content is ranked on quality alone, so by default viewers do not react "
        "to the label (`ai_label_play = 0`). Set `[behavior] ai_label_play` to make them react: a negative "
        "value makes viewers skip labelled posts more often, which the report's AI-label parity audit then "
        "shows as a gap at matched engagement but not at matched quality.",
        "",
        _signature("sim.engine._hook_seen", engine._hook_seen),
        "",
        rst_to_md(_doc(engine._hook_seen), 4),
        "### Users who respond: satiation, interest drift, sessions and return (`sim.users`)",
        "",
        rst_to_md(_doc(users), 4),
        _signature("sim.users.end_of_day", users.end_of_day),
        "",
        rst_to_md(_doc(users.end_of_day), 4),
        "### Who the viewers are: demographics and activity (`sim.demographics`)",
        "",
        "Age band, gender and city tier are drawn to the platform's published audience shares (users aged "
        "25 and over are 97.7 %; men to women about 4 : 6; tier-1 and new tier-1 cities 32 %, tier-2 and "
        "tier-3 40 %, tier-4 and below plus overseas 28 %). How the 97.7 % splits across the bands above 25 "
        "is not published; the split below is ours. They shape two things: how often a user opens the feed "
        "(activity) and which topics they like (interests). The sizes of both effects are our assumptions, "
        "in the direction public audience reports give (the platform's users skew older; lower-tier cities "
        "and women, the majority, spend somewhat more time on short video); no published figure gives them. "
        "The report also groups users by activity level: light, medium and heavy are the thirds of users by "
        "requests per active day.",
        "",
        _demographics_table(world),
        "",
        _signature("sim.demographics.demographic_effects", demographics.demographic_effects),
        "",
        rst_to_md(_doc(demographics.demographic_effects), 4),
        "### Creators who respond: motivation, posting and quitting (`sim.creators`)",
        "",
        rst_to_md(_doc(creators), 5),
        "#### Parameters: the `[creators]` section",
        "",
        _param_table(creators.CreatorConfig),
        "## 2. From counters to signals (`ranker.signals`)",
        "",
        rst_to_md(_doc(signals), 3),
        "### The population prior: empirical Bayes",
        "",
        _signature("ranker.signals.fit_beta_prior", signals.fit_beta_prior),
        "",
        rst_to_md(_doc(signals.fit_beta_prior), 4),
        "### The viewer's topic affinity",
        "",
        _signature("ranker.signals.user_affinity", signals.user_affinity),
        "",
        rst_to_md(_doc(signals.user_affinity), 4),
        "## 3. The hand-set score (`ranker.score`)",
        "",
        rst_to_md(_doc(score), 3),
        "### The weights: the `[weights]` section",
        "",
        rst_to_md(_doc(score.ScoreWeights), 4),
        _param_table(score.ScoreWeights),
        "## 4. Live rooms and sellers (`sim.live`, `sim.sellers`)",
        "",
        "Both off by default; what is assumed and what the platform said: `docs/live_and_sellers.md`.",
        "",
        "### Live rooms (`sim.live`)",
        "",
        rst_to_md(_doc(live), 4),
        "#### One live impression",
        "",
        _signature("sim.live.live_impression", live.live_impression),
        "",
        rst_to_md(_doc(live.live_impression), 5),
        "#### The schedule",
        "",
        _signature("sim.live.draw_schedule", live.draw_schedule),
        "",
        rst_to_md(_doc(live.draw_schedule), 5),
        "#### Parameters: the `[live]` section",
        "",
        _param_table(live.LiveConfig),
        "### Sellers and the seller assessment (`sim.sellers`)",
        "",
        rst_to_md(_doc(sellers), 4),
        "#### Purchases, returns, complaints, ratings",
        "",
        _signature("sim.sellers.commerce_tick", sellers.commerce_tick),
        "",
        rst_to_md(_doc(sellers.commerce_tick), 5),
        "#### The daily assessment",
        "",
        _signature("sim.sellers.assess", sellers.assess),
        "",
        rst_to_md(_doc(sellers.assess), 5),
        _signature("sim.sellers.selling_score", sellers.selling_score),
        "",
        rst_to_md(_doc(sellers.selling_score), 5),
        _signature("sim.sellers.log_score", sellers.log_score),
        "",
        rst_to_md(_doc(sellers.log_score), 5),
        "#### Parameters: the `[sellers]` section",
        "",
        _param_table(sellers.SellerConfig),
    ]
    text = "\n".join(parts)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/behavior.md differs from the docstrings")
    a = ap.parse_args(argv)
    text = generate()
    if a.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT} is stale: run .venv/bin/python docs/make_docs.py", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
