"""What every route needs — the vault engine, the bus, the settings — held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from shared.bus import Bus
from shared.config import Settings


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    bus: Bus | None = None

    def publisher(self) -> Bus:
        if self.bus is None:
            raise RuntimeError("the gateway is not connected to NATS")
        return self.bus


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


Ctx = Annotated[Gateway, Depends(gateway)]
