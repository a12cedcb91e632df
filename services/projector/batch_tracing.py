"""Spans of the projector: one per applied batch, linked to a few of the producers' spans, and one
instant span per per-lead event (enriched, rescored...) inside the lead's own trace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry.trace import Link, SpanContext, TraceFlags

from services.projector.projection import RawEvent
from shared.events import Envelope
from shared.tracing import record_lead_spans, tracer

MAX_LINKS = 16


def context_from_traceparent(value: str | None) -> SpanContext | None:
    """The span context of a W3C ``traceparent`` header (version-traceid-spanid-flags)."""
    parts = (value or "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        flags = TraceFlags(int(parts[3], 16))
        ctx = SpanContext(int(parts[1], 16), int(parts[2], 16), is_remote=True, trace_flags=flags)
    except ValueError:
        return None
    return ctx if ctx.is_valid else None


class BatchTracer:
    def __init__(self, service: str) -> None:
        self.service = service
        self._leads: list[tuple[str, str, str]] = []  # (run_id, lead_key, type) of this batch

    def observe(self, env: Envelope) -> None:
        if env.run_id and env.lead_key:
            self._leads.append((env.run_id, env.lead_key, env.type))

    @contextlib.contextmanager
    def batch(self, events: Sequence[RawEvent], headers: Sequence[dict[str, str] | None]) -> Iterator[Any]:
        links: list[Link] = []
        seen: set[int] = set()
        for h in headers:
            ctx = context_from_traceparent((h or {}).get("traceparent"))
            if ctx is not None and ctx.trace_id not in seen:
                seen.add(ctx.trace_id)
                links.append(Link(ctx))
                if len(links) >= MAX_LINKS:
                    break
        self._leads = []
        attributes = {"events": len(events), "first_seq": events[0][0] if events else 0,
                      "last_seq": events[-1][0] if events else 0}
        with tracer(self.service).start_as_current_span("project_batch", links=links, attributes=attributes) as span:
            yield span
            for run_id, lead_key, kind in self._leads:
                record_lead_spans(self.service, f"project.{kind}", run_id, [lead_key])
        self._leads = []
