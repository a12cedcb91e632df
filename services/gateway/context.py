"""What every route needs — the vault engine, the bus, the settings — held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from services.gateway.page_cache import PageCache
from services.gateway.run_events import RunFeeds
from shared.bus import Bus
from shared.config import Settings


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    bus: Bus | None = None
    run_feeds: RunFeeds | None = None
    pages: PageCache = field(default_factory=PageCache)  # the vault list's pages while the vault stays the same

    def publisher(self) -> Bus:
        if self.bus is None:
            raise RuntimeError("the gateway is not connected to NATS")
        return self.bus

    def feeds(self) -> RunFeeds:
        if self.run_feeds is None:
            self.run_feeds = RunFeeds(self.publisher())
        return self.run_feeds


async def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


Ctx = Annotated[Gateway, Depends(gateway)]
