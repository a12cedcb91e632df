"""Raw-html shortcuts of technology detection agree with a real parse and whole-page regexes."""

from __future__ import annotations

import pytest

from services.enricher.fingerprint_scan import WINDOW_MIN_PAGE, windowable
from services.enricher.fingerprints import FingerprintDB, PageInput

FILLER = "<section><p>" + "texto de enchimento " * 40 + "</p></section>\n"

PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="/wp-content/themes/astra/style.css?ver=4.6.4">
<meta property="og:title" content="Acme"><title><div class="in-title"></div></title>
<script>var tpl = '<div class="shop-widget" data-shop="1"></div><a href="https://wa.me/55119">x</a>';</script>
<!-- <span id="commented-out" class="ghost"></span> -->
</head><body class="home page woocommerce-no-js">
<div class="fa fa-phone  icon" data-tracker="abc-123"></div>
<img src="/wp-content/uploads/a.png" alt="a">
<a class="btn" href="https://example.com/app?x=1&amp;y=2">app</a>
<custom-widget data-kind="chat"></custom-widget>
<script src="https://cdn.example.com/lib-2.3.1.min.js"></script>
<script>window.__APP__ = {"name": "pinia", "v": 2};</script>
""" + FILLER * 60 + "</body></html>"

SELECTORS = {
    "Astra": {"dom": {"link[href*='themes/astra']": {
        "attributes": {"href": "astra\\S*\\.css(?:\\?ver=([0-9.]+))?\\;version:\\1"}}}},
    "FontAwesome": {"dom": {"[class*='fa']": {"attributes": {"class": "(?:^|\\s)fa(?:-[a-z0-9-]+)?(?:\\s|$)"}}}},
    "Woo": {"dom": ".woocommerce, .woocommerce-no-js, link[rel*='woocommerce']"},
    "OpenGraph": {"dom": "meta[property*='og:']"},
    "InTitle": {"dom": "div.in-title"},
    "ScriptTemplate": {"dom": "div.shop-widget"},
    "Commented": {"dom": "#commented-out"},
    "Tracker": {"dom": {"div[data-tracker^='abc']": {"exists": ""}}},
    "Custom": {"dom": "custom-widget[data-kind=chat]"},
    "Entity": {"dom": {"a[href*='example.com/app']": {"attributes": {"href": "x=1&y=(\\d)\\;version:\\1"}}}},
    "Pinia": {"dom": {"script": {"text": "\\\"pinia\\\""}}},
    "Descendant": {"dom": "body div.fa"},
    "Lib": {"scriptSrc": "lib-([\\d.]+)\\.min\\.js\\;version:\\1"},
    "WaInHtml": {"html": "<a href=[\"']https://wa\\.me/"},
    "Uploads": {"html": "wp-content/uploads/[a-z]+\\.png"},
}


def test_raw_selectors_and_windows_match_a_real_parse_and_whole_page_regexes() -> None:
    db = FingerprintDB(SELECTORS, {})
    page = PageInput(url="https://acme.com.br/", html=PAGE)
    assert len(PAGE) > WINDOW_MIN_PAGE
    fast = db.detect(page)
    assert [t.model_dump() for t in fast] == [t.model_dump() for t in db.detect(page, prefilter=False)]
    found = {t.name: t.version for t in fast}
    # markup inside <title>, scripts and comments is text, not elements
    assert not {"InTitle", "ScriptTemplate", "Commented"} & set(found)
    assert found["Astra"] == "4.6.4" and found["Entity"] == "2" and found["Lib"] == "2.3.1"
    assert {"FontAwesome", "Woo", "OpenGraph", "Tracker", "Custom", "Pinia", "Descendant", "WaInHtml",
            "Uploads"} <= set(found)


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [("<div[^>]+class=[\"']wp-block-", True), ("^<html", False), ("foo$", False), ("\\bjquery\\b", False),
     ("a(?!b)", False), ("(?<=x)y", False), ("[^<]+cdn", True)],
)
def test_only_regexes_without_anchors_or_context_tests_search_in_windows(pattern: str, ok: bool) -> None:
    assert windowable(pattern) is ok


def test_bench_sized_pages_give_the_unfiltered_result_with_the_bundled_set() -> None:
    from hunter.demo.sample_data import generate_bench_sites
    from hunter.demo.webfarm import render_site_response
    from shared.config import Settings

    db = FingerprintDB.from_settings(Settings())
    windowed = 0
    for spec in generate_bench_sites(120):
        resp = render_site_response(spec, "/", host=spec["domain"])
        html = resp.body.decode()
        windowed += len(html) >= WINDOW_MIN_PAGE
        page = PageInput(url=f"http://{spec['domain']}/", html=html,
                         headers={k.lower(): v for k, v in dict(resp.headers).items()})
        assert db.detect(page) == db.detect(page, prefilter=False), spec["domain"]
    assert windowed == 120  # ~20 KB homepages: every regex ran in windows
