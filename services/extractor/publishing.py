"""Publishing a run's leads fast: batches built and encoded off the event loop, several in flight.

``BatchEncoder.next()`` (run in a worker thread) pulls the next batch from the source and encodes
it as ready-to-send messages: the envelope is encoded once per batch and the records spliced into
it as they come (JSON text from a fast source such as ``cnpj``, else each model's own JSON), and a
batch bigger than the server's max payload is split in halves. ``publish_batches``
overlaps that with publishing: while batch *n* is acked, batch *n+1* is parsed and encoded.
Event ids are keyed by (run, batch number), so a re-run publishes the same ids and JetStream's
``Nats-Msg-Id`` dedup drops them. A big ``cnpj`` source is parsed by a process of its own
(``source_process``), so parsing does not take turns with the event loop for the GIL.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from services.extractor.batching import take_batch
from services.extractor.sources.errors import source_failure
from services.extractor.sources.records import lead_key_of
from shared.bus import Bus
from shared.events import Event, LeadsExtracted, LeadsRejected, envelope, subject_for
from shared.schemas import CompanyRecord, DroppedLead

_LIST_JSON: dict[type, TypeAdapter[Any]] = {
    CompanyRecord: TypeAdapter(list[CompanyRecord]), DroppedLead: TypeAdapter(list[DroppedLead])
}
DEFAULT_MAX_BYTES = 1024 * 1024
HEADROOM = 8 * 1024  # headers and envelope metadata beside the payload


@dataclass(frozen=True)
class LeadRef:
    """A lead known by its key only: what an observer sees of a lead published as JSON text."""

    lead_key: str


@dataclass(frozen=True)
class Message:
    subject: str
    data: bytes
    headers: dict[str, str]
    template: Event  # the event without its leads
    field_name: str
    leads: list  # type: ignore[type-arg]

    @property
    def event(self) -> Event:
        """The event with its leads, for the bus's observers (metrics, per-lead spans)."""
        leads = [LeadRef(lead_key_of(x)) if type(x) is str else x for x in self.leads]
        return type(self.template).model_construct(**{**dict(self.template), self.field_name: leads})


@dataclass
class BatchEncoder:
    """The source of one run, turned into encoded ``LeadsExtracted`` / ``LeadsRejected`` messages."""

    bus: Bus
    run_id: str
    items: Iterator[CompanyRecord | str | DroppedLead]
    batch_size: int
    causation_id: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES - HEADROOM
    extracted: int = 0
    rejected: int = 0
    batches: int = 0
    rejected_batches: int = 0
    done: bool = field(default=False, init=False)

    def next(self) -> list[Message]:
        """The messages of the next batch; ``[]`` once the source is exhausted."""
        try:
            companies, dropped = take_batch(self.items, self.batch_size)
        except Exception as exc:  # whatever the source met ends the step as failed, with the reason
            raise source_failure(exc) from exc
        if not companies and not dropped:
            self.done = True
            return []
        out: list[Message] = []
        if companies:
            out += self._encode(companies, self._extracted)
        if dropped:
            out += self._encode(dropped, self._rejected)
        return out

    def _extracted(self, companies: list[CompanyRecord | str]) -> Message:
        run, n = self.run_id, self.batches
        message = self._message(LeadsExtracted(run_id=run, batch=n, companies=[]), (run, n), "companies", companies)
        if len(message.data) <= self.max_bytes or len(companies) == 1:
            self.batches += 1
            self.extracted += len(companies)
        return message

    def _rejected(self, dropped: list[DroppedLead]) -> Message:
        run, n = self.run_id, self.rejected_batches
        event = LeadsRejected(run_id=run, stage="extract", batch=n, rejected=[])
        message = self._message(event, (run, "extract", n), "rejected", dropped)
        if len(message.data) <= self.max_bytes or len(dropped) == 1:
            self.rejected_batches += 1
            self.rejected += len(dropped)
        return message

    def _encode(self, leads: list, make: Callable[[list], Message]) -> list[Message]:  # type: ignore[type-arg]
        message = make(leads)
        if len(message.data) <= self.max_bytes or len(leads) == 1:
            return [message]
        half = len(leads) // 2  # too big for one message: same leads, two batches
        return self._encode(leads[:half], make) + self._encode(leads[half:], make)

    def _message(self, event: Event, key: tuple[object, ...], field_name: str, leads: list) -> Message:  # type: ignore[type-arg]
        env = envelope(event, key=key, causation_id=self.causation_id)
        head = env.model_dump_json()  # ends with the empty list of leads: '"<field_name>":[]}}'
        tail = f'"{field_name}":[]}}}}'
        if not head.endswith(tail):
            raise AssertionError(f"{event.TYPE}: the envelope does not end with its {field_name}")
        adapter = _LIST_JSON.get(type(leads[0])) if leads else None
        if adapter is not None and all(type(x) is type(leads[0]) for x in leads):
            body = adapter.dump_json(leads)[1:-1].decode()  # models only: one dump
        else:
            body = ",".join(x if type(x) is str else x.model_dump_json() for x in leads)
        data = f"{head[:-3]}{body}]}}}}".encode()
        return Message(subject_for(event), data, self.bus.headers(env), event, field_name, leads)


async def publish_batches(
    bus: Bus,
    encoder: BatchEncoder,
    *,
    in_flight: int = 8,
    after_batch: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """Publish every batch of ``encoder``, ``in_flight`` messages awaiting their acks at most.

    ``after_batch`` runs after each batch is sent; returning ``False`` stops early (cancelled).
    Returns whether the source was read to its end. Raises what the source raises (a ``SourceError``).
    """
    acks: deque[asyncio.Future[object]] = deque()
    observe = bus.observe  # a service's ObservedBus counts and traces what it publishes
    pending = asyncio.ensure_future(asyncio.to_thread(encoder.next))
    completed = False
    try:
        while True:
            messages = await pending
            if not messages:
                completed = True
                break
            pending = asyncio.ensure_future(asyncio.to_thread(encoder.next))  # parse the next one meanwhile
            for m in messages:
                observe(m.event)
                acks.append(await bus.js.publish_async(m.subject, m.data, stream=bus.stream, headers=m.headers))
            while len(acks) > in_flight:
                await acks.popleft()
            if after_batch is not None and not await after_batch():
                break
    finally:
        if not pending.done():
            await asyncio.wait([pending])  # a worker thread cannot be cancelled: let it finish its batch
        close = getattr(encoder.items, "close", None)
        if close is not None:  # a source left before its end (cancelled) stops reading now
            await asyncio.to_thread(close)
        while acks:
            await acks.popleft()
    return completed
