"""Rendering JavaScript-only pages with Playwright on the system Chromium (lazy, one browser per owner)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

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

    async def aclose(self) -> None:
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
        if self._pw is not None:
            await self._pw.stop()
            self._pw = None
