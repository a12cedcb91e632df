"""Technology detection: pattern semantics, the bundled set, and prefilter == brute force."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from services.enricher.fingerprints import (
    FingerprintDB,
    PageInput,
    regex_literals,
    resolve_version,
    selector_literals,
    update_fingerprints,
)
from tests.shared_data import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
FULL_DB = SHARED_DATA / "webappanalyzer"


def names(techs) -> dict[str, object]:
    return {t.name: t for t in techs}


def db_of(techs: dict, cats: dict | None = None) -> FingerprintDB:
    return FingerprintDB(techs, cats or {"1": {"name": "CMS"}, "2": {"name": "Analytics"}})


def test_versions_come_from_capture_groups() -> None:
    db = db_of({"Foo": {"cats": [1], "scriptSrc": ["foo-([\\d.]+)\\.js\\;version:\\1"]}})
    found = names(db.detect(PageInput(url="https://a.com/", html='<script src="/foo-2.3.1.js"></script>')))
    assert found["Foo"].version == "2.3.1"
    assert found["Foo"].categories == ["CMS"]


def test_ternary_version_picks_branch_on_group_presence() -> None:
    db = db_of({"GA": {"cats": [2], "html": ["gtag/js\\?id=(G-)?\\;version:\\1?GA4:UA"]}})
    assert names(db.detect(PageInput(url="u", html="gtag/js?id=G-XYZ")))["GA"].version == "GA4"
    assert names(db.detect(PageInput(url="u", html="gtag/js?id=UA-1")))["GA"].version == "UA"


def test_resolve_version_templates() -> None:
    import re

    m = re.search(r"(\d+)\.(\d+)", "v 4.7")
    assert resolve_version("\\1.\\2", m) == "4.7"
    assert resolve_version("\\1?yes:no", re.search(r"(x)?y", "y")) == "no"


def test_confidence_accumulates_and_caps_at_100() -> None:
    db = db_of({"Bar": {"html": ["bar-one\\;confidence:30", "bar-two\\;confidence:40"]}})
    assert names(db.detect(PageInput(url="u", html="bar-one")))["Bar"].confidence == 30
    assert names(db.detect(PageInput(url="u", html="bar-one bar-two")))["Bar"].confidence == 70


def test_implies_requires_excludes() -> None:
    db = db_of({
        "Shop": {"html": ["shopcart"], "implies": ["Lang\\;confidence:50"]},
        "Lang": {"headers": {"x-lang": ""}},
        "Plugin": {"html": ["plugin-x"], "requires": ["Shop"]},
        "Old": {"html": ["plugin-x"], "excludes": []},
        "New": {"html": ["newthing"], "excludes": ["Old"]},
    })
    found = names(db.detect(PageInput(url="u", html="shopcart plugin-x")))
    assert found["Lang"].confidence == 50
    assert "Plugin" in found
    assert "Plugin" not in names(db.detect(PageInput(url="u", html="plugin-x")))
    assert "Old" not in names(db.detect(PageInput(url="u", html="plugin-x newthing")))


def test_headers_cookies_meta_url_and_dom() -> None:
    db = db_of({
        "Srv": {"headers": {"Server": "^srv/([\\d.]+)\\;version:\\1"}},
        "Ck": {"cookies": {"sess_ck": ""}},
        "Gen": {"meta": {"generator": "^GenCMS ([\\d.]+)\\;version:\\1"}},
        "Path": {"url": ["/loja/"]},
        "Widget": {"dom": {"div.chat-widget-box": {"attributes": {"data-v": "([\\d.]+)\\;version:\\1"}}}},
        "Title": {"dom": {"h1.hero-title": {"text": "Powered by Zap"}}},
        "Exists": {"dom": ["iframe[src*='widgets.example.net']"]},
    })
    page = PageInput(
        url="https://x.com/loja/p",
        html='<meta name="generator" content="GenCMS 5.1"><div class="a chat-widget-box" data-v="9.2"></div>'
        '<h1 class="hero-title">Powered by <b>Zap</b></h1><iframe src="https://widgets.example.net/w"></iframe>',
        headers={"server": "srv/1.2"},
        cookies={"sess_ck": "1"},
    )
    found = names(db.detect(page))
    assert found["Srv"].version == "1.2"
    assert "Ck" in found and "Path" in found and "Title" in found and "Exists" in found
    assert found["Gen"].version == "5.1"
    assert found["Widget"].version == "9.2"


def test_invalid_regex_is_skipped_and_counted() -> None:
    db = db_of({"Bad": {"html": ["(unclosed"]}, "Good": {"html": ["goodone"]}})
    assert db.invalid_patterns == 1
    assert list(names(db.detect(PageInput(url="u", html="goodone (unclosed")))) == ["Good"]


def test_literal_extraction() -> None:
    assert regex_literals("cdn\\.shopify\\.com/") == frozenset({"cdn.shopify.com/"})
    assert regex_literals("(?:nuvemshop|tiendanube)\\.com") == frozenset({"nuvemshop", "tiendanube"})
    assert regex_literals("^[a-z]+$") is None
    assert selector_literals("link[href*='/wp-content/plugins/foo/']") == frozenset({"/wp-content/plugins/foo/"})
    assert selector_literals("div.alpha-box, #beta-id") == frozenset({"alpha-box", "beta-id"})


BUNDLED_SAMPLES = {
    "WordPress": ('<link rel="stylesheet" href="/wp-content/themes/x/style.css">', {}),
    "WooCommerce": ('<link href="/wp-content/plugins/woocommerce/a.css"><body class="woocommerce">', {}),
    "Wix": ('<img src="https://static.wixstatic.com/media/a.jpg">', {}),
    "Shopify": ('<script src="https://cdn.shopify.com/s/files/1/theme.js"></script>', {}),
    "Nuvemshop": ('<script src="https://d26lpennugtm8s.cloudfront.net/stores/1/app.js"></script>', {}),
    "Tray": ('<img src="https://images.tcdn.com.br/img/x.jpg">', {}),
    "Loja Integrada": ('<script src="https://cdn.awsli.com.br/production/static/loja.js"></script>', {}),
    "VTEX": ('<img src="https://loja.vteximg.com.br/arquivos/x.png">', {}),
    "RD Station": ('<script src="https://d335luupugsy2.cloudfront.net/js/loader-scripts/x-loader.js"></script>', {}),
    "HubSpot": ('<script id="hs-script-loader" src="//js.hs-scripts.com/123.js"></script>', {}),
    "Google Analytics": ('<script src="https://www.googletagmanager.com/gtag/js?id=G-ABC"></script>', {}),
    "Google Tag Manager": ("<script>x('https://www.googletagmanager.com/gtm.js?id='+i)</script>"
                           '<script src="https://www.googletagmanager.com/gtm.js?id=GTM-AB12"></script>', {}),
    "Facebook Pixel": ('<script src="https://connect.facebook.net/en_US/fbevents.js"></script>', {}),
    "Google Ads": ('<script src="https://www.googleadservices.com/pagead/conversion_async.js"></script>', {}),
    "Hotjar": ('<script src="https://static.hotjar.com/c/hotjar-1.js"></script>', {}),
    "Zendesk": ('<script id="ze-snippet" src="https://static.zdassets.com/ekr/snippet.js?key=1"></script>', {}),
    "JivoChat": ('<script src="//code.jivosite.com/widget/abc"></script>', {}),
    "Tawk.to": ('<script src="https://embed.tawk.to/abc/default"></script>', {}),
    "WhatsApp Business Chat": ('<a class="whatsapp-float" href="https://wa.me/5511987654321">chat</a>', {}),
    "jQuery": ('<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>', {}),
    "Bootstrap": ('<link rel="stylesheet" href="/css/bootstrap.min.css">', {}),
    "PHP": ("", {"x-powered-by": "PHP/8.2.1"}),
    "Nginx": ("", {"server": "nginx/1.24.0"}),
    "Apache HTTP Server": ("", {"server": "Apache/2.4.57 (Debian)"}),
    "Cloudflare": ("", {"server": "cloudflare", "cf-ray": "abc"}),
    "React": ('<div data-reactroot=""></div>', {}),
    "Next.js": ('<script id="__NEXT_DATA__" type="application/json">{}</script>', {}),
}


@pytest.mark.parametrize("tech", sorted(BUNDLED_SAMPLES))
def test_bundled_db_detects_each_of_its_technologies(tech: str) -> None:
    html, headers = BUNDLED_SAMPLES[tech]
    found = names(FingerprintDB.bundled().detect(PageInput(url="https://loja.com.br/", html=html, headers=headers)))
    assert tech in found, found
    assert found[tech].categories


def test_bundled_versions_and_implies() -> None:
    page = PageInput(url="https://a.com.br/", html='<script src="/js/jquery-3.6.0.min.js"></script>'
                     '<script id="__NEXT_DATA__">{}</script>', headers={"server": "nginx/1.25.3"})
    found = names(FingerprintDB.bundled().detect(page))
    assert found["jQuery"].version == "3.6.0"
    assert found["Nginx"].version == "1.25.3"
    assert "React" in found
    assert FingerprintDB.bundled().detect(PageInput(url="https://a.com/", html="<p>nothing</p>")) == []


def test_update_fingerprints_writes_a_loadable_file(tmp_path: Path) -> None:
    n = update_fingerprints(str(Path(__file__).resolve().parents[2] / "services/enricher/fingerprints/hunter.json"),
                            tmp_path)
    db = FingerprintDB.load(tmp_path / "technologies.json")
    assert n == len(db) and n >= 27
    assert json.loads((tmp_path / "technologies.json").read_text())["technologies"]


# ---------------------------------------------------------------- full reference DB (GPL data, read by path)

needs_full = pytest.mark.skipif(not FULL_DB.is_dir(), reason=f"reference DB absent at {FULL_DB}")


def _bench_page(size: int, seed: int = 7) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from enrich_detect import build_page  # type: ignore[import-not-found]

    return build_page(size, seed)


@needs_full
def test_full_db_detects_a_realistic_wordpress_page() -> None:
    db = FingerprintDB.load(FULL_DB)
    assert db.invalid_patterns == 0 and len(db) > 7000
    page = PageInput(url="https://eletrocampinas.com.br/", html=_bench_page(30_000),
                     headers={"server": "nginx/1.24.0", "x-powered-by": "PHP/8.2.15"}, cookies={"PHPSESSID": "1"})
    found = names(db.detect(page))
    for tech in ("WordPress", "WooCommerce", "jQuery", "Nginx", "PHP", "Google Tag Manager", "Facebook Pixel",
                 "Hotjar", "JivoChat", "RD Station"):
        assert tech in found, sorted(found)
    assert found["Nginx"].version == "1.24.0"


def _mutated_pages(n: int, size: int = 20_000) -> list[PageInput]:
    """Pages assembled from markers of many technologies of the full DB, plus noise."""
    rng = random.Random(42)
    db = json.loads((FULL_DB / "technologies" / "w.json").read_text())
    db.update(json.loads((FULL_DB / "technologies" / "j.json").read_text()))
    fragments: list[str] = []
    for spec in db.values():
        for src in (spec.get("scriptSrc") or [])[:1]:
            lit = src.split("\\;")[0].replace("\\.", ".").replace("\\", "").strip("^$")
            fragments.append(f'<script src="https://cdn.x.com/{lit}"></script>')
        for sel in (spec.get("dom") or [])[:1] if isinstance(spec.get("dom"), list) else []:
            fragments.append(f"<!-- {sel} -->")
    pages = []
    base = _bench_page(size, seed=3)
    for i in range(n):
        extra = "".join(rng.sample(fragments, min(40, len(fragments))))
        html = base.replace("</body>", extra + "</body>")
        pages.append(PageInput(url=f"https://site{i}.com.br/index.php", html=html,
                               headers={"server": rng.choice(["nginx/1.2", "Apache/2.4", "cloudflare", "LiteSpeed"]),
                                        "x-powered-by": rng.choice(["PHP/7.4", "Express", "ASP.NET"])},
                               cookies={rng.choice(["PHPSESSID", "_ga", "wp-settings-1"]): "1"}))
    return pages


@needs_full
def test_prefilter_gives_the_same_result_as_brute_force() -> None:
    db = FingerprintDB.load(FULL_DB)
    for page in _mutated_pages(6):
        fast = db.detect(page)
        slow = db.detect(page, prefilter=False)
        assert [t.model_dump() for t in fast] == [t.model_dump() for t in slow]
        assert len(fast) >= 5


@needs_full
def test_large_page_shortcuts_give_the_same_result_as_brute_force() -> None:
    """Pages past the size where regexes only look near their literals and selectors skip the parse."""
    db = FingerprintDB.load(FULL_DB)
    for page in _mutated_pages(2, size=60_000):
        fast = db.detect(page)
        assert [t.model_dump() for t in fast] == [t.model_dump() for t in db.detect(page, prefilter=False)]
        assert len(fast) >= 5


def test_prefilter_equals_brute_force_on_bundled_samples() -> None:
    db = FingerprintDB.bundled()
    for html, headers in BUNDLED_SAMPLES.values():
        page = PageInput(url="https://a.com.br/x.php", html=html, headers=headers)
        assert db.detect(page) == db.detect(page, prefilter=False)


@needs_full
@pytest.mark.parametrize("text", ["Promo\u00e7\u00e3o \u00b7 entrega", "Promo \u2014 \u2713 \U0001f600",
                                  "\u0130stanbul"])
def test_pages_in_each_byte_encoding_give_the_same_result_as_brute_force(text: str) -> None:
    """Latin-1 pages are scanned a byte per character, others as UTF-8 (offsets mapped back to the text),
    and pages whose lowering could make ASCII out of other characters are searched as lowered text."""
    db = FingerprintDB.load(FULL_DB)
    for page in _mutated_pages(2, size=60_000):
        page.html = page.html.replace("Comprar", f"Comprar {text}")
        fast = db.detect(page)
        assert [t.model_dump() for t in fast] == [t.model_dump() for t in db.detect(page, prefilter=False)]
        assert len(fast) >= 5
