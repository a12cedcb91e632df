"""Contacts and page facts from one HTML page: pure functions, no I/O."""

from __future__ import annotations

import functools
import html as _html
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import phonenumbers
from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser, LexborNode

from shared.domain.phones import br_phone_verdict

SOCIAL_HOSTS = {
    "instagram": ("instagram.com",),
    "linkedin": ("linkedin.com",),
    "facebook": ("facebook.com", "fb.com"),
    "youtube": ("youtube.com", "youtu.be"),
    "twitter": ("twitter.com", "x.com"),
    "tiktok": ("tiktok.com",),
}
_SOCIAL_SKIP_PATHS = ("/sharer", "/share", "/intent/", "/plugins/", "/dialog/", "/tr?", "/tr/", "/embed")

_EMAIL_RE = re.compile(
    r"[a-z0-9][a-z0-9._%+\-]{0,63}@[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?(?:\.[a-z0-9\-]{1,63})*\.[a-z]{2,24}", re.I
)
_OBFUSCATED_RE = re.compile(
    r"([a-z0-9][a-z0-9._%+\-]{0,63})\s*(?:\[\s*(?:at|arroba)\s*\]|\(\s*(?:at|arroba)\s*\)|\{\s*(?:at|arroba)\s*\}"
    r"|\s(?:at|arroba)\s)\s*([a-z0-9\-]+(?:\s*(?:\.|\[\s*(?:dot|ponto)\s*\]|\(\s*(?:dot|ponto)\s*\)|\s(?:dot|ponto)\s)"
    r"\s*[a-z0-9\-]+)+)",
    re.I,
)
_DOT_RE = re.compile(r"\s*(?:\[\s*(?:dot|ponto)\s*\]|\(\s*(?:dot|ponto)\s*\)|\s(?:dot|ponto)\s)\s*", re.I)
_ASSET_EXT = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".css", ".js", ".bmp", ".tif")
_BAD_EMAIL_DOMAINS = ("example.com", "example.org", "domain.com", "email.com", "sentry.io", "wixpress.com",
                      "sentry-next.wixpress.com", "seudominio.com.br", "dominio.com.br", "yourdomain.com")
_PHONE_TEXT_RE = re.compile(
    r"(?:\+?55[\s.\-]?)?\(?0?\d{2}\)?[\s.\-]?(?:9[\s.\-]?)?\d{4}[\s.\-]?\d{4}|0800[\s.\-]?\d{3}[\s.\-]?\d{4}"
)
_MAPS_RE = re.compile(
    r"https?://(?:www\.)?(?:google\.[a-z.]+/maps[^\s\"'<>]*|maps\.google\.[a-z.]+[^\s\"'<>]*"
    r"|goo\.gl/maps/[^\s\"'<>]+|maps\.app\.goo\.gl/[^\s\"'<>]+)",
    re.I,
)
_WA_RE = re.compile(
    r"https?://(?:wa\.me/|(?:api|web)\.whatsapp\.com/send/?\?[^\s\"'<>]*?phone=|chat\.whatsapp\.com/)\+?([0-9A-Za-z]+)",
    re.I,
)


@dataclass
class PageContacts:
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)  # E.164
    whatsapp: list[str] = field(default_factory=list)  # E.164 (or the wa.me URL when not a number)
    socials: dict[str, str] = field(default_factory=dict)
    google_maps_url: str | None = None
    jsonld: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (absolute url, anchor text)
    visible_text: str = ""  # the page's text as read (scripts and styles left out), spaces not collapsed
    registry_ids: list[str] = field(default_factory=list)  # digit strings of CNPJ/SIREN-like numbers

    @functools.cached_property
    def text(self) -> str:
        """The visible text with its spaces collapsed (made when first asked for)."""
        return " ".join(self.visible_text.split())


def _add(lst: list[str], value: str | None) -> None:
    if value and value not in lst:
        lst.append(value)


def clean_email(raw: str) -> str | None:
    e = unquote(raw).strip().strip(".,;:<>()[]{}\"'").lower()
    if e.startswith("mailto:"):
        e = e[7:]
    e = e.split("?")[0]
    if not _EMAIL_RE.fullmatch(e):
        return None
    local, _, domain = e.rpartition("@")
    if domain.endswith(_ASSET_EXT) or re.search(r"@\d+x\.", e) or domain in _BAD_EMAIL_DOMAINS:
        return None
    if re.fullmatch(r"[0-9a-f]{16,}", local):  # tracking ids
        return None
    return e


@functools.lru_cache(maxsize=8192)
def normalize_phone(raw: str, country: str = "BR") -> str | None:
    """E.164 form of a phone written any way, or None. Brazilian numbers take the cleaner's fast path
    (the library's own patterns, ~2 us) where it decides; the library otherwise (~50 us). Cached: the
    same numbers come back on every page of a site (header, footer, JSON-LD)."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 8:
        return None
    text = raw if raw.strip().startswith("+") else digits
    if country == "BR":
        decided, parsed = br_phone_verdict(text)
        if decided:  # a legacy 8-digit mobile is the cleaner's rewrite: the library calls it invalid
            return parsed.e164 if parsed is not None and not parsed.legacy else None
    try:
        num = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def whatsapp_number(url: str, country: str = "BR") -> str | None:
    """E.164 number of a WhatsApp click-to-chat URL, else None."""
    parts = urlsplit(url)
    host = parts.netloc.lower()
    num = ""
    if host.endswith("wa.me"):
        num = unquote(parts.path).strip("/").split("/")[0]
    elif host.endswith("whatsapp.com"):
        num = (parse_qs(parts.query).get("phone") or [""])[0]
    digits = re.sub(r"\D", "", num)
    if not digits:
        return None
    return normalize_phone("+" + digits, country) or normalize_phone(digits, country)


_SOCIAL_KIND_BY_HOST = {h: kind for kind, hosts in SOCIAL_HOSTS.items() for h in hosts}


def social_kind(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = parts.netloc.lower().split(":")[0]
    kind = _SOCIAL_KIND_BY_HOST.get(host)
    while kind is None and "." in host:  # a subdomain of a social host (www., m., pt-br.)
        host = host.split(".", 1)[1]
        kind = _SOCIAL_KIND_BY_HOST.get(host)
    if kind is None:
        return None
    path = parts.path.lower()
    if not path.strip("/") or any(s in path + "?" + parts.query for s in _SOCIAL_SKIP_PATHS):
        return None
    if kind == "linkedin" and not path.startswith(("/company/", "/in/", "/school/")):
        return None
    return kind


def _jsonld_orgs(data: object) -> list[dict]:
    out: list[dict] = []
    if isinstance(data, list):
        for d in data:
            out.extend(_jsonld_orgs(d))
    elif isinstance(data, dict):
        if "@graph" in data:
            out.extend(_jsonld_orgs(data["@graph"]))
        types = data.get("@type")
        types = types if isinstance(types, list) else [types]
        if any(isinstance(t, str) and (t in ("Organization", "Corporation", "LocalBusiness", "Store")
                                       or t.endswith(("Business", "Organization", "Store"))) for t in types):
            out.append(data)
    return out


def _flatten_address(addr: object) -> str | None:
    if isinstance(addr, str):
        return addr
    if isinstance(addr, dict):
        keys = ("streetAddress", "addressLocality", "addressRegion", "postalCode", "addressCountry")
        parts = [addr.get(k) for k in keys]
        return ", ".join(str(p if not isinstance(p, dict) else p.get("name", "")) for p in parts if p) or None
    if isinstance(addr, list) and addr:
        return _flatten_address(addr[0])
    return None


_selectors = threading.local()


def _css(tree: LexborHTMLParser, query: str, *, first: bool = False) -> list[LexborNode]:
    """``tree.css(query)`` (or ``[tree.css_first(query)]``) with one CSS engine per thread: a tree makes its
    own on its first query, ~45 us per page (a third of parsing it)."""
    selector = getattr(_selectors, "selector", None)
    if selector is None:
        selector = _selectors.selector = LexborCSSSelector()
    root = tree.root
    if root is None:
        return []
    return selector.find_first(query, root) if first else selector.find(query, root)


def _parse_jsonld(tree: LexborHTMLParser) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in _css(tree, 'script[type="application/ld+json"]'):
        raw = node.text(deep=True) or ""
        try:
            data = json.loads(raw)
        except ValueError:
            try:
                data = json.loads(re.sub(r"[\x00-\x1f]", " ", raw))
            except ValueError:
                continue
        for org in _jsonld_orgs(data):
            for key in ("name", "legalName", "telephone", "email", "url", "taxID", "vatID", "@type"):
                v = org.get(key)
                if isinstance(v, list) and v:
                    v = v[0]
                if isinstance(v, str | int) and str(v).strip() and key not in out:
                    out[key] = str(v).strip()
            addr = _flatten_address(org.get("address"))
            if addr and "address" not in out:
                out["address"] = addr
            same = org.get("sameAs")
            if same and "sameAs" not in out:
                out["sameAs"] = " ".join(same) if isinstance(same, list) else str(same)
    return out


# Scanning a whole page with an unanchored regex tries it at every character; these regexes only
# run where a match can be: around an "@", around an "at"/"arroba" token, inside runs of phone characters.
_AT_TOKEN_RE = re.compile(r"[\[({\s](?:at|arroba)[\])}\s]", re.I)
_PHONE_RUN_RE = re.compile(r"[\d(+][\d\s.\-()+]{7,}")
_REGISTRY_ID_RE = re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}\s*/?\s*\d{4}\s*-?\s*\d{2}\b|\b\d{3}\s?\d{3}\s?\d{3}\b")
_ID_RUN_RE = re.compile(r"\d[\d\s./\-]{8,}")
# a run of characters that phones and registry ids are made of: every phone run and every id run lies
# inside one, so one scan of the text finds where both are worth looking for
_NUMBER_RUN_RE = re.compile(r"[\d(+][\d\s./\-()+]{7,}")
_LOCAL_MAX = 64  # an e-mail's local part: 1 + {0,63} characters
_DOMAIN_MAX = 320


def _windows(starts: list[int], before: int, after: int, size: int) -> list[tuple[int, int]]:
    """Merged [start - before, start + after) spans, in order."""
    spans: list[tuple[int, int]] = []
    for i in starts:
        lo, hi = max(0, i - before), min(size, i + after)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


# every character ``[a-z0-9._%+\-]`` matches under re.I (a few non-ASCII letters case-fold into a-z)
_LOCAL_CHARS = frozenset(c for c in map(chr, range(0x10000)) if re.fullmatch(r"[a-z0-9._%+\-]", c, re.I))


def _email_matches(text: str) -> list[re.Match[str]]:
    """``_EMAIL_RE.finditer(text)``, tried only where a match can start: a match holds one "@" right after
    its local part, so for each "@" the candidates are the starts of the local-part characters before it,
    leftmost first (as finditer would reach them), and never inside the previous match."""
    out: list[re.Match[str]] = []
    pos = 0
    at = text.find("@")
    while at >= 0:
        lo = max(pos, at - _LOCAL_MAX)
        start = at
        while start > lo and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        for q in range(start, at):
            m = _EMAIL_RE.match(text, q)
            if m is not None:
                out.append(m)
                pos = m.end()
                break
        at = text.find("@", max(at + 1, pos))
    return out


_AT_WORD_RE = re.compile(r"(?:at|arroba)[\])}\s]")  # on lowered text: a case-sensitive scan, twice as fast


# ``_AT_WORD_RE`` on Latin-1 bytes lower-cased (ASCII only: no Latin-1 letter lower-cases into "at"/"arroba",
# and bytes keep the offsets); the class spells out the Latin-1 characters that ``\s`` matches
_AT_WORD_LATIN1_RE = re.compile(rb"(?:at|arroba)[\])}\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0]")


def _at_tokens(text: str) -> list[int]:
    """Starts of the "at"/"arroba" tokens (``_AT_TOKEN_RE``): where an obfuscated e-mail can be. Tokens that
    share a delimiter are all found (a whole-text finditer skips the second), so never fewer windows."""
    try:
        low_bytes = text.encode("latin-1").lower()  # far cheaper than str.lower() on accented text
    except UnicodeEncodeError:
        pass
    else:
        return [i - 1 for i in (m.start() for m in _AT_WORD_LATIN1_RE.finditer(low_bytes))
                if i > 0 and (text[i - 1] in "[({" or text[i - 1].isspace())]
    low = text.lower()
    if len(low) != len(text):  # lower-casing moved the offsets
        return [m.start() for m in _AT_TOKEN_RE.finditer(text)]
    return [i - 1 for i in (m.start() for m in _AT_WORD_RE.finditer(low))
            if i > 0 and (low[i - 1] in "[({" or low[i - 1].isspace())]


def _emails_from_text(text: str, emails: list[str]) -> None:
    for m in _email_matches(text):
        _add(emails, clean_email(m.group(0)))
    for lo, hi in _windows(_at_tokens(text), _LOCAL_MAX + 16, _DOMAIN_MAX, len(text)):
        for m in _OBFUSCATED_RE.finditer(text, lo, hi):
            domain = _DOT_RE.sub(".", m.group(2)).replace(" ", "")
            if "." not in domain:
                continue
            _add(emails, clean_email(f"{m.group(1)}@{domain}"))


# ``_NUMBER_RUN_RE`` on Latin-1 text without its two non-ASCII spaces (\x85, \xa0): there ``\d`` and ``\s``
# are the ASCII digits and spaces. The text's bytes are mapped to three classes first (a: may start a run,
# b: may only go on with one, c: neither), so the scan looks for a literal "a" (a fast search) instead of
# testing a character class at every character: ~70 -> ~25 us on a contact page's text.
_NUMBER_RUN_CLASSES = bytes(
    ord("a") if chr(c) in "0123456789(+" else ord("b") if chr(c) in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ./-)" else ord("c")
    for c in range(256)
)
_NUMBER_RUN_CLASSES_RE = re.compile(rb"a[ab]{7,}")


def _number_runs(text: str) -> list[tuple[int, int]]:
    if "\x85" not in text and "\xa0" not in text:
        try:
            raw = text.encode("latin-1")  # a byte per character: spans stay the text's
        except UnicodeEncodeError:
            pass
        else:
            return [m.span() for m in _NUMBER_RUN_CLASSES_RE.finditer(raw.translate(_NUMBER_RUN_CLASSES))]
    return [m.span() for m in _NUMBER_RUN_RE.finditer(text)]


def _phone_matches(text: str, number_runs: list[tuple[int, int]] | None = None) -> list[re.Match[str]]:
    """``_PHONE_TEXT_RE.finditer(text)``: a phone is made of phone characters, so scan only their runs."""
    spans = _number_runs(text) if number_runs is None else number_runs
    return [m for lo, hi in spans for run in _PHONE_RUN_RE.finditer(text, lo, hi)
            for m in _PHONE_TEXT_RE.finditer(text, run.start(), run.end())]


def _registry_id_matches(text: str, number_runs: list[tuple[int, int]] | None = None) -> list[re.Match[str]]:
    """``_REGISTRY_ID_RE`` matches inside the runs of id characters (as ``_phone_matches``)."""
    spans = _number_runs(text) if number_runs is None else number_runs
    return [m for lo, hi in spans for run in _ID_RUN_RE.finditer(text, lo, hi)
            for m in _REGISTRY_ID_RE.finditer(text, run.start(), run.end())]


def _collapsed_runs(raw: str, spans: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """Each number run of ``raw`` as it reads in the text with spaces collapsed (``" ".join(raw.split())``),
    behind the character before it, if any: (string, where the run starts in it). Spaces are run characters,
    so collapsing maps runs to runs; what a phone or id regex finds in a collapsed run, it finds in the
    collapsed text (the character before keeps ``\\b`` right at the start; at the end the run's end is the
    scan's end, as in ``_registry_id_matches``)."""
    out: list[tuple[str, int]] = []
    for lo, hi in spans:
        run = raw[lo:hi]
        if "  " in run or not _SINGLE_SPACED_RE.fullmatch(run):
            run = " ".join(run.split())
        out.append((raw[lo - 1] + run, 1) if lo else (run, 0))
    return out


_SINGLE_SPACED_RE = re.compile(r"[^\s]*(?: [^\s]+)*")  # no space but single " " between non-spaces


def _phone_matches_in_runs(runs: list[tuple[str, int]]) -> list[re.Match[str]]:
    """``_phone_matches`` of the collapsed text, from its collapsed number runs (``_collapsed_runs``)."""
    return [m for s, start in runs for run in _PHONE_RUN_RE.finditer(s, start)
            for m in _PHONE_TEXT_RE.finditer(s, run.start(), run.end())]


def _registry_id_matches_in_runs(runs: list[tuple[str, int]]) -> list[re.Match[str]]:
    """``_registry_id_matches`` of the collapsed text, from its collapsed number runs (``_collapsed_runs``)."""
    return [m for s, start in runs for run in _ID_RUN_RE.finditer(s, start)
            for m in _REGISTRY_ID_RE.finditer(s, run.start(), run.end())]


_PLAIN_URL_RE = re.compile(r"https?://[A-Za-z0-9.\-:@]+(?:/[A-Za-z0-9\-._~!$&'()*+,=:@/%]*)?")
_ORIGIN_PATH_RE = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,=:@/%]*")  # no ";", "?", "#", spaces or non-ASCII


@functools.lru_cache(maxsize=256)
def _origin(base_url: str) -> str | None:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def _join(base_url: str, href: str) -> str:
    """``urljoin(base_url, href)``. Two common forms are answered as urljoin would without parsing: a plain
    absolute path (no dot segment, query, fragment or parameters) goes on the base's origin, and a plain
    absolute http(s) URL is itself (urljoin re-assembles it from its parts unchanged)."""
    if href[:1] == "/":
        if href[1:2] != "/" and "/." not in href and _ORIGIN_PATH_RE.fullmatch(href):
            origin = _origin(base_url)
            if origin is not None:
                return origin + href
    elif href[:4] == "http" and _PLAIN_URL_RE.fullmatch(href) and _origin(base_url) is not None:
        return href
    return urljoin(base_url, href)


_WA_HOSTS_BYTES = (b"wa.me/", b"whatsapp.com/")
_WA_BEFORE = len("https://chat.") + 1  # from the start of a match to its host
_WA_AFTER = 2048


def _wa_matches(html: str, low_bytes: bytes) -> list[re.Match[str]]:
    """``_WA_RE.finditer(html)``, scanning only the spans around each WhatsApp host. ``low_bytes`` is
    ``html`` in Latin-1 (a byte per character) or UTF-8, ASCII-lower-cased: the hosts are ASCII without
    "k" or "i" (the only letters a non-ASCII character lower-cases into), so they are found there as
    ``html.lower()`` would show them; a UTF-8 byte offset becomes a character offset by decoding the
    bytes before it (once over the page)."""
    offsets: list[int] = []
    for host in _WA_HOSTS_BYTES:
        i = low_bytes.find(host)
        while i >= 0:
            offsets.append(i)
            i = low_bytes.find(host, i + 1)
    if not offsets:
        return []
    offsets.sort()
    if len(low_bytes) == len(html):  # Latin-1 (or ASCII): bytes and characters line up
        starts = offsets
    else:
        starts, chars, prev = [], 0, 0
        for i in offsets:  # each offset is an ASCII byte: a character boundary
            chars += len(low_bytes[prev:i].decode("utf-8", "surrogatepass"))
            starts.append(chars)
            prev = i
    return [m for lo, hi in _windows(starts, _WA_BEFORE, _WA_AFTER, len(html)) for m in _WA_RE.finditer(html, lo, hi)]


# Every URL that ``_WA_RE``/"whatsapp.com/send", ``_MAPS_RE`` or ``social_kind`` accepts holds one of these
# (lower-cased); none spans a "/", so a joined URL holds one only if its base or its href does.
_CONTACT_URL_WORDS = ("wa.me", "whatsapp", "google", "goo.gl") + tuple(
    h for hosts in SOCIAL_HOSTS.values() for h in hosts)


def _may_be_contact_url(href: str) -> bool:
    """False when no URL joined from ``href`` can be a WhatsApp, Maps or social link (unless its base can).
    Entities, tabs and newlines (urlsplit drops them) and non-ASCII (case folds such as the long s) go the
    full way."""
    if "&" in href or "\t" in href or "\n" in href or "\r" in href or not href.isascii():
        return True
    return _CONTACT_URL_WORDS_RE.search(href) is not None


_CONTACT_URL_WORDS_RE = re.compile("|".join(re.escape(w) for w in _CONTACT_URL_WORDS), re.I)  # ASCII only here


def extract_contacts(html: str, base_url: str, country: str = "BR") -> PageContacts:
    """Everything one page tells: contacts, title, description, links, visible text, registry ids."""
    return _extract(html, base_url, country, full=True)


def extract_page_contacts(html: str, base_url: str, country: str = "BR") -> PageContacts:
    """What a secondary (contact/about) page adds to a site's enrichment: e-mails, phones, WhatsApp, socials,
    the Maps URL and JSON-LD, as ``extract_contacts`` finds them; no title, description, links, text or ids,
    and links that cannot be a WhatsApp/Maps/social URL are not resolved."""
    return _extract(html, base_url, country, full=False)


def _extract(html: str, base_url: str, country: str, *, full: bool) -> PageContacts:
    tree = LexborHTMLParser(html or "<html></html>")
    pc = PageContacts()
    if full:
        for title in _css(tree, "title", first=True):
            pc.title = re.sub(r"\s+", " ", title.text(deep=True) or "").strip() or None
        for sel in ('meta[name="description"]', 'meta[property="og:description"]'):
            found = _css(tree, sel, first=True)
            if found and (found[0].attributes.get("content") or "").strip():
                pc.description = (found[0].attributes.get("content") or "").strip()
                break
    pc.jsonld = _parse_jsonld(tree)
    region = country.upper() if country else "BR"
    base_maybe_contact = _may_be_contact_url(base_url)

    for node in _css(tree, "a[href], area[href], iframe[src]"):
        attrs = node.attrs
        href = (attrs.get("href") or attrs.get("src") or "").strip()
        if not href:
            continue
        low = href.lower()
        if low.startswith("mailto:"):
            for part in unquote(href[7:]).split("?")[0].split(","):
                _add(pc.emails, clean_email(part))
            continue
        if low.startswith(("tel:", "callto:")):
            _add(pc.phones, normalize_phone(unquote(href.split(":", 1)[1]), region))
            continue
        if low.startswith(("javascript:", "#", "data:")):
            continue
        maybe_contact = base_maybe_contact or _may_be_contact_url(href)
        if not (full or maybe_contact):
            continue
        url = _join(base_url, _html.unescape(href) if "&" in href else href)
        if maybe_contact:  # else no WhatsApp, Maps or social URL can come of it (``_may_be_contact_url``)
            if _WA_RE.match(url) or "whatsapp.com/send" in url.lower():
                wa = whatsapp_number(url, region)
                _add(pc.whatsapp, wa or url)
                continue
            if _MAPS_RE.match(url) and pc.google_maps_url is None:
                pc.google_maps_url = url
                continue
            kind = social_kind(url)
            if kind:
                pc.socials.setdefault(kind, url.split("?")[0].rstrip("/"))
                continue
        if full and node.tag != "iframe":
            pc.links.append((url, " ".join((node.text(deep=True) or "").split())[:80]))

    # visible text (scripts/styles removed) for e-mails, phones and ids
    body = tree.body
    for junk in _css(tree, "script:not([type='application/ld+json']), style, noscript, template"):
        junk.decompose()
    # the visible text as lexbor reads it, spaces not collapsed: collapsing them (``PageContacts.text``) costs
    # as much as parsing the page, and the scans below find the same things without it
    raw = body.text(separator=" ", strip=True) if body is not None else ""
    if full:
        pc.visible_text = raw
    if _at_tokens(raw):  # an "at"/"arroba" token: obfuscated e-mails are read on the collapsed text
        _emails_from_text(" ".join(raw.split()), pc.emails)
    else:  # e-mails hold no spaces: the same matches with spaces collapsed or not
        for m in _email_matches(raw):
            _add(pc.emails, clean_email(m.group(0)))
    # e-mails also hide in attributes (data-email, content) and raw markup
    for m in _email_matches(html):
        e = clean_email(m.group(0))
        if e and not re.search(r"\.(?:png|jpe?g|gif|svg|webp)$", m.group(0), re.I):
            _add(pc.emails, e)
    runs = _collapsed_runs(raw, _number_runs(raw))
    for m in _phone_matches_in_runs(runs):
        _add(pc.phones, normalize_phone(m.group(0), region))
    # the words below are ASCII without "k" or "i", the only letters a non-ASCII character lower-cases
    # into: they are in ``html.lower()`` exactly when they are in its bytes ASCII-lower-cased, a fraction
    # of the cost of lower-casing a str that holds accents (Latin-1 bytes when every character fits: a
    # copy, and offsets stay the text's; else UTF-8)
    try:
        low_bytes = html.encode("latin-1").lower()
    except UnicodeEncodeError:
        low_bytes = html.encode("utf-8", "surrogatepass").lower()
    if pc.google_maps_url is None and (b"maps" in low_bytes or b"goo.gl" in low_bytes):
        m = _MAPS_RE.search(html)
        if m is not None:
            pc.google_maps_url = _html.unescape(m.group(0))
    if b"wa.me" in low_bytes or b"whatsapp.com" in low_bytes:
        for m in _wa_matches(html, low_bytes):
            wa = whatsapp_number(_html.unescape(m.group(0)), region)
            if wa:
                _add(pc.whatsapp, wa)
    if full:
        for m in _registry_id_matches_in_runs(runs):
            _add(pc.registry_ids, re.sub(r"\D", "", m.group(0)))

    ld = pc.jsonld
    if ld.get("email"):
        _add(pc.emails, clean_email(ld["email"].removeprefix("mailto:")))
    if ld.get("telephone"):
        _add(pc.phones, normalize_phone(ld["telephone"], region))
    for url in (ld.get("sameAs") or "").split():
        kind = social_kind(url)
        if kind:
            pc.socials.setdefault(kind, url.rstrip("/"))
    for key in ("taxID", "vatID"):
        if full and ld.get(key):
            _add(pc.registry_ids, re.sub(r"\D", "", ld[key]))
    pc.phones = [p for p in pc.phones if p]
    pc.emails = [e for e in pc.emails if e]
    return pc


_CONTACT_WORDS = ("contato", "contact", "fale-conosco", "fale conosco", "faleconosco", "about", "sobre",
                  "quem-somos", "quem somos", "empresa", "a-empresa", "nous-contacter", "a-propos", "mentions")


def contact_links(pc: PageContacts, site_url: str, limit: int = 5) -> list[str]:
    """Same-site links that likely lead to contact/about pages, best first."""
    host = urlsplit(site_url).netloc.lower().removeprefix("www.")
    scored: list[tuple[int, str]] = []
    seen: set[str] = set()
    for url, text in pc.links:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower().removeprefix("www.") != host:
            continue
        clean = url.split("#")[0]
        if clean in seen or clean.rstrip("/") == site_url.rstrip("/"):
            continue
        hay = (parts.path + " " + text).lower()
        score = 0
        for i, w in enumerate(_CONTACT_WORDS):
            if w in hay:
                score = max(score, 100 - i)
        if score:
            seen.add(clean)
            scored.append((score, clean))
    scored.sort(key=lambda t: -t[0])
    return [u for _, u in scored[:limit]]
