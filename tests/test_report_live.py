"""The report's live-and-commerce section: shown only when runs had live rooms or sellers, one row per policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sim import compare as C
from sim.live import LiveConfig
from sim.report import LIVE_COMMERCE_METRICS
from sim.sellers import SellerConfig
from tests.test_compare import fake_run, tiny_cfg


def _live_run(spec, run_dir, threads=1):
    """fake_run plus the live and commerce metrics (fixed_tilt: twice none's new-creator live reach)."""
    res = fake_run(spec, run_dir, threads)
    if spec.config.live.enabled or spec.config.sellers.enabled:
        p = Path(run_dir) / "metrics.json"
        m = json.loads(p.read_text())
        k = 2.0 if spec.config.policy.name == "fixed_tilt" else 1.0
        seed = spec.config.run.seed
        for i, name in enumerate(LIVE_COMMERCE_METRICS):
            m[name] = {"value": (10.0 + i + 0.1 * seed) * (k if name.startswith("new_") else 1.0), "unit": "x",
                       "description": name}
        p.write_text(json.dumps(m))
    return res


def _section(html_text):
    i = html_text.find('<h2 id="live-commerce"')
    return html_text[i:html_text.find("<h2", i + 5)] if i >= 0 else None


def test_live_commerce_section_only_with_live_or_sellers(tmp_path):
    off = tmp_path / "off"
    C.compare(tiny_cfg(), policies="none,fixed_tilt", seeds=2, out_dir=off, jobs=1, progress=False, run_fn=_live_run)
    assert _section((off / "report.html").read_text()) is None
    on = tmp_path / "on"
    cfg = tiny_cfg().replace(live=LiveConfig(enabled=True), sellers=SellerConfig(enabled=True))
    C.compare(cfg, policies="none,fixed_tilt", seeds=2, out_dir=on, jobs=1, progress=False, run_fn=_live_run)
    sec = _section((on / "report.html").read_text())
    assert sec is not None
    assert 'id="live-commerce-means"' in sec and 'id="live-commerce-paired"' in sec
    text = re.sub(r"<[^>]+>", " ", sec)
    assert "new creators&#x27; live-room impressions" in text and "new sellers&#x27; settlement GMV" in text
    # the means table: none then fixed_tilt; the paired table: fixed_tilt against none
    means = sec[sec.find('id="live-commerce-means"'):sec.find('id="live-commerce-paired"')]
    assert means.count("<tr>") == 3 and "fixed_tilt" in means
    paired = sec[sec.find('id="live-commerce-paired"'):]
    assert paired.count("<tr>") == 2 and "fixed_tilt" in paired
