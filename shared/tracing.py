"""OpenTelemetry set-up. The exporter follows the standard variables:
OTEL_TRACES_EXPORTER=otlp|console|none (default none), OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

_provider: TracerProvider | None = None


def _exporter_from_env() -> SpanExporter | None:
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # optional dependency
            raise RuntimeError("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http") from exc
        return OTLPSpanExporter()
    return None


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process; ``exporter`` overrides the environment."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(_provider)
    chosen = exporter or _exporter_from_env()
    if chosen is not None:
        _provider.add_span_processor(BatchSpanProcessor(chosen))
    return _provider


def tracer(name: str = "hunter") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def lead_trace_id(run_id: str, lead_key: str) -> str:
    """One trace per lead per run: a deterministic trace id every stage can join."""
    import hashlib

    return hashlib.blake2b(f"{run_id}|{lead_key}".encode(), digest_size=16).hexdigest()


def lead_context(trace_id_hex: str):  # type: ignore[no-untyped-def]
    """A parent context inside the lead's trace, for spans of per-lead work."""
    import hashlib

    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    span_id = int.from_bytes(hashlib.blake2b(trace_id_hex.encode(), digest_size=8).digest(), "big") or 1
    parent = SpanContext(
        trace_id=int(trace_id_hex, 16), span_id=span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return set_span_in_context(NonRecordingSpan(parent))
