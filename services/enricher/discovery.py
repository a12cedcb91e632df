"""Finding a company's website: candidates (e-mail domain, search, guessed domains) and verification."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from shared.contracts.vocabulary import LEGAL_WORDS_IN_DOMAIN_GUESSES
from shared.domain.emails import is_free_mail_domain
from shared.registry_ids import is_valid_cnpj, is_valid_siren, is_valid_siret
from shared.schemas import ApiCall, ScoredLead

from .extraction import PageContacts, normalize_phone, social_kind

# Hosts never taken as a company's own website.
EXCLUDED_HOST_SUFFIXES = (
    "facebook.com", "fb.com", "instagram.com", "linkedin.com", "youtube.com", "youtu.be", "twitter.com",
    "x.com", "tiktok.com", "pinterest.com", "wa.me", "whatsapp.com", "google.com", "goo.gl", "bing.com",
    "mercadolivre.com.br", "mercadolibre.com", "amazon.com.br", "amazon.com", "shopee.com.br",
    "magazineluiza.com.br", "americanas.com.br", "olx.com.br", "elo7.com.br", "aliexpress.com",
    "cnpj.biz", "casadosdados.com.br", "econodata.com.br", "cnpja.com", "cnpj.ws", "cnpj.info",
    "consultacnpj.com", "empresascnpj.com", "solutudo.com.br", "guiamais.com.br", "apontador.com.br",
    "telelistas.net", "reclameaqui.com.br", "infojobs.com.br", "glassdoor.com", "glassdoor.com.br",
    "indeed.com", "wikipedia.org", "yelp.com", "tripadvisor.com", "tripadvisor.com.br", "ifood.com.br",
    "societe.com", "pappers.fr", "infogreffe.fr", "pagesjaunes.fr", "verif.com", "annuaire-entreprises.data.gouv.fr",
    "linktr.ee", "wixsite.com", "blogspot.com", "gov.br", "jusbrasil.com.br",
)
EXCLUDED_HOST_WORDS = ("directory", "diretorio", "annuaire", "guia-", "listadeempresas", "cnpj")
LEGAL_SUFFIXES = LEGAL_WORDS_IN_DOMAIN_GUESSES
STOP_WORDS = frozenset(["de", "da", "do", "das", "dos", "e", "the", "and", "et", "la", "le", "les", "du", "des", "em"])
TLDS = {"BR": (".com.br", ".com"), "FR": (".fr", ".com")}


def host_of(url_or_host: str) -> str:
    s = url_or_host.strip()
    if "://" not in s:
        s = "http://" + s
    try:
        host = urlsplit(s).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def bare_domain(host: str) -> str:
    return host.lower().removeprefix("www.")


_EXCLUDED_SUFFIX_SET = frozenset(EXCLUDED_HOST_SUFFIXES)


def is_excluded_host(host: str) -> bool:
    h = bare_domain(host)
    if not h or "." not in h:
        return True
    # the host or one of its parent domains is excluded: look each of them up
    i = -1
    while True:
        if h[i + 1:] in _EXCLUDED_SUFFIX_SET:
            return True
        i = h.find(".", i + 1)
        if i < 0:
            break
    return any(w in h for w in EXCLUDED_HOST_WORDS)


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def name_tokens(name: str) -> list[str]:
    """Significant lower-case ascii tokens of a company name (legal suffixes and stop words dropped)."""
    folded = ascii_fold(name).replace("&", " e ")
    tokens = re.findall(r"[a-z0-9]+(?:/[a-z])?", folded)
    out = [t for t in tokens if t not in LEGAL_SUFFIXES and t.replace("/", "") not in LEGAL_SUFFIXES]
    while out and out[-1] in STOP_WORDS:
        out.pop()
    return [t for t in out if "/" not in t]


def guess_domains(name: str | None, country: str = "BR", limit: int = 6) -> list[str]:
    if not name:
        return []
    toks = name_tokens(name)
    if not toks:
        return []
    core = [t for t in toks if t not in STOP_WORDS]
    slugs: list[str] = []
    for s in ("".join(core), "-".join(core), "".join(toks)):
        if len(s) >= 3 and s not in slugs:
            slugs.append(s)
    out: list[str] = []
    for tld in TLDS.get(country.upper(), (".com",)):
        for s in slugs:
            d = s + tld
            if d not in out:
                out.append(d)
    return out[:limit]


def lead_names(lead: ScoredLead) -> list[str]:
    c = lead.lead.company
    return [n for n in (c.trade_name, c.legal_name) if n and n.strip()]


def email_domain_candidates(lead: ScoredLead) -> list[str]:
    c = lead.lead.company
    cands: list[str] = []
    if c.website:
        cands.append(host_of(c.website))
    cands.extend(host_of(d) for d in lead.lead.website_candidates)
    # host names only: an e-mail's domain may carry a port or brackets (``contato@127.0.0.1:8080``), which
    # a guess never does (the address itself is the SSRF guard's to refuse)
    for e in lead.lead.emails:
        if not e.free_mail:
            cands.append(host_of(e.domain))
    for raw in c.emails:
        if "@" in raw:
            cands.append(host_of(raw.rsplit("@", 1)[1]))
    out: list[str] = []
    for d in cands:
        d = bare_domain(d)
        if d and not is_free_mail_domain(d) and not is_excluded_host(d) and d not in out:
            out.append(d)
    return out


# ----------------------------------------------------------------------------------- search


@dataclass
class SearchHit:
    title: str
    link: str
    snippet: str = ""
    position: int = 0


class SearchProvider(Protocol):
    async def search(self, query: str, *, lead_key: str | None = None) -> tuple[list[SearchHit], list[ApiCall]]: ...


class SerperSearch:
    """Serper-compatible search (POST {base}/search). Never goes through the crawling proxy."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 10.0, country: str = "br") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.country = country
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)  # no proxy, on purpose

    async def aclose(self) -> None:
        await self._client.aclose()

    async def search(self, query: str, *, lead_key: str | None = None) -> tuple[list[SearchHit], list[ApiCall]]:
        url = f"{self.base_url}/search"
        headers = {"X-API-KEY": self.api_key or "", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        try:
            resp = await self._client.post(url, json={"q": query, "gl": self.country, "num": 10}, headers=headers)
        except httpx.HTTPError as e:
            call = ApiCall(service="search", endpoint=url, method="POST", error=f"{type(e).__name__}: {e}"[:300],
                           latency_ms=(time.perf_counter() - t0) * 1000, lead_key=lead_key)
            return [], [call]
        call = ApiCall(service="search", endpoint=url, method="POST", status=resp.status_code,
                       latency_ms=round((time.perf_counter() - t0) * 1000, 2), bytes=len(resp.content),
                       lead_key=lead_key)
        if resp.status_code != 200:
            call.error = f"status {resp.status_code}"
            return [], [call]
        try:
            organic = resp.json().get("organic") or []
        except ValueError:
            call.error = "invalid json"
            return [], [call]
        hits = [
            SearchHit(str(o.get("title") or ""), str(o.get("link") or ""), str(o.get("snippet") or ""),
                      int(o.get("position") or i + 1))
            for i, o in enumerate(organic) if isinstance(o, dict) and o.get("link")
        ]
        return hits, [call]


def search_query(lead: ScoredLead) -> str | None:
    names = lead_names(lead)
    if not names:
        return None
    a = lead.lead.company.address
    return " ".join(p for p in (names[0], a.city, a.state) if p)


def split_search_hits(hits: list[SearchHit], limit: int = 4) -> tuple[list[str], dict[str, str]]:
    """(candidate domains in rank order, social profiles) from search results."""
    domains: list[str] = []
    socials: dict[str, str] = {}
    for h in sorted(hits, key=lambda h: h.position):
        kind = social_kind(h.link)
        if kind:
            socials.setdefault(kind, h.link.split("?")[0].rstrip("/"))
            continue
        host = host_of(h.link)
        if is_excluded_host(host):
            continue
        d = bare_domain(host)
        if d not in domains:
            domains.append(d)
    return domains[:limit], socials


# ----------------------------------------------------------------------------------- verification


@dataclass
class Verification:
    evidence: list[str] = field(default_factory=list)
    confidence: float = 0.0
    listing: str | None = None  # why the page is a directory/marketplace/social page, which verifies nothing

    @property
    def verified(self) -> bool:
        return bool(self.evidence)


_DIGIT_RUN_RE = re.compile(r"\d[\d.\-/ ]{7,22}\d")
_DIGITS_RE = re.compile(r"[0-9]{9,}")  # registry ids in link URLs (/empresa/<cnpj>): whole runs of digits
_WEIGHTS = {"registry_id": 0.95, "phone": 0.85, "name": 0.6, "email_domain": 0.3}
LISTING_MIN_OTHER_IDS = 2  # a page showing this many other companies' registry ids lists companies


def registry_roots(ids: Iterable[str], country: str) -> set[str]:
    """The companies (CNPJ root, SIREN) behind the valid registry ids among ``ids`` (any punctuation)."""
    roots: set[str] = set()
    for raw in ids:
        digits = re.sub(r"\D", "", raw)
        if country == "FR":
            if len(digits) == 14 and is_valid_siret(digits) or len(digits) == 9 and is_valid_siren(digits):
                roots.add(digits[:9])
        elif len(digits) == 14 and is_valid_cnpj(digits):
            roots.add(digits[:8])
    return roots


def listing_reason(domain: str, page_ids: Iterable[str], own_root: str | None, country: str) -> str | None:
    """Why a page is not any one company's site, or None: a known directory/marketplace/social host
    (``EXCLUDED_HOST_SUFFIXES``), or a page listing other companies' registry ids (a registry directory)."""
    if is_excluded_host(domain):
        return f"{bare_domain(domain)} is a directory, marketplace or social host"
    others = registry_roots(page_ids, country) - {own_root}
    if len(others) >= LISTING_MIN_OTHER_IDS:
        return f"the page lists {len(others)} other companies' registry ids"
    return None


def verify_page(lead: ScoredLead, pc: PageContacts, html: str | Callable[[], str], domain: str, *,
                discovered_by: str) -> Verification:
    """Evidence that the page belongs to the lead: registry id, a shared phone, or a strong name match;
    none on a directory's page (``listing_reason``: its text or links show other companies' ids).
    ``html`` may be a function giving it: the markup is only read when the page's text shows no id."""
    c = lead.lead.company
    v = Verification()
    rid = re.sub(r"\D", "", c.registry_id or "")
    country = (c.country or "BR").upper()
    if rid:
        ids = set(pc.registry_ids)
        wanted = {rid}
        if country == "FR" and len(rid) in (9, 14):
            wanted = {rid[:9]}

        def has_id(found: Iterable[str]) -> bool:
            return any(any(f == w or (country == "FR" and f.startswith(w)) for w in wanted) for f in found)

        # the page's own registry ids first; the digit runs of the whole markup only when they miss
        if has_id(ids) or has_id({re.sub(r"\D", "", m) for m in _DIGIT_RUN_RE.findall(
                html() if callable(html) else html)}):
            v.evidence.append("registry_id")
    lead_phones = {p.e164 for p in lead.lead.phones}
    for raw in c.phones:
        e = normalize_phone(raw, country)
        if e:
            lead_phones.add(e)
    if lead_phones & (set(pc.phones) | set(pc.whatsapp)):
        v.evidence.append("phone")
    if _name_matches(lead, pc):
        v.evidence.append("name")
    if v.evidence:  # a directory shows the lead's id, name and phone too, among other companies'
        own_root = next(iter(registry_roots([rid], country)), None) if rid else None
        page_ids = [*pc.registry_ids, *_DIGITS_RE.findall(" ".join(url for url, _ in pc.links))]
        reason = listing_reason(domain, page_ids, own_root, country)
        if reason is not None:
            return Verification(listing=reason)
    elif is_excluded_host(domain):
        return Verification(listing=listing_reason(domain, (), None, country))
    if discovered_by == "email_domain" and v.evidence and any(e.endswith("@" + domain) for e in pc.emails):
        v.evidence.append("email_domain")
    miss = 1.0
    for ev in v.evidence:
        miss *= 1.0 - _WEIGHTS[ev]
    prior = {"email_domain": 0.15, "registry": 0.2, "search": 0.05, "guess": 0.0}.get(discovered_by, 0.0)
    v.confidence = round((1.0 - miss) * (1.0 - prior) + prior, 3) if v.evidence else 0.0
    return v


def _name_matches(lead: ScoredLead, pc: PageContacts) -> bool:
    head = " ".join(x for x in (pc.title, pc.jsonld.get("name"), pc.jsonld.get("legalName"), pc.description) if x)
    head_toks = " " + " ".join(name_tokens(head)) + " "
    text_toks: str | None = None  # the page text's tokens, made only when a name is not in the head
    for name in lead_names(lead):
        toks = name_tokens(name)
        phrase = " ".join(toks)
        if len(phrase.replace(" ", "")) < 5:
            continue
        if f" {phrase} " in head_toks:
            return True
        if len(toks) >= 2 and len(phrase) >= 10:
            if text_toks is None:
                text_toks = " " + " ".join(name_tokens(pc.text[:20000])) + " "
            if f" {phrase} " in text_toks:
                return True
    return False
