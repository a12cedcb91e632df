"""HTML pages, robots.txt and headers of the demo sites, rendered from site specs.

Pure and deterministic: the same spec and path always give the same bytes.
Each labelled technology leaves the markers Wappalyzer's fingerprints look
for (meta generator, script src, inline snippets, headers, cookies).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from urllib.parse import quote

from hunter.demo.sample_data import bench_filler, format_cnpj, format_phone_br


@dataclass(frozen=True)
class SiteResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


_REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error"}
_STATIC_PREFIXES = ("/wp-content/", "/wp-includes/", "/assets/", "/static/", "/_next/", "/css/", "/js/")
_CONTENT_TYPES = {
    ".js": "application/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}


def render_site_response(spec: dict, path: str, *, host: str | None = None) -> SiteResponse:
    """What a company or directory site answers for `path` (query string ignored)."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    if spec.get("role") == "directory":
        return _directory_response(spec, path)
    base_headers = _base_headers(spec)
    if path == "/robots.txt":
        return SiteResponse(
            200, [*base_headers, ("Content-Type", "text/plain; charset=utf-8")], robots_txt(spec).encode()
        )
    if path == "/sitemap.xml":
        return SiteResponse(200, [*base_headers, ("Content-Type", "application/xml")], _sitemap(spec).encode())
    if spec.get("behaviour") == "error500":
        body = (
            "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body>"
            "<h1>Internal Server Error</h1><p>The server encountered an internal error.</p></body></html>"
        )
        return SiteResponse(500, [*base_headers, ("Content-Type", "text/html; charset=UTF-8")], body.encode())
    if path.startswith(_STATIC_PREFIXES):
        ext = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        ctype = _CONTENT_TYPES.get(ext)
        if ctype is None:
            return _not_found(spec, base_headers)
        body = b"/* demo asset */\n" if ext in (".js", ".css") else b""
        return SiteResponse(200, [*base_headers, ("Content-Type", ctype), ("Cache-Control", "max-age=86400")], body)
    if spec.get("behaviour") == "js_shell":
        page = _js_shell(spec)
    elif path in ("/", "/index.html", "/index.php"):
        page = _page(spec, "home")
    elif path == spec.get("contact_path", "/contato"):
        page = _page(spec, "contact")
    elif path in ("/sobre", "/quem-somos"):
        page = _page(spec, "about")
    else:
        return _not_found(spec, base_headers)
    headers = [*base_headers, ("Content-Type", "text/html; charset=UTF-8")]
    headers += [("Set-Cookie", c) for c in spec.get("cookies", [])]
    return SiteResponse(200, headers, page.encode())


def redirect_response(location: str) -> SiteResponse:
    body = (
        f'<html><head><title>301 Moved Permanently</title></head><body><a href="{html.escape(location)}">'
        f"Moved</a></body></html>"
    )
    return SiteResponse(
        301, [("Server", "nginx/1.24.0"), ("Location", location), ("Content-Type", "text/html")], body.encode()
    )


def robots_txt(spec: dict) -> str:
    lines = ["User-agent: *"]
    if spec.get("behaviour") == "robots_disallow_all":
        lines.append("Disallow: /")
        return "\n".join(lines) + "\n"
    if spec.get("template") in ("wordpress", "woocommerce"):
        lines += ["Disallow: /wp-admin/", "Allow: /wp-admin/admin-ajax.php"]
    lines += [f"Disallow: {p}" for p in spec.get("robots_disallow", [])]
    if len(lines) == 1:
        lines.append("Allow: /")
    lines += ["", f"Sitemap: http://{spec.get('served_domain') or spec['domain']}/sitemap.xml"]
    return "\n".join(lines) + "\n"


def _sitemap(spec: dict) -> str:
    host = spec.get("served_domain") or spec["domain"]
    urls = "".join(f"<url><loc>http://{host}{p}</loc></url>" for p in spec.get("pages", ["/"]))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{urls}</urlset>\n"
    )


def _base_headers(spec: dict) -> list[tuple[str, str]]:
    return [(k, v) for k, v in spec.get("headers", {}).items()]


def _not_found(spec: dict, base_headers: list[tuple[str, str]]) -> SiteResponse:
    name = html.escape(spec.get("company_name", ""))
    body = (
        f'<!DOCTYPE html><html lang="pt-BR"><head><meta charset="utf-8"><title>Página não encontrada'
        f" | {name}</title></head><body><h1>404</h1><p>Página não encontrada.</p>"
        f'<p><a href="/">Voltar para o início</a></p></body></html>'
    )
    return SiteResponse(404, [*base_headers, ("Content-Type", "text/html; charset=UTF-8")], body.encode())


# --------------------------------------------------------------------------- company pages


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _obfuscate(email: str) -> str:
    user, domain = email.split("@", 1)
    return f"{user} [at] {' [dot] '.join(domain.split('.'))}"


def _email_html(spec: dict, email: str, variant: int) -> str:
    if spec.get("obfuscate_email"):
        return f'<span class="email">{_h(_obfuscate(email))}</span>'
    if variant % 3 == 2:
        return f'<span class="email">{_h(email)}</span>'
    return f'<a href="mailto:{_h(email)}">{_h(email)}</a>'


def _phone_html(e164: str, variant: int) -> str:
    shown = format_phone_br(e164)
    if variant % 2:
        shown = f"+55 {e164[3:5]} {e164[5:-4]}-{e164[-4:]}"
    return f'<a href="tel:{e164}">{_h(shown)}</a>'


def _whatsapp_url(spec: dict) -> str | None:
    number = spec.get("whatsapp")
    if not number:
        return None
    if spec.get("whatsapp_style") == "api":
        return f"https://api.whatsapp.com/send?phone={number}&amp;text=Ol%C3%A1"
    return f"https://wa.me/{number}"


def _variant(spec: dict) -> int:
    return sum(spec["domain"].encode())


def _head_markers(spec: dict) -> list[str]:
    t, tr, addons = spec["template"], spec.get("tracking", {}), spec.get("addons", [])
    domain = spec.get("served_domain") or spec["domain"]
    out: list[str] = []
    if t in ("wordpress", "woocommerce"):
        if "yoast" in addons:
            out.append(
                "<!-- This site is optimized with the Yoast SEO plugin v21.7 - "
                "https://yoast.com/wordpress/plugins/seo/ -->"
            )
        out.append('<meta name="generator" content="WordPress 6.4.2">')
        out.append(
            f'<link rel="stylesheet" id="theme-main-css" href="http://{domain}/wp-content/themes/'
            f'{_slug_host(domain)}-tema/assets/css/main.min.css?ver=1.4.2" media="all">'
        )
        out.append(
            f'<link rel="stylesheet" id="wp-block-library-css" href="http://{domain}/wp-includes/css/dist/'
            f'block-library/style.min.css?ver=6.4.2" media="all">'
        )
        out.append('<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>')
        if t == "woocommerce":
            out.append('<meta name="generator" content="WooCommerce 8.4.0">')
            out.append(
                '<link rel="stylesheet" id="woocommerce-general-css" href="/wp-content/plugins/woocommerce/'
                'assets/css/woocommerce.css?ver=8.4.0" media="all">'
            )
    elif t == "wix":
        out.append('<meta name="generator" content="Wix.com Website Builder">')
        out.append(
            '<script src="https://static.parastorage.com/services/wix-thunderbolt/dist/main.4d7f2e1a.bundle.min.js"'
            " async></script>"
        )
    elif t == "shopify":
        shop = tr.get("shop", "1")
        out.append(f'<link rel="stylesheet" href="//cdn.shopify.com/s/files/1/0{shop}/t/4/assets/base.css?v=1699">')
        out.append(f'<script src="//cdn.shopify.com/s/files/1/0{shop}/t/4/assets/global.js?v=1699" defer></script>')
        out.append(
            f'<script>var Shopify = Shopify || {{}}; Shopify.shop = "{_slug_host(domain)}.myshopify.com";'
            ' Shopify.currency = {"active":"BRL","rate":"1.0"};</script>'
        )
    elif t == "nuvemshop":
        out.append(
            '<link rel="stylesheet" href="https://d26lpennugtm8s.cloudfront.net/assets/stores/css/style.min.css">'
        )
        out.append(
            f'<script>var LS = {{store: {{id: {tr.get("shop", "1")}, url: "{_slug_host(domain)}.lojavirtual'
            f'nuvem.com.br", currency: "BRL"}}}};</script>'
        )
    elif t == "tray":
        out.append('<link rel="stylesheet" href="https://images.tcdn.com.br/files/theme/css/theme.min.css">')
        out.append('<script src="https://static.tcdn.com.br/static/js/jquery/jquery-3.6.0.min.js"></script>')
        out.append(
            f'<script src="https://static.tcdn.com.br/static/js/tray-store.min.js?loja={tr.get("shop", "1")}"></script>'
        )
    elif t == "loja_integrada":
        out.append(
            '<link rel="stylesheet" href="https://cdn.awsli.com.br/production/static/loja/estrutura/v1/css/'
            'all.min.css">'
        )
        out.append('<script src="https://cdn.awsli.com.br/production/static/js/jquery-3.6.0.min.js"></script>')
        out.append(f'<script type="text/javascript">var LOJA_ID = {tr.get("shop", "1")};</script>')
    elif t == "vtex":
        store = _slug_host(domain)
        out.append(f'<link rel="stylesheet" href="https://{store}.vteximg.com.br/arquivos/{store}-style.css?v=6383">')
        out.append(f'<script src="https://io.vtex.com.br/front.render/vtex-store-{store}.js"></script>')
    elif t == "bootstrap":
        out.append('<link rel="stylesheet" href="/assets/css/bootstrap.min.css?ver=5.3.2">')
        out.append('<script src="/assets/js/jquery-3.6.0.min.js"></script>')
    elif t == "plain":
        out.append('<link rel="stylesheet" href="/css/style.css">')
    elif t == "nextjs":
        out.append('<link rel="preload" href="/_next/static/css/6f1b8c2a9d.css" as="style">')
        out.append('<script src="/_next/static/chunks/main-9a1b2c3d4e5f.js" defer></script>')
    if "gfonts" in addons:
        out.append('<link rel="preconnect" href="https://fonts.googleapis.com">')
        out.append(
            '<link href="https://fonts.googleapis.com/css2?family=Inter:wght@400;600&amp;display=swap" '
            'rel="stylesheet">'
        )
    if "gtm" in addons:
        out.append(
            "<!-- Google Tag Manager -->\n<script>(function(w,d,s,l){w[l]=w[l]||[];w[l].push({'gtm.start':"
            "new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);"
            f"j.async=true;j.src='https://www.googletagmanager.com/gtm.js?id={tr['gtm']}';"
            "f.parentNode.insertBefore(j,f);})(window,document,'script','dataLayer');</script>\n"
            "<!-- End Google Tag Manager -->"
        )
    if "ga4" in addons:
        out.append(f'<script async src="https://www.googletagmanager.com/gtag/js?id={tr["ga4"]}"></script>')
        extra = f"\n  gtag('config', '{tr['aw']}');" if "gads" in addons else ""
        out.append(
            "<script>\n  window.dataLayer = window.dataLayer || [];\n  function gtag(){dataLayer.push(arguments);}"
            f"\n  gtag('js', new Date());\n  gtag('config', '{tr['ga4']}');{extra}\n</script>"
        )
    if "gads" in addons:
        out.append('<script async src="https://www.googleadservices.com/pagead/conversion_async.js"></script>')
    if "fbpixel" in addons:
        out.append(
            "<!-- Meta Pixel Code -->\n<script>\n!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function()"
            "{n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;"
            "n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;"
            "s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window, document,'script',"
            "'https://connect.facebook.net/en_US/fbevents.js');\n"
            f"fbq('init', '{tr['fbpixel']}');\nfbq('track', 'PageView');\n</script>\n"
            f'<noscript><img height="1" width="1" style="display:none" src="https://www.facebook.com/tr?id='
            f'{tr["fbpixel"]}&amp;ev=PageView&amp;noscript=1"></noscript>\n<!-- End Meta Pixel Code -->'
        )
    if "hotjar" in addons:
        out.append(
            f"<script>window.hj=window.hj||function(){{(hj.q=hj.q||[]).push(arguments)}};"
            f"window._hjSettings={{hjid:{tr['hotjar']},hjsv:6}};</script>\n"
            f'<script async src="https://static.hotjar.com/c/hotjar-{tr["hotjar"]}.js?sv=6"></script>'
        )
    return out


def _body_end_markers(spec: dict) -> list[str]:
    t, tr, addons = spec["template"], spec.get("tracking", {}), spec.get("addons", [])
    out: list[str] = []
    if t == "woocommerce":
        out.append(
            '<script src="/wp-content/plugins/woocommerce/assets/js/frontend/woocommerce.min.js?ver=8.4.0" '
            'id="woocommerce-js"></script>'
        )
    if t in ("wordpress", "woocommerce"):
        out.append(
            f'<script src="/wp-content/themes/{_slug_host(spec["domain"])}-tema/assets/js/frontend.min.js'
            '?ver=1.4.2"></script>'
        )
    if t == "bootstrap":
        out.append('<script src="/assets/js/bootstrap.bundle.min.js?ver=5.3.2"></script>')
    if "rdstation" in addons:
        out.append(
            '<script type="text/javascript" async src="https://d335luupugsy2.cloudfront.net/js/loader-scripts/'
            f'{tr["rdstation"]}-loader.js"></script>'
        )
    if "hubspot" in addons:
        out.append(
            "<!-- Start of HubSpot Embed Code -->\n"
            f'<script type="text/javascript" id="hs-script-loader" async defer src="//js.hs-scripts.com/'
            f'{tr["hubspot"]}.js"></script>\n<!-- End of HubSpot Embed Code -->'
        )
    if "jivochat" in addons:
        out.append(f'<script src="//code.jivosite.com/widget/{tr["jivochat"]}" async></script>')
    if "tawkto" in addons:
        out.append(
            f'<!--Start of Tawk.to Script-->\n<script async src="https://embed.tawk.to/{tr["tawkto"]}" '
            'charset="UTF-8" crossorigin="*"></script>\n<!--End of Tawk.to Script-->'
        )
    if "zendesk" in addons:
        out.append(
            f'<script id="ze-snippet" src="https://static.zdassets.com/ekr/snippet.js?key={tr["zendesk"]}"></script>'
        )
    return out


def _slug_host(domain: str) -> str:
    return domain.split(".", 1)[0]


def _jsonld(spec: dict) -> str:
    kind = spec.get("jsonld")
    if not kind:
        return ""
    host = spec.get("served_domain") or spec["domain"]
    data: dict = {
        "@context": "https://schema.org",
        "@type": kind,
        "name": spec["company_name"],
        "legalName": spec.get("legal_name"),
        "url": f"http://{host}/",
        "taxID": format_cnpj(spec["cnpj"]),
    }
    if spec.get("phones"):
        data["telephone"] = spec["phones"][0]
    if spec.get("emails") and not spec.get("obfuscate_email"):
        data["email"] = spec["emails"][0]
    if spec.get("address"):
        data["address"] = {
            "@type": "PostalAddress",
            "streetAddress": spec["address"].split(" - ")[0],
            "addressLocality": spec.get("city", "").title(),
            "addressRegion": spec.get("uf"),
            "addressCountry": "BR",
        }
    if spec.get("socials"):
        data["sameAs"] = list(spec["socials"].values())
    return f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>'


_TAGLINES = {
    "software": (
        "Software sob medida e serviços de TI",
        "Desenvolvemos sistemas, aplicativos e integrações para empresas que querem crescer.",
    ),
    "retail": (
        "Loja virtual com entrega para todo o Brasil",
        "Produtos selecionados, pagamento facilitado e atendimento de verdade.",
    ),
    "services": ("Soluções para o seu negócio", "Consultoria, marketing e treinamentos com foco em resultado."),
    "misc": ("Qualidade e tradição", "Atendimento próximo e compromisso com cada cliente."),
}
_SERVICES = {
    "software": [
        "Desenvolvimento de sistemas web",
        "Aplicativos mobile",
        "Integração de APIs",
        "Suporte e sustentação",
    ],
    "retail": ["Frete grátis acima de R$ 199", "Parcelamento em até 10x", "Troca fácil em 30 dias", "Compra segura"],
    "services": ["Planejamento estratégico", "Marketing digital", "Treinamentos in company", "Gestão de projetos"],
    "misc": ["Atendimento personalizado", "Orçamento sem compromisso", "Equipe especializada"],
}


def _page(spec: dict, which: str) -> str:
    name = spec["company_name"]
    kind = spec.get("kind", "misc") if spec.get("kind") in _TAGLINES else "misc"
    tagline, pitch = _TAGLINES[kind]
    v = _variant(spec)
    contact_path = spec.get("contact_path", "/contato")
    page_emails = [e for e in spec.get("emails", []) if e not in spec.get("contact_page_emails", [])]
    page_phones = [p for p in spec.get("phones", []) if p not in spec.get("contact_page_phones", [])]
    if which == "contact":
        page_emails = list(spec.get("emails", []))
        page_phones = list(spec.get("phones", []))
    title = {"home": f"{name} | {tagline}", "contact": f"Contato | {name}", "about": f"Sobre nós | {name}"}[which]
    description = f"{name}: {pitch}"
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title)}</title>",
        f'<meta name="description" content="{_h(description)}">',
    ]
    if "opengraph" in spec.get("addons", []):
        head += [
            f'<meta property="og:title" content="{_h(title)}">',
            '<meta property="og:type" content="website">',
            f'<meta property="og:description" content="{_h(description)}">',
            '<meta property="og:locale" content="pt_BR">',
        ]
    head += _head_markers(spec)
    if which == "home":
        head.append(_jsonld(spec))
    body_class = {
        "wordpress": "home wp-theme-custom",
        "woocommerce": "home wp-theme-custom woocommerce woocommerce-page",
    }
    body: list[str] = [f'<body class="{body_class.get(spec["template"], "page-" + which)}">']
    if "gtm" in spec.get("addons", []):
        body.append(
            f'<!-- Google Tag Manager (noscript) -->\n<noscript><iframe src="https://www.googletagmanager.com/'
            f'ns.html?id={spec["tracking"]["gtm"]}" height="0" width="0" style="display:none;visibility:'
            'hidden"></iframe></noscript>\n<!-- End Google Tag Manager (noscript) -->'
        )
    body.append(f'<div id="{"__next" if spec["template"] == "nextjs" else "page"}" class="site">')
    body.append(
        f'<header class="site-header"><a class="brand" href="/">{_h(name)}</a><nav><ul>'
        f'<li><a href="/">Início</a></li><li><a href="/sobre">Sobre</a></li>'
        f'<li><a href="{contact_path}">Contato</a></li></ul></nav></header>'
    )
    body.append("<main>")
    if which == "home":
        body.append(
            f'<section class="hero"><h1>{_h(name)}</h1><p class="lead">{_h(tagline)}</p><p>{_h(pitch)}</p>'
            f'<a class="btn" href="{contact_path}">Fale conosco</a></section>'
        )
        items = "".join(f"<li>{_h(s)}</li>" for s in _SERVICES[kind])
        body.append(f'<section class="servicos"><h2>O que fazemos</h2><ul>{items}</ul></section>')
    elif which == "about":
        body.append(
            f'<section class="sobre"><h1>Sobre a {_h(name)}</h1><p>A {_h(name)} nasceu em '
            f"{_h(spec.get('city', '').title())} com a missão de oferecer {_h(pitch.lower())}</p>"
            f"<p>Razão social: {_h(spec.get('legal_name') or name)}</p></section>"
        )
    else:
        body.append(
            '<section class="contato"><h1>Fale conosco</h1><p>Preencha o formulário ou use um dos canais '
            'abaixo.</p><form method="post" action="/enviar-contato"><label>Nome <input name="nome">'
            '</label><label>E-mail <input name="email" type="email"></label><label>Mensagem <textarea '
            'name="mensagem"></textarea></label><button type="submit">Enviar</button></form></section>'
        )
    if which in ("home", "contact"):
        contacts = ['<section class="canais"><h2>Contato</h2><ul>']
        for i, p in enumerate(page_phones):
            contacts.append(f'<li class="telefone">Telefone: {_phone_html(p, v + i)}</li>')
        for i, e in enumerate(page_emails):
            contacts.append(f"<li>E-mail: {_email_html(spec, e, v + i)}</li>")
        wa = _whatsapp_url(spec)
        if wa:
            contacts.append(
                f'<li><a class="whatsapp" href="{wa}" target="_blank" rel="noopener">Fale pelo WhatsApp</a></li>'
            )
        if spec.get("address"):
            contacts.append(f'<li class="endereco">{_h(spec["address"])}</li>')
        if spec.get("maps_url"):
            contacts.append(f'<li><a href="{_h(spec["maps_url"])}" target="_blank" rel="noopener">Como chegar</a></li>')
        contacts.append("</ul></section>")
        body.append("".join(contacts))
    if spec.get("page_kb"):
        body.append(bench_filler(spec["domain"], spec["page_kb"] * 1024 - 4000))
    body.append("</main>")
    footer = ['<footer class="site-footer">']
    socials = spec.get("socials", {})
    if socials:
        labels = {"instagram": "Instagram", "facebook": "Facebook", "linkedin": "LinkedIn", "youtube": "YouTube"}
        links = "".join(
            f'<a href="{_h(u)}" target="_blank" rel="noopener" class="social-{k}">{labels[k]}</a> '
            for k, u in socials.items()
        )
        footer.append(f'<div class="redes">{links}</div>')
    legal = f"© 2024 {_h(spec.get('legal_name') or name)}."
    if spec.get("cnpj_in_footer") and spec.get("cnpj"):
        legal += f" CNPJ: {format_cnpj(spec['cnpj'])}"
    footer.append(f'<p class="legal">{legal} Todos os direitos reservados.</p>')
    if spec["template"] == "nuvemshop":
        footer.append(
            '<a href="https://www.nuvemshop.com.br" title="Nuvemshop" target="_blank" rel="nofollow">'
            "Criado com Nuvemshop</a>"
        )
    elif spec["template"] == "loja_integrada":
        footer.append('<a href="https://lojaintegrada.com.br" target="_blank" rel="nofollow">Loja Integrada</a>')
    elif spec["template"] == "tray":
        footer.append('<a href="https://www.tray.com.br" target="_blank" rel="nofollow">Plataforma Tray</a>')
    footer.append("</footer></div>")
    body.append("".join(footer))
    if spec["template"] == "nextjs":
        data = {"props": {"pageProps": {}}, "page": "/", "query": {}, "buildId": "demo", "nextExport": True}
        body.append(f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(data)}</script>')
    body += _body_end_markers(spec)
    body.append("</body>")
    return (
        '<!DOCTYPE html>\n<html lang="pt-BR">\n<head>\n'
        + "\n".join(h for h in head if h)
        + "\n</head>\n"
        + "\n".join(body)
        + "\n</html>\n"
    )


def _js_split(text: str) -> str:
    """A JS expression that builds `text` from pieces, so the static HTML never contains it."""
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    return "+".join(json.dumps(p) for p in pieces)


def _js_shell(spec: dict) -> str:
    """An SPA shell: contacts exist only after the inline script runs in a browser."""
    name = spec["company_name"]
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(name)}</title>",
        f'<meta name="description" content="{_h(name)} - aplicação web">',
        '<link rel="stylesheet" href="/static/css/main.3c1f9a2b.css">',
        *[m for m in _head_markers({**spec, "template": "spa"})],
    ]
    parts = [f"<h1>{_h(name)}</h1><ul>"]
    js: list[str] = []
    for e in spec.get("emails", []):
        js.append(f"'<li>E-mail: <a href=\"mailto:'+({_js_split(e)})+'\">'+({_js_split(e)})+'</a></li>'")
    for p in spec.get("phones", []):
        js.append(
            f"'<li>Telefone: <a href=\"tel:'+({_js_split(p)})+'\">'+({_js_split(format_phone_br(p))})+'</a></li>'"
        )
    if spec.get("whatsapp"):
        js.append(f"'<li><a href=\"'+({_js_split('https://wa.me/' + spec['whatsapp'])})+'\">WhatsApp</a></li>'")
    for k, u in spec.get("socials", {}).items():
        js.append(f"'<li><a href=\"'+({_js_split(u)})+'\">{k}</a></li>'")
    if spec.get("cnpj"):
        js.append(f"'<li>CNPJ: '+({_js_split(format_cnpj(spec['cnpj']))})+'</li>'")
    script = (
        "<script>\n(function(){\n  var root = document.getElementById('root');\n  var html = "
        + json.dumps("".join(parts))
        + "\n    + "
        + "\n    + ".join(js or ["''"])
        + "\n    + '</ul>';\n  root.innerHTML = html;\n})();\n</script>"
    )
    body = [
        "<body>",
        "<noscript>Você precisa habilitar o JavaScript para usar este site.</noscript>",
        '<div id="root"></div>',
        '<script src="/static/js/react-18.2.0.production.min.js"></script>',
        '<script src="/static/js/main.8f3a2c1d.js"></script>',
        script,
        *_body_end_markers({**spec, "template": "spa"}),
        "</body>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="pt-BR">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n"
        + "\n".join(body)
        + "\n</html>\n"
    )


# --------------------------------------------------------------------------- directory decoys


def _directory_response(spec: dict, path: str) -> SiteResponse:
    headers = [*_base_headers(spec), ("Content-Type", "text/html; charset=UTF-8")]
    title = spec["company_name"]
    if path == "/robots.txt":
        return SiteResponse(
            200, [*_base_headers(spec), ("Content-Type", "text/plain; charset=utf-8")], b"User-agent: *\nAllow: /\n"
        )
    listings = {item["cnpj"]: item for item in spec.get("listings", [])}
    head = '<meta charset="utf-8"><link rel="stylesheet" href="/assets/css/bootstrap.min.css?ver=5.3.2">'
    if path == "/":
        items = "".join(
            f'<li><a href="/empresa/{c}">{_h(item["name"])}</a></li>' for c, item in list(listings.items())[:50]
        )
        page = (
            f'<!DOCTYPE html><html lang="pt-BR"><head>{head}<title>{_h(title)} - Consulta CNPJ</title></head>'
            f"<body><h1>{_h(title)}</h1><p>Consulte dados públicos de empresas brasileiras.</p><ul>{items}</ul>"
            "</body></html>"
        )
        return SiteResponse(200, headers, page.encode())
    if path.startswith("/empresa/"):
        item = listings.get(path.removeprefix("/empresa/").strip("/"))
        if item is not None:
            phone = format_phone_br(item["phone"])
            page = (
                f'<!DOCTYPE html><html lang="pt-BR"><head>{head}<title>{_h(item["name"])} - CNPJ '
                f"{format_cnpj(item['cnpj'])} | {_h(title)}</title>"
                f'<meta name="description" content="Dados cadastrais de {_h(item["name"])}"></head><body>'
                f"<h1>{_h(item['name'])}</h1><dl><dt>CNPJ</dt><dd>{format_cnpj(item['cnpj'])}</dd>"
                f"<dt>Nome fantasia</dt><dd>{_h(item['trade_name'] or '-')}</dd>"
                f"<dt>Telefone</dt><dd>{phone}</dd><dt>Município</dt><dd>{_h(item['city'])}/{item['uf']}</dd>"
                f"<dt>CNAE principal</dt><dd>{item['cnae']}</dd></dl>"
                f'<p>Contato do diretório: <a href="mailto:contato@{spec["domain"]}">contato@{spec["domain"]}</a></p>'
                f'<p><a href="/">{_h(title)}</a> · <a href="https://www.facebook.com/{quote(spec["domain"])}">'
                "Facebook</a></p></body></html>"
            )
            return SiteResponse(200, headers, page.encode())
    page = "<!DOCTYPE html><html><head><title>Não encontrado</title></head><body><h1>404</h1></body></html>"
    return SiteResponse(404, headers, page.encode())
