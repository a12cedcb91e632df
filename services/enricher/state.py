"""The enricher's per-process state, one dataclass (as the gateway's ``Gateway``): made with the
service, its enricher and vault reader opened when the service starts; and the saved settings
(the gateway's Config page) applied to it as they change."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from nats.aio.subscription import Subscription

from services.enricher.logic import Enricher
from services.enricher.vault_reuse import VaultReuse
from shared.bus import Bus
from shared.config import Settings
from shared.stored_config import effective_settings

# settings saved on the gateway's Config page, read back from the stream at most every few seconds
CONFIG_KEYS = ("serper_api_key", "fetch_pages_per_site", "enable_playwright")
CONFIG_REFRESH_SECONDS = 5.0


@dataclass
class EnricherState:
    """Made with the service; ``open`` when it starts, ``stop_channels`` and ``close`` when it stops."""

    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    opened: tuple[Enricher, VaultReuse] | None = None
    subscriptions: list[Subscription] = field(default_factory=list)  # plain NATS: budgets, cancellations, reuse
    budget_task: asyncio.Task[None] | None = None
    config_next: float = 0.0  # when the saved settings are read again
    config_busy: bool = False

    async def open(self, settings: Settings) -> None:
        reuse = VaultReuse(settings)
        enricher = await self.stack.enter_async_context(Enricher(settings, vault_lookup=reuse.lookup))
        self.opened = (enricher, reuse)

    @property
    def enricher(self) -> Enricher:
        if self.opened is None:
            raise RuntimeError("the enricher is used before the service started")
        return self.opened[0]

    @property
    def reuse(self) -> VaultReuse:
        if self.opened is None:
            raise RuntimeError("the vault reader is used before the service started")
        return self.opened[1]

    async def apply_saved_config(self, bus: Bus, settings: Settings, log: Any) -> None:
        """The settings saved since last asked (at most every ``CONFIG_REFRESH_SECONDS``), applied to the enricher."""
        enricher = self.enricher
        now = time.monotonic()
        if now < self.config_next or self.config_busy:
            return
        self.config_busy, self.config_next = True, now + CONFIG_REFRESH_SECONDS
        try:
            wanted = await effective_settings(bus, settings, CONFIG_KEYS)
            if wanted != enricher.settings:
                await enricher.reconfigure(wanted)
                log.info("config_applied")
        except Exception as exc:  # noqa: BLE001 - the settings in force stay; try again later
            log.warning("config_unreadable", error=str(exc))
        finally:
            self.config_busy = False

    async def stop_channels(self) -> None:
        """Stop the side channels (``replica_channels``): the budget reports and the subscriptions."""
        if self.budget_task is not None:
            self.budget_task.cancel()
        while self.subscriptions:
            with contextlib.suppress(Exception):
                await self.subscriptions.pop().unsubscribe()

    async def close(self) -> None:
        """Close the enricher (its fetcher, page readers, search client and browser)."""
        await self.stack.aclose()
