"""Rendering JavaScript-only pages with Playwright on the system Chromium (lazy, one browser per owner)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from .addresses import AddressPolicy

log = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
_APP_ROOT_RE = re.compile(
    r"<div[^>]+id=[\"'](?:root|app|__next|__nuxt|q-app|main-app)[\"'][^>]*>\s*</div>|<app-root[\s>]|<noscript[^>]*>"
    r"[^<]*(?:enable javascript|habilite o javascript|ative o javascript|activer javascript|javascript)",
    re.I,
)


def looks_like_js_shell(html: str, *, min_text: int = 200) -> bool:
    """Little visible text plus an empty app root or a noscript hint: the content needs a browser."""
    if not html:
        return False
    tree = LexborHTMLParser(html)
    body = tree.body
    if body is None:
        return False
    for junk in tree.css("script, style, noscript, template"):
        junk.decompose()
    text = re.sub(r"\s+", " ", body.text(separator=" ")).strip()
    if len(text) >= min_text:
        return False
    return bool(_APP_ROOT_RE.search(html)) or len(text) < 40 and "<script" in html.lower()


@dataclass
class RenderedPage:
    url: str
    html: str
    status: int | None


class BrowserRenderer:
    def __init__(self, settings: object, *, max_pages: int = 4) -> None:
        self.executable = getattr(settings, "chromium_path", "/usr/bin/chromium")
        self.timeout_ms = int(getattr(settings, "playwright_timeout_ms", 15_000))
        self.proxy = getattr(settings, "http_proxy", None) or None
        self.user_agent = getattr(settings, "user_agent", None)
        # the SSRF guard for everything the page loads (subresources, redirects, scripts' requests)
        self.addresses = AddressPolicy.from_settings(settings)
        self._names: dict[str, bool] = {}  # host name -> refused (its addresses, direct connections only)
        self.refused: list[str] = []  # URLs the page asked for and the guard refused (the latest ones)
        self._sem = asyncio.Semaphore(max_pages)
        self._start_lock = asyncio.Lock()
        self._pw = None
        self._browser = None

    @property
    def available(self) -> bool:
        return bool(self.executable) and os.path.exists(self.executable)

    async def _ensure(self):  # noqa: ANN202
        if self._browser is not None:
            return self._browser
        async with self._start_lock:
            if self._browser is None:
                from playwright.async_api import async_playwright

                self._pw = await async_playwright().start()
                kwargs: dict = {"executable_path": self.executable, "args": CHROMIUM_ARGS, "headless": True}
                if self.proxy:
                    kwargs["proxy"] = {"server": self.proxy}
                self._browser = await self._pw.chromium.launch(**kwargs)
        return self._browser

    async def render(self, url: str) -> RenderedPage | None:
        """The DOM after scripts ran, or None if rendering failed (never raises for a site problem)."""
        if not self.available:
            return None
        try:
            browser = await self._ensure()
        except Exception as e:  # noqa: BLE001 - a missing/broken browser disables the fallback
            log.warning("browser fallback unavailable: %s", e)
            self.executable = ""
            return None
        async with self._sem:
            context = await browser.new_context(user_agent=self.user_agent, ignore_https_errors=True)
            try:
                await context.route("**/*", self._guard)
                page = await context.new_page()
                resp = await page.goto(url, wait_until="load", timeout=self.timeout_ms)
                with contextlib.suppress(Exception):  # best effort: some pages never go idle
                    await page.wait_for_load_state("networkidle", timeout=min(3000, self.timeout_ms))
                html = await page.content()
                return RenderedPage(page.url, html, resp.status if resp else None)
            except Exception as e:  # noqa: BLE001 - navigation errors are site problems
                log.info("render failed for %s: %s", url, e)
                return None
            finally:
                await context.close()

    async def _guard(self, route: Any) -> None:
        """Every request the page makes: refused addresses are aborted before Chromium connects. Names are
        resolved here and their addresses checked (Chromium resolves them again; through a proxy the proxy
        does, and only literal addresses can be checked)."""
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")):
            await route.continue_()
            return
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        if not host or self.addresses.refuses_host(host) or self.proxy is None and await self._name_refused(host):
            self.refused = [*self.refused[-99:], url]
            await route.abort("blockedbyclient")
            return
        await route.continue_()

    async def _name_refused(self, host: str) -> bool:
        refused = self._names.get(host)
        if refused is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError:
                return False  # Chromium will not reach it either
            refused = any(not self.addresses.allows_address(info[4][0]) for info in infos)
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[host] = refused
        return refused

    async def aclose(self) -> None:
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
        if self._pw is not None:
            await self._pw.stop()
            self._pw = None
