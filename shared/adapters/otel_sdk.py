"""OpenTelemetry SDK's private span-processor list.

The SDK has no public way to ask whether a tracer provider has any span processor (whether a span
started now reaches an exporter); the provider keeps them in ``_active_span_processor``.
"""

from __future__ import annotations

from typing import Any


def span_processor_count(provider: Any) -> int | None:
    """How many span processors ``provider`` has; None when it is not the SDK's provider (the API's
    proxy or no-op provider, another SDK) and cannot say."""
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    return None if processors is None else len(processors)
