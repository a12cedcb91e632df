"""OpenTelemetry set-up. The exporter follows the standard variables:
OTEL_TRACES_EXPORTER=otlp|console|jsonfile|none (default none), OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME.

``jsonfile`` writes one JSON line per span to ``$HUNTER_TRACES_DIR/<service>-<pid>.jsonl``
(default ``./traces``): traces of processes without a collector, read back by tests.

Each lead of a run has its own deterministic trace (:func:`lead_trace_id`): per-lead work joins
it through :func:`lead_context`, and batch stages mark every lead they handled with one cheap
span in that trace (:func:`record_lead_spans`), linked to the batch's own span.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, set_span_in_context

_provider: TracerProvider | None = None


class JsonFileSpanExporter(SpanExporter):
    """Appends finished spans as JSON lines to a file of this process's own."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name,
        "service": span.resource.attributes.get("service.name"),
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes or {}),
        "links": [{"trace_id": format(lk.context.trace_id, "032x"), "span_id": format(lk.context.span_id, "016x")}
                  for lk in span.links],
    }


def _exporter_from_env(service: str) -> SpanExporter | None:
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "jsonfile":
        folder = Path(os.environ.get("HUNTER_TRACES_DIR", "traces"))
        return JsonFileSpanExporter(folder / f"{service}-{os.getpid()}.jsonl")
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # optional dependency
            raise RuntimeError("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http") from exc
        return OTLPSpanExporter()
    return None


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process; ``exporter`` overrides the environment.

    Several services in one process (tests) share the provider; each of them passing the same
    ``exporter`` adds it once."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(_provider)
        env_exporter = _exporter_from_env(service)
        if env_exporter is not None and exporter is None:
            _provider.add_span_processor(BatchSpanProcessor(env_exporter))
    if exporter is not None and exporter not in _exporters:
        _exporters.append(exporter)
        _provider.add_span_processor(BatchSpanProcessor(exporter))
    return _provider


_exporters: list[SpanExporter] = []


def tracer(name: str = "hunter") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def lead_trace_id(run_id: str, lead_key: str) -> str:
    """One trace per lead per run: a deterministic trace id every stage can join."""
    return hashlib.blake2b(f"{run_id}|{lead_key}".encode(), digest_size=16).hexdigest()


def lead_context(trace_id_hex: str) -> Context:
    """A parent context inside the lead's trace, for spans of per-lead work."""
    span_id = int.from_bytes(hashlib.blake2b(trace_id_hex.encode(), digest_size=8).digest(), "big") or 1
    parent = SpanContext(
        trace_id=int(trace_id_hex, 16), span_id=span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return set_span_in_context(NonRecordingSpan(parent))


# ---- per-lead spans for batch stages ------------------------------------------------------------

def lead_keys_of(event: Any) -> list[str]:
    """The leads a batch event carries (extracted companies, cleaned or scored leads)."""
    for attr, pick in (("companies", lambda x: x.lead_key), ("leads", lambda x: getattr(x, "lead_key", None)
                                                                       or x.lead.lead_key)):
        items = getattr(event, attr, None)
        if isinstance(items, list):
            return [k for k in (pick(x) for x in items) if k]
    return []


def trace_leads_enabled() -> bool:
    return os.environ.get("HUNTER_TRACE_LEADS", "1").strip().lower() not in ("0", "false", "no", "off")


def record_lead_spans(service: str, name: str, run_id: str, lead_keys: list[str],
                      attributes: dict[str, Any] | None = None) -> int:
    """One instant span per lead in the lead's own trace, linked to the current (batch) span."""
    if not lead_keys or not trace_leads_enabled():
        return 0
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else None
    t = tracer(service)
    now = time.time_ns()
    for key in lead_keys:
        span = t.start_span(name, context=lead_context(lead_trace_id(run_id, key)), links=links,
                            attributes={"run_id": run_id, "lead_key": key, **(attributes or {})}, start_time=now)
        span.end(end_time=now)
    return len(lead_keys)


# ---- outbound HTTP ------------------------------------------------------------------------------

def httpx_event_hooks(service: str) -> dict[str, list[Any]]:
    """Event hooks for an ``httpx.AsyncClient``: one CLIENT span per outbound call, under the current
    span (e.g. a lead's ``enrich`` span)::

        httpx.AsyncClient(..., event_hooks=httpx_event_hooks("enricher"))

    A call that fails without a response ends its span when the client is garbage-collected;
    record such errors on the caller's span instead."""
    t = tracer(service)

    async def on_request(request: Any) -> None:
        span = t.start_span(f"HTTP {request.method}", kind=SpanKind.CLIENT, attributes={
            "http.request.method": request.method, "url.full": str(request.url)[:500],
            "server.address": request.url.host or ""})
        request.extensions["hunter_span"] = span

    async def on_response(response: Any) -> None:
        span = response.request.extensions.pop("hunter_span", None)
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()

    return {"request": [on_request], "response": [on_response]}
