"""Prometheus metrics in the text exposition format, without a client library.

Every process has one registry. Services serve it on ``METRICS_PORT`` (0 = off, the default),
bound to ``METRICS_HOST`` (default 127.0.0.1: the listener has no auth, so it is not exposed unless
asked; ``0.0.0.0`` in a container scraped from outside); the gateway mounts :func:`metrics_endpoint`
on ``/metrics`` (behind its basic auth)::

    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = (), registry: Registry | None = None):
        self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
        self._lock = threading.Lock()
        (registry or REGISTRY).register(self)

    def _key(self, labels: dict[str, Any]) -> _Labels:
        return tuple(str(labels.get(n, "")) for n in self.labelnames)

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(f"{line}\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._values: dict[_Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_label_text(self.labelnames, key)} {_number(v)}"


class Gauge(_Metric):
    """A gauge; ``max_series`` keeps only the most recently set label sets (e.g. per run)."""

    kind = "gauge"

    def __init__(self, *args: Any, max_series: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._values: OrderedDict[_Labels, float] = OrderedDict()
        self._max = max_series

    def set(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)
            self._values.move_to_end(key)
            while self._max is not None and len(self._values) > self._max:
                self._values.popitem(last=False)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount
            self._values.move_to_end(key)
            while self._max is not None and len(self._values) > self._max:
                self._values.popitem(last=False)

    def value(self, **labels: Any) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_label_text(self.labelnames, key)} {_number(v)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, *args: Any, buckets: Sequence[float] = LATENCY_BUCKETS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buckets = tuple(sorted(buckets))
        self._values: dict[_Labels, tuple[list[int], list[float]]] = {}  # bucket counts, [sum]

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._values.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            total[0] += value

    def count(self, **labels: Any) -> int:
        found = self._values.get(self._key(labels))
        return sum(found[0]) if found else 0

    def samples(self) -> Iterable[str]:
        for key, (counts, total) in sorted(self._values.items()):
            running = 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_label_text(self.labelnames, key, le)} {running}"
            yield f"{self.name}_sum{_label_text(self.labelnames, key)} {_number(total[0])}"
            yield f"{self.name}_count{_label_text(self.labelnames, key)} {running}"


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: _Metric) -> None:
        self._metrics[metric.name] = metric

    def render(self) -> str:
        return "".join(m.render() for _, m in sorted(self._metrics.items()))


REGISTRY = Registry()

# ---- what Hunter measures -----------------------------------------------------------------------

EVENTS_HANDLED = Counter("hunter_events_handled_total", "Messages handled, by subscription and outcome",
                         ["service", "subject", "outcome"])
HANDLER_SECONDS = Histogram("hunter_handler_seconds", "Handler latency", ["service", "subject"])
CONSUMER_PENDING = Gauge("hunter_consumer_pending", "Messages not yet delivered to a durable consumer (lag)",
                         ["service", "consumer"])
CONSUMER_ACK_PENDING = Gauge("hunter_consumer_ack_pending", "Messages delivered but not yet acknowledged",
                             ["service", "consumer"])
EVENTS_PUBLISHED = Counter("hunter_events_published_total", "Events published", ["service", "type"])
HTTP_FETCHES = Counter("hunter_http_fetches_total", "Outbound HTTP calls by status (error = no response)",
                       ["service", "status"])
HTTP_FETCH_SECONDS = Histogram("hunter_http_fetch_seconds", "Outbound HTTP call latency", ["service"])
HTTP_FETCHED_BYTES = Counter("hunter_http_fetched_bytes_total", "Bytes received by outbound HTTP calls", ["service"])
BUDGET_USED = Gauge("hunter_run_budget_used", "Per-run fetch budget used (requests, bytes), latest runs",
                    ["service", "run_id", "kind"], max_series=200)
PROJECTOR_APPLIED = Counter("hunter_projector_events_applied_total", "Events applied to the vault", ["service"])
PROJECTOR_CHECKPOINT = Gauge("hunter_projector_checkpoint", "Last stream sequence applied to the vault", ["service"])
PROJECTOR_BATCH_SECONDS = Histogram("hunter_projector_batch_seconds", "Time to apply one batch", ["service"])
HTTP_REQUESTS = Counter("hunter_http_requests_total", "Requests served by the gateway, by route and status",
                        ["method", "route", "status"])
HTTP_REQUEST_SECONDS = Histogram("hunter_http_request_seconds", "Gateway request latency until the response is sent",
                                 ["method", "route"])
HTTP_IN_FLIGHT = Gauge("hunter_http_requests_in_flight", "Gateway requests being served")


def record_api_calls(service: str, run_id: str | None, calls: Iterable[Any]) -> None:
    """Count outbound calls from an ``ApiCallsRecorded`` event's calls (status, bytes, per-run usage)."""
    requests = size = 0
    for c in calls:
        HTTP_FETCHES.inc(service=service, status=str(c.status) if c.status is not None else "error")
        if c.cache_hit:
            continue
        requests += 1
        size += c.bytes or 0
        HTTP_FETCH_SECONDS.observe((c.latency_ms or 0.0) / 1000.0, service=service)
    HTTP_FETCHED_BYTES.inc(size, service=service)
    if run_id:
        BUDGET_USED.inc(requests, service=service, run_id=run_id, kind="requests")
        BUDGET_USED.inc(size, service=service, run_id=run_id, kind="bytes")


def render() -> str:
    return REGISTRY.render()


# ---- serving ------------------------------------------------------------------------------------

def metrics_port() -> int:
    try:
        return int(os.environ.get("METRICS_PORT", "0") or 0)
    except ValueError:
        return 0


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ready: Callable[[], bool] | None = None) -> None:
    with contextlib.suppress(Exception):
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
        path = (request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/").split(b"?")[0]
        content_type = b"text/plain; charset=utf-8"
        if path in (b"/metrics", b"/"):
            body, status, content_type = render().encode(), b"200 OK", CONTENT_TYPE.encode()
        elif path == b"/livez":  # answered at all: the event loop runs
            body, status = b"ok\n", b"200 OK"
        elif path == b"/readyz":  # connected to NATS (a reconnecting client is not ready)
            is_ready = ready is None or ready()
            body, status = (b"ok\n", b"200 OK") if is_ready else (b"not connected\n", b"503 Service Unavailable")
        else:
            body, status = b"not found\n", b"404 Not Found"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
                     + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
    writer.close()


def metrics_host() -> str:
    return os.environ.get("METRICS_HOST", "").strip() or "127.0.0.1"


async def serve_metrics(port: int, host: str | None = None,
                        ready: Callable[[], bool] | None = None) -> asyncio.Server:
    """Serve ``/metrics`` on ``host`` (default ``metrics_host()``) and ``port`` until the returned server is
    closed, and the probes of an orchestrator: ``/livez`` (the process's event loop answers) and ``/readyz``
    (``ready()``: e.g. connected to NATS)."""
    return await asyncio.start_server(lambda r, w: _serve_one(r, w, ready), host or metrics_host(), port)


async def metrics_endpoint() -> Any:
    """A FastAPI/Starlette endpoint returning the exposition text."""
    from starlette.responses import Response

    return Response(render(), media_type=CONTENT_TYPE)
