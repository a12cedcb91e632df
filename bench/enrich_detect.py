# ruff: noqa: E501  (the sample HTML below keeps realistic long lines)
"""Benchmark technology detection with the full reference Wappalyzer DB on realistic pages.

    python bench/enrich_detect.py [--quick] [--db ../shared/data/webappanalyzer]

Prints pages/s on one core for 20 KB, 50 KB and 200 KB pages (from CPU time, so other load on the
machine does not count; wall-clock rates too), the DB load+compile time, the peak RSS, and precision /
recall of the bundled and the full DB against the web farm's labelled homepages
(``hunter/demo/data/sites.json``: each site's ``technologies``, what its pages were built to show).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.host_speed import host_reference_ms  # noqa: E402
from hunter.demo.site_pages import render_site_response  # noqa: E402
from hunter.demo.webfarm import load_sites  # noqa: E402
from services.enricher.fingerprints import FingerprintDB, PageInput  # noqa: E402

DEFAULT_DB = ROOT.parent / "shared" / "data" / "webappanalyzer"

_HEAD = """<!DOCTYPE html>
<html lang="pt-BR" class="no-js">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="WordPress 6.4.3">
<meta name="description" content="Distribuidora de materiais elétricos em Campinas - SP. Atendimento a empresas.">
<meta property="og:title" content="Eletro Campinas Distribuidora">
<title>Eletro Campinas Distribuidora &#8211; Materiais elétricos</title>
<link rel="stylesheet" id="wp-block-library-css" href="https://eletrocampinas.com.br/wp-includes/css/dist/block-library/style.min.css?ver=6.4.3" media="all">
<link rel="stylesheet" id="woocommerce-general-css" href="https://eletrocampinas.com.br/wp-content/plugins/woocommerce/assets/css/woocommerce.css?ver=8.5.2" media="all">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css">
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.5.1/css/all.min.css">
<link rel="https://api.w.org/" href="https://eletrocampinas.com.br/wp-json/">
<script src="https://eletrocampinas.com.br/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
<script src="https://eletrocampinas.com.br/wp-content/plugins/woocommerce/assets/js/frontend/woocommerce.min.js?ver=8.5.2"></script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123XYZ"></script>
<script>
window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}
gtag('js', new Date());
gtag('config', 'G-ABC123XYZ');
</script>
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});
var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;
j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);})(window,document,'script','dataLayer','GTM-K9XW2L');</script>
<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');fbq('init', '123456789012345');fbq('track', 'PageView');</script>
<style>:root{--bs-primary:#0d6efd;--brand:#c0392b}.hero{padding:4rem 0}.produto-card{border:1px solid #eee}</style>
</head>
<body class="home page-template-default page page-id-7 woocommerce-no-js">
"""

_TAIL = """
<a href="https://wa.me/5519987654321?text=Ol%C3%A1" class="whatsapp-float" target="_blank" rel="noopener">WhatsApp</a>
<script type="text/javascript" src="https://d335luupugsy2.cloudfront.net/js/loader-scripts/abc-loader.js" async></script>
<script src="//code.jivosite.com/widget/AbCdEf" async></script>
<script src="https://static.hotjar.com/c/hotjar-1234567.js?sv=6"></script>
<script src="https://eletrocampinas.com.br/wp-content/themes/astra/assets/js/minified/frontend.min.js?ver=4.6.4"></script>
<script src="https://eletrocampinas.com.br/wp-includes/js/wp-emoji-release.min.js?ver=6.4.3"></script>
</body>
</html>
"""

_WORDS = [
    "materiais", "elétricos", "distribuidora", "atendimento", "empresas", "qualidade", "entrega",
    "rápida", "campinas", "região", "cabos", "disjuntores", "iluminação", "led", "quadros", "painéis",
    "orçamento", "sem", "compromisso", "técnico", "especializado", "condições", "especiais",
    "pagamento", "faturado", "marcas", "parceiras", "garantia", "suporte", "instalação", "industrial"
]


def _block(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 60)))
    return (
        f'<section class="elementor-section elementor-top-section elementor-element-{i:05x}" data-id="{i:05x}">'
        f'<div class="container"><div class="row"><div class="col-md-6 col-lg-4 produto-card">'
        f'<h3 class="titulo"><a href="/produto/item-{i}/">Produto {i}</a></h3>'
        f'<img src="/wp-content/uploads/2024/01/produto-{i}-300x300.jpg" alt="Produto {i}" loading="lazy" '
        f'width="300" height="300"><p class="descricao">{words}</p>'
        f'<span class="preco">R$ {rng.randint(10, 999)},{rng.randint(0, 99):02d}</span>'
        f'<button class="btn btn-primary add_to_cart_button" data-product_id="{i}">Comprar</button>'
        f"</div></div></div></section>\n"
    )


def build_page(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    parts = [_HEAD, '<header class="site-header"><nav class="navbar navbar-expand-lg">'
             '<a class="navbar-brand" href="/">Eletro Campinas</a></nav></header>\n<main id="main">\n']
    n = len(_HEAD) + len(_TAIL)
    i = 0
    while n < size:
        b = _block(rng, i)
        parts.append(b)
        n += len(b)
        i += 1
    parts.append("</main>\n<footer><p>CNPJ 19.131.243/0001-97 · (19) 3232-4545</p></footer>")
    parts.append(_TAIL)
    return "".join(parts)


HEADERS = {
    "server": "nginx/1.24.0",
    "content-type": "text/html; charset=UTF-8",
    "x-powered-by": "PHP/8.2.15",
    "link": '<https://eletrocampinas.com.br/wp-json/>; rel="https://api.w.org/"',
    "cf-cache-status": "DYNAMIC",
    "vary": "Accept-Encoding",
}
COOKIES = {"PHPSESSID": "abc123", "_ga": "GA1.1.123.456"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(db: FingerprintDB, page: PageInput, seconds: float) -> tuple[float, float, int]:
    """(pages per CPU second, pages per wall second, technologies found)."""
    techs = db.detect(page)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    deadline = t0 + seconds
    while True:
        db.detect(page)
        n += 1
        now = time.perf_counter()
        if now >= deadline and n >= 5:
            break
    return n / max(1e-9, time.process_time() - c0), n / (now - t0), len(techs)


def farm_pages() -> list[tuple[str, PageInput, set[str]]]:
    """The web farm's company homepages with their technology labels (sites that serve one)."""
    out = []
    for spec in load_sites():
        if spec.get("role") != "company" or spec.get("behaviour") in ("not_found", "error500", "redirect"):
            continue
        resp = render_site_response(spec, "/", host=spec["domain"])
        if resp.status != 200:
            continue
        headers = {k.lower(): v for k, v in resp.headers if k.lower() != "set-cookie"}
        cookies = dict(v.split(";", 1)[0].split("=", 1) for k, v in resp.headers if k.lower() == "set-cookie")
        page = PageInput(url=f"http://{spec['domain']}/", html=resp.body.decode("utf-8", "replace"),
                         headers=headers, cookies=cookies)
        out.append((spec["domain"], page, set(spec.get("technologies", []))))
    return out


def precision_recall(db: FingerprintDB, pages: list[tuple[str, PageInput, set[str]]]) -> dict[str, object]:
    """Micro precision / recall over (site, technology) pairs, with the most frequent misses either way."""
    tp = fp = fn = 0
    extra: dict[str, int] = {}
    missed: dict[str, int] = {}
    for _domain, page, labels in pages:
        found = {t.name for t in db.detect(page)}
        tp += len(found & labels)
        fp += len(found - labels)
        fn += len(labels - found)
        for t in found - labels:
            extra[t] = extra.get(t, 0) + 1
        for t in labels - found:
            missed[t] = missed.get(t, 0) + 1
    top = sorted(extra.items(), key=lambda kv: -kv[1])[:8]
    return {"precision": round(tp / max(1, tp + fp), 3), "recall": round(tp / max(1, tp + fn), 3),
            "pairs": tp + fn, "unlabelled_found": dict(top),
            "missed": dict(sorted(missed.items(), key=lambda kv: -kv[1])[:8])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs (< 1 min overall)")
    ap.add_argument("--db", default=str(DEFAULT_DB), help="Wappalyzer-format DB dir, file or URL")
    args = ap.parse_args(argv)
    if not args.db.startswith(("http://", "https://")) and not Path(args.db).exists():
        print(
            f"error: reference fingerprint DB not found at {args.db} "
            "(expected ../shared/data/webappanalyzer relative to the repo root; pass --db)",
            file=sys.stderr,
        )
        return 2
    t0 = time.perf_counter()
    db = FingerprintDB.load(args.db)
    compile_s = time.perf_counter() - t0
    print(
        f"DB: {len(db)} technologies, {len(db.patterns)} patterns, {db.literal_count} literals, "
        f"{db.always_run_count} always-run, {db.invalid_patterns} invalid; load+compile {compile_s:.2f}s"
    )
    seconds = 2.0 if args.quick else 8.0
    result: dict[str, object] = {"literal_backend": db._doc.backend}
    for label, size in (("20kb", 20_000), ("50kb", 50_000), ("200kb", 200_000)):
        html = build_page(size)
        page = PageInput(url="https://eletrocampinas.com.br/", html=html, headers=HEADERS, cookies=COOKIES)
        rate, wall_rate, ntech = measure(db, page, seconds)
        names = ", ".join(t.name for t in db.detect(page))
        print(f"{label}: {len(html) / 1024:.0f} KiB page, {rate:.0f} pages/s per CPU second "
              f"({wall_rate:.0f}/s wall), {ntech} technologies: {names}")
        result[f"pages_per_s_{label}"] = round(rate, 1)
        result[f"wall_pages_per_s_{label}"] = round(wall_rate, 1)
    pages = farm_pages()
    for name, which in (("bundled", FingerprintDB.bundled()), ("full", db)):
        pr = precision_recall(which, pages)
        print(f"web farm labels, {name} DB ({len(pages)} homepages, {pr['pairs']} labels): "
              f"precision {pr['precision']}, recall {pr['recall']}; found unlabelled {pr['unlabelled_found']}; "
              f"missed {pr['missed']}")
        result[f"precision_{name}"] = pr["precision"]
        result[f"recall_{name}"] = pr["recall"]
    result["compile_s"] = round(compile_s, 3)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["host_reference_ms"] = round(host_reference_ms(), 2)  # the machine's speed (bench/host_speed.py)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
