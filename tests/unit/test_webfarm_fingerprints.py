"""Each site's technology labels are exactly what Wappalyzer-format fingerprints find in its homepage.

The fingerprints (GPL) are read in place from the workplace's shared data, never copied into the repo;
the test is skipped where they are absent. Only static checks are evaluated: headers, cookies, meta,
script src, inline scripts, html and DOM selectors (no JS globals, no DNS).
"""

from __future__ import annotations

import json
import re

import pytest
from selectolax.lexbor import LexborHTMLParser

from hunter.demo.sample_data import DATA_DIR, generate_bench_sites
from hunter.demo.site_pages import render_site_response
from tests.shared_data import SHARED_DATA

FINGERPRINTS = SHARED_DATA / "webappanalyzer" / "technologies"
SITES = json.loads((DATA_DIR / "sites.json").read_text(encoding="utf-8"))


def _list(v: object) -> list:
    return v if isinstance(v, list) else [v]


def _rx(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern.split("\\;")[0], re.I)
    except re.error:
        return None


def _detect(techs: dict[str, dict], body: str, headers: list[tuple[str, str]]) -> set[str]:
    tree = LexborHTMLParser(body)
    hdrs = {k.lower(): v for k, v in headers if k.lower() != "set-cookie"}
    cookies = dict(v.split(";", 1)[0].split("=", 1) for k, v in headers if k.lower() == "set-cookie")
    srcs = [n.attributes.get("src") or "" for n in tree.css("script[src]")]
    inline = [n.text() for n in tree.css("script") if not n.attributes.get("src")]
    metas: dict[str, list[str]] = {}
    for n in tree.css("meta"):
        key = (n.attributes.get("name") or n.attributes.get("property") or "").lower()
        metas.setdefault(key, []).append(n.attributes.get("content") or "")

    def hit(t: dict) -> bool:
        for h, p in (t.get("headers") or {}).items():
            if h.lower() in hdrs and (rx := _rx(p)) and rx.search(hdrs[h.lower()]):
                return True
        for c, p in (t.get("cookies") or {}).items():
            if c in cookies and (rx := _rx(p)) and rx.search(cookies[c]):
                return True
        for m, p in (t.get("meta") or {}).items():
            if (rx := _rx(p)) and any(rx.search(v) for v in metas.get(m.lower(), [])):
                return True
        checks = ((t.get("scriptSrc"), srcs), (t.get("scripts"), inline), (t.get("html"), [body]))
        for patterns, texts in checks:
            for p in _list(patterns or []):
                if (rx := _rx(p)) and any(rx.search(s) for s in texts):
                    return True
        dom = t.get("dom") or {}
        items = dom.items() if isinstance(dom, dict) else [(d, {"exists": ""}) for d in _list(dom)]
        for selector, spec in items:
            nodes = tree.css(selector)
            if nodes and "exists" in spec:
                return True
            for attr, p in (spec.get("attributes") or {}).items():
                rx = _rx(p)
                if rx and any(
                    n.attributes.get(attr) is not None and rx.search(n.attributes.get(attr) or "") for n in nodes
                ):
                    return True
        return False

    found = {name for name, t in techs.items() if hit(t)}
    for name in list(found):
        found |= {i.split("\\;")[0] for i in _list(techs[name].get("implies") or [])}
    return {n for n in found if all(r in found for r in _list(techs.get(n, {}).get("requires") or []))}


@pytest.fixture(scope="module")
def techs() -> dict[str, dict]:
    if not FINGERPRINTS.is_dir():
        pytest.skip("webappanalyzer fingerprints not available")
    everything: dict[str, dict] = {}
    for f in sorted(FINGERPRINTS.glob("*.json")):
        everything.update(json.loads(f.read_text(encoding="utf-8")))
    vocabulary = {t for s in SITES for t in s["technologies"]}
    missing = vocabulary - set(everything)
    assert not missing, f"labels unknown to the fingerprints: {missing}"
    return {name: everything[name] for name in vocabulary}


def test_labels_are_exactly_what_the_fingerprints_detect(techs: dict[str, dict]) -> None:
    specs = [s for s in SITES if s["behaviour"] not in ("not_found", "error500")] + generate_bench_sites(6, page_kb=2)
    mismatches = []
    for spec in specs:
        r = render_site_response(spec, "/")
        found = _detect(techs, r.body.decode(), r.headers)
        if found != set(spec["technologies"]):
            mismatches.append((spec["domain"], sorted(set(spec["technologies"]) ^ found)))
    assert not mismatches


def test_bundled_fingerprints_reach_the_farm_labels_without_a_download() -> None:
    """Out of the box (Hunter's own set, no ``fingerprints update``): precision >= 0.95 and recall >= 0.90
    over (site, technology) pairs of the farm's company homepages; a plain wa.me link is no chat widget."""
    from services.enricher.fingerprints import FingerprintDB, PageInput

    db = FingerprintDB.bundled()
    tp = fp = fn = 0
    extra: dict[str, int] = {}
    for spec in SITES:
        if spec.get("role") != "company" or spec.get("behaviour") in ("not_found", "error500", "redirect"):
            continue
        r = render_site_response(spec, "/", host=spec["domain"])
        if r.status != 200:
            continue
        headers = {k.lower(): v for k, v in r.headers if k.lower() != "set-cookie"}
        cookies = dict(v.split(";", 1)[0].split("=", 1) for k, v in r.headers if k.lower() == "set-cookie")
        page = PageInput(url=f"http://{spec['domain']}/", html=r.body.decode(), headers=headers, cookies=cookies)
        found, labels = {t.name for t in db.detect(page)}, set(spec["technologies"])
        tp, fp, fn = tp + len(found & labels), fp + len(found - labels), fn + len(labels - found)
        for name in found - labels:
            extra[name] = extra.get(name, 0) + 1
    assert tp + fn > 500  # the farm's labels were read
    assert tp / (tp + fp) >= 0.95, extra
    assert tp / (tp + fn) >= 0.90
    assert "WhatsApp Business Chat" not in extra
