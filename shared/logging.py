"""structlog JSON logs carrying trace, run and lead ids; warnings and errors are also kept
for shipping to the bus as ``LogRecorded`` events (they land in the vault's logs table)."""

from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Any

import structlog
from opentelemetry import trace

_shipped: deque[dict[str, Any]] = deque(maxlen=10_000)
_SHIP_LEVELS = {"warning", "error", "critical", "exception"}


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def _keep_for_shipping(_: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    level = event_dict.get("level", method)
    if level in _SHIP_LEVELS and not event_dict.get("no_ship"):
        _shipped.append(dict(event_dict))
    return event_dict


def setup_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=getattr(logging, level.upper(), 20))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            _keep_for_shipping,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), 20)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def drain_shipped() -> list[dict[str, Any]]:
    out = list(_shipped)
    _shipped.clear()
    return out


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
