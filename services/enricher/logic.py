"""The enricher's domain: find and verify a lead's website, then read contacts and technologies from it."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from shared.config import Settings
from shared.schemas import ApiCall, Enrichment, ScoredLead, Technology

from .browser import BrowserRenderer, looks_like_js_shell
from .budgets import BudgetExceeded, RunBudgets
from .discovery import (
    SearchProvider,
    SerperSearch,
    Verification,
    bare_domain,
    email_domain_candidates,
    guess_domains,
    host_of,
    is_excluded_host,
    lead_names,
    search_query,
    split_search_hits,
    verify_page,
)
from .extraction import PageContacts, contact_links
from .fetcher import Fetcher, FetchResult, decode_body
from .fingerprints import FingerprintDB
from .http_cache import HttpCache
from .page_reader import InProcessReader, PageReader, WorkerReader, page_workers

VaultLookup = Callable[[str, str | None], Awaitable[Enrichment | None]]



TEXT_EXCERPT_CHARS = 2000
_JSONLD_START = re.compile(r'\{\s*"@context"')


def _without_jsonld(text: str) -> str:
    """The text less the JSON-LD blocks lexbor reads as text (their facts are in ``Enrichment.jsonld``)."""
    decoder = json.JSONDecoder()
    while (found := _JSONLD_START.search(text)) is not None:
        try:
            _, end = decoder.raw_decode(text, found.start())
        except ValueError:  # cut short by the excerpt's window, or not JSON: the rest goes
            return text[: found.start()]
        text = text[: found.start()] + " " + text[end:]
    return text


def text_excerpt(visible_text: str, limit: int = TEXT_EXCERPT_CHARS) -> str | None:
    """The start of a page's visible text, spaces collapsed, at most ``limit`` characters (cut at a word):
    what the qualifier reads of a site. Only the head of the text is collapsed (a long page costs no more)."""
    text = " ".join(_without_jsonld(visible_text[: limit * 4]).split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0]
    return text or None

@dataclass
class EnrichOutcome:
    enrichment: Enrichment
    api_calls: list[ApiCall] = field(default_factory=list)


@dataclass
class _Site:
    domain: str
    home: FetchResult
    contacts: PageContacts
    verification: Verification
    discovered_by: str
    technologies: list[Technology]
    rendered: bool = False


class Enricher:
    def __init__(
        self,
        settings: Settings,
        *,
        fingerprints: FingerprintDB | None = None,
        vault_lookup: VaultLookup | None = None,
        search: SearchProvider | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.settings = settings
        self.fingerprints = fingerprints
        self.vault_lookup = vault_lookup
        self.budgets = RunBudgets.from_settings(settings)
        self._search = search
        self._fetcher = fetcher
        self._browser: BrowserRenderer | None = None
        self._reader: PageReader | None = None
        self._retired: list[Any] = []  # replaced by reconfigure, closed on exit (leads may still use them)
        # "missing": a site's contact pages are fetched only while its homepage lacks an e-mail or a phone;
        # "always": also when it shows both (contacts found only there, e.g. a finance e-mail, are kept)
        self.contact_pages = settings.fetch_contact_pages
        self.schemes = [
            s.strip() for s in str(getattr(settings, "fetch_schemes", "https,http")).split(",") if s.strip()
        ] or ["https", "http"]
        # a lead's whole time (all its requests, the browser too): past it the lead ends as an error
        self.lead_deadline = float(getattr(settings, "enrich_lead_deadline_s", 120.0) or 0) or None
        # cancelled runs: their leads in flight are stopped (their connections closed), new ones skipped
        self._cancelled: dict[str, None] = {}
        self._in_flight: dict[str, set[asyncio.Task[Any]]] = {}

    async def __aenter__(self) -> Enricher:
        s = self.settings
        workers = page_workers(s.enricher_page_workers, s.enricher_replicas_per_host)
        if self.fingerprints is None and workers:  # the workers load the database the settings name
            self._reader = await WorkerReader(workers, s.fingerprints_path).start()
        else:
            if self.fingerprints is None:
                self.fingerprints = FingerprintDB.from_settings(s)
            self._reader = InProcessReader(self.fingerprints)
        if self._fetcher is None:
            ttl = float(s.cache_ttl_hours) * 3600
            cache = HttpCache(ttl, disk_dir=(s.data_dir / "http_cache") if ttl > 0 else None)
            self._fetcher = Fetcher(s, cache=cache, budgets=self.budgets)
        if self._search is None and s.search_base_url:
            self._search = SerperSearch(s.search_base_url, s.serper_api_key)
        if s.enable_playwright:
            self._browser = BrowserRenderer(s, max_pages=max(1, min(8, s.enricher_concurrency // 8)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._fetcher is not None:
            await self._fetcher.aclose()
        if self._reader is not None:
            await self._reader.aclose()
        if isinstance(self._search, SerperSearch):
            await self._search.aclose()
        for retired in self._retired:
            await retired.aclose()
        if self._browser is not None:
            await self._browser.aclose()

    async def reconfigure(self, settings: Settings) -> None:
        """Take settings saved on the Config page while running: the search provider's key, pages per
        site, which contact pages, the browser fallback. Leads in flight finish with what they had."""
        old, self.settings = self.settings, settings
        self.contact_pages = settings.fetch_contact_pages
        search_changed = (settings.search_base_url, settings.serper_api_key) != \
            (old.search_base_url, old.serper_api_key)
        if search_changed and settings.search_base_url and (self._search is None or
                                                            isinstance(self._search, SerperSearch)):
            if isinstance(self._search, SerperSearch):
                self._retired.append(self._search)
            self._search = SerperSearch(settings.search_base_url, settings.serper_api_key)
        if settings.enable_playwright and self._browser is None:
            self._browser = BrowserRenderer(settings, max_pages=max(1, min(8, settings.enricher_concurrency // 8)))
        elif not settings.enable_playwright and self._browser is not None:
            self._retired.append(self._browser)
            self._browser = None

    # ------------------------------------------------------------------ public

    def cancel_run(self, run_id: str) -> int:
        """The run was cancelled: its leads in flight stop now (no request more than those already sent; their
        connections are closed) and end ``skipped``; its leads still to come are skipped. How many stopped."""
        if len(self._cancelled) >= 4096:
            self._cancelled.pop(next(iter(self._cancelled)))
        self._cancelled[run_id] = None
        tasks = self._in_flight.pop(run_id, set())
        for task in tasks:
            task.cancel(CANCELLED_RUN)
        return len(tasks)

    def run_cancelled(self, run_id: str) -> bool:
        return run_id in self._cancelled

    async def enrich(self, lead: ScoredLead, *, run_id: str, reuse_only: bool = False) -> EnrichOutcome:
        """The lead's enrichment: the vault's when it holds one within the TTL, else fetched from the web
        (``reuse_only``: never fetched; ``skipped`` when the vault has none)."""
        key = lead.lead.lead_key
        if run_id in self._cancelled:
            return EnrichOutcome(cancelled_enrichment(key), [])
        task = asyncio.current_task()
        assert task is not None
        running = self._in_flight.setdefault(run_id, set())
        running.add(task)
        calls: list[ApiCall] = []
        try:
            return await self._enrich_within_deadline(lead, run_id, calls, reuse_only)
        except asyncio.CancelledError:
            if run_id not in self._cancelled or task.uncancel():
                raise  # cancelled for another reason (too): the service stopping
            return EnrichOutcome(cancelled_enrichment(key), calls)  # the calls sent before the cancellation
        finally:
            running.discard(task)
            if not running and self._in_flight.get(run_id) is running:
                del self._in_flight[run_id]

    async def _enrich_within_deadline(self, lead: ScoredLead, run_id: str, calls: list[ApiCall],
                                      reuse_only: bool = False) -> EnrichOutcome:
        key = lead.lead.lead_key
        now = datetime.now(UTC).isoformat()
        if self.vault_lookup is not None:
            hint = next(iter(email_domain_candidates(lead)), None)
            previous = await self.vault_lookup(key, hint)
            if previous is not None:
                return EnrichOutcome(previous.model_copy(update={"reused": True}), [])
        if reuse_only:
            return EnrichOutcome(Enrichment(lead_key=key, status="skipped", fetched_at=now,
                                            error="outside the run's top share and no enrichment in the vault"), [])
        which = self.budgets.exceeded(run_id)
        if which:
            return EnrichOutcome(Enrichment(lead_key=key, status="budget_exceeded", fetched_at=now,
                                            error=f"run budget exceeded: {which}"), calls)
        deadline = asyncio.timeout(self.lead_deadline)
        try:
            async with deadline:
                enrichment = await self._enrich(lead, run_id, calls)
        except TimeoutError as e:
            error = f"lead deadline exceeded ({self.lead_deadline:g} s)" if deadline.expired() else \
                f"{type(e).__name__}: {e}"[:500]
            enrichment = Enrichment(lead_key=key, status="error", error=error, pages_fetched=0)
        except BudgetExceeded as e:
            enrichment = Enrichment(lead_key=key, status="budget_exceeded", error=str(e))
        except Exception as e:  # noqa: BLE001 - a site problem must never crash the consumer
            enrichment = Enrichment(lead_key=key, status="error", error=f"{type(e).__name__}: {e}"[:500])
        enrichment.fetched_at = now
        enrichment.pages_fetched = enrichment.pages_fetched or 0
        return EnrichOutcome(enrichment, calls)

    # ------------------------------------------------------------------ steps

    async def _enrich(self, lead: ScoredLead, run_id: str, calls: list[ApiCall]) -> Enrichment:
        key = lead.lead.lead_key
        country = (lead.lead.company.country or "BR").upper()
        socials: dict[str, str] = {}
        tried: set[str] = set()
        errors: list[str] = []
        stats = {"pages": 0, "bytes": 0}

        site = await self._try_candidates(lead, email_domain_candidates(lead), "email_domain", run_id, calls,
                                          tried, errors, stats)
        if site is None and self._search is not None:
            q = search_query(lead)
            if q:
                hits, search_calls = await self._search.search(q, lead_key=key)
                for c in search_calls:
                    c.lead_key = key
                calls.extend(search_calls)
                domains, socials = split_search_hits(hits)
                site = await self._try_candidates(lead, domains, "search", run_id, calls, tried, errors, stats)
        if site is None:
            guesses: list[str] = []
            for name in lead_names(lead):
                guesses.extend(d for d in guess_domains(name, country) if d not in guesses)
            site = await self._try_candidates(lead, guesses[:6], "guess", run_id, calls, tried, errors, stats)
        if site is None:
            return Enrichment(lead_key=key, status="no_site", socials=socials, pages_fetched=stats["pages"],
                              bytes_fetched=stats["bytes"], error="; ".join(errors[-3:]) or "no website found")

        pages = [(site.home.final_url, site.contacts)]
        limit = max(1, int(self.settings.fetch_pages_per_site))
        extra: list[str] = []
        if limit > 1 and (self.contact_pages == "always" or needs_contact_pages(site.contacts)):
            extra = contact_links(site.contacts, site.home.final_url, limit=limit)
            if not extra:
                extra = await self._sitemap_hints(site.home.final_url, run_id, key, calls, stats)
        if extra[: limit - 1]:
            # the contact pages at once (one round trip instead of one each; the fetcher's per-host limit
            # still applies); merged below in link order, each read for its contacts only
            try:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(self._fetch(url, run_id, key, calls, stats))
                             for url in extra[: limit - 1]]
            except BaseExceptionGroup as group:  # e.g. BudgetExceeded: raised as itself, as a sequential fetch
                raise group.exceptions[0] from None
            assert self._reader is not None
            read = [res for res in (task.result() for task in tasks) if res.ok and _is_html(res)]
            found = await self._reader.pages(
                [(res.body, res.headers.get("content-type", ""), res.final_url) for res in read], country)
            pages.extend((res.final_url, pc) for res, pc in zip(read, found, strict=True))

        enr = Enrichment(
            lead_key=key, status="ok", site=site.home.final_url, domain=site.domain,
            verified=site.verification.verified, verified_by=site.verification.evidence,
            discovered_by=site.discovered_by, confidence=site.verification.confidence,
            title=site.contacts.title, description=site.contacts.description, rendered=site.rendered,
            pages_fetched=stats["pages"], bytes_fetched=stats["bytes"],
            text_excerpt=text_excerpt(site.contacts.visible_text),
        )
        for _url, pc in pages:
            for e in pc.emails:
                if e not in enr.emails:
                    enr.emails.append(e)
            for p in pc.phones:
                if p not in enr.phones:
                    enr.phones.append(p)
            for w in pc.whatsapp:
                if w not in enr.whatsapp:
                    enr.whatsapp.append(w)
            for k, v in pc.socials.items():
                enr.socials.setdefault(k, v)
            enr.google_maps_url = enr.google_maps_url or pc.google_maps_url
            for k, v in pc.jsonld.items():
                enr.jsonld.setdefault(k, v)
        for k, v in socials.items():
            enr.socials.setdefault(k, v)
        enr.technologies = site.technologies
        return enr

    async def _try_candidates(
        self, lead: ScoredLead, domains: list[str], how: str, run_id: str, calls: list[ApiCall],
        tried: set[str], errors: list[str], stats: dict[str, int],
    ) -> _Site | None:
        country = (lead.lead.company.country or "BR").upper()
        for domain in domains:
            domain = bare_domain(domain)
            if not domain or domain in tried or is_excluded_host(domain):
                continue
            tried.add(domain)
            home = await self._fetch_home(domain, run_id, lead.lead.lead_key, calls, stats)
            if home is None:
                errors.append(f"{domain}: unreachable")
                continue
            if is_excluded_host(host_of(home.final_url)):
                errors.append(f"{domain}: redirects to {host_of(home.final_url)}")
                continue
            page: str | bytes = home.body  # decoded where it is read (see ``PageReader``)
            rendered = False
            if self._browser is not None and looks_like_js_shell(home.text):
                rendered_page = await self._browser.render(home.final_url)
                if rendered_page is not None and rendered_page.html:
                    page, rendered = rendered_page.html, True
            html: str | Callable[[], str] = page if isinstance(page, str) else functools.partial(
                decode_body, home.body, home.headers.get("content-type", ""))
            assert self._reader is not None
            # contacts and technologies in one read (in a worker process when there are some): the
            # technologies of a page that does not verify are dropped, a rare waste
            pc, technologies = await self._reader.home(page, home.final_url, country, home.headers, home.cookies)
            ver = verify_page(lead, pc, html, domain, discovered_by=how)
            if ver.listing is not None:  # a directory's page: neither the site nor its contacts are the lead's
                errors.append(f"{domain}: not the company's site ({ver.listing})")
                continue
            if ver.verified or how == "email_domain" and _owns_domain(pc, domain):
                if not ver.verified:
                    ver = Verification(["email_domain"], 0.4)
                return _Site(domain, home, pc, ver, how, technologies, rendered)
            errors.append(f"{domain}: not verified")
        return None

    async def _fetch_home(self, domain: str, run_id: str, key: str, calls: list[ApiCall],
                          stats: dict[str, int]) -> FetchResult | None:
        for scheme in self.schemes:
            res = await self._fetch(f"{scheme}://{domain}/", run_id, key, calls, stats)
            if res.ok and _is_html(res):
                return res
            if res.error in ("robots", "circuit_open", "crawl_delay", "blocked_address"):
                return None
        return None

    async def _fetch(self, url: str, run_id: str, key: str, calls: list[ApiCall],
                     stats: dict[str, int]) -> FetchResult:
        assert self._fetcher is not None
        try:
            res = await self._fetcher.fetch(url, run_id=run_id, lead_key=key)
        except BudgetExceeded as exc:
            calls.extend(exc.api_calls)  # sent before the budget ran out: observed all the same
            raise
        calls.extend(res.api_calls)
        if res.ok:
            stats["pages"] += 1
            stats["bytes"] += len(res.body)
        return res

    async def _sitemap_hints(self, home: str, run_id: str, key: str, calls: list[ApiCall],
                             stats: dict[str, int]) -> list[str]:
        res = await self._fetch(urljoin(home, "/sitemap.xml"), run_id, key, calls, stats)
        if not res.ok:
            return []
        host = urlsplit(home).netloc
        urls = re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", res.text)
        words = ("contato", "contact", "fale-conosco", "sobre", "quem-somos", "about")
        hits = [u for u in urls if urlsplit(u).netloc == host and any(w in u.lower() for w in words)]
        return hits[:3]


CANCELLED_RUN = "run cancelled"


def cancelled_enrichment(lead_key: str) -> Enrichment:
    """A lead of a cancelled run: not enriched (what was fetched of it, if anything, is dropped)."""
    return Enrichment(lead_key=lead_key, status="skipped", error=CANCELLED_RUN, pages_fetched=0,
                      fetched_at=datetime.now(UTC).isoformat())


def needs_contact_pages(home: PageContacts) -> bool:
    """With ``FETCH_CONTACT_PAGES=missing``: fetch the contact/about pages only while the homepage lacks
    an e-mail or a phone (two or three requests fewer on sites that show both on every page)."""
    return not home.emails or not home.phones


def _is_html(res: FetchResult) -> bool:
    ctype = res.headers.get("content-type", "text/html").lower()
    return "html" in ctype or "xml" in ctype or not ctype


def _owns_domain(pc: PageContacts, domain: str) -> bool:
    return any(e.endswith("@" + domain) for e in pc.emails)
