"""Publishing a run's leads fast: batches built and encoded off the event loop, several in flight.

``SourceBatches.next()`` (run in a worker thread) pulls the next batch from the source and encodes
it as ready-to-send messages with the wire's :class:`~shared.wire.batch_codec.BatchEncoder`: the
records are spliced into the event's JSON as they come (JSON text from a fast source such as
``cnpj``, else each model's own JSON; :class:`~shared.wire.batch_codec.SplicedBatch`), and a batch
bigger than the server's max payload is split in halves (``split="halve"``). ``publish_batches``
overlaps that with publishing: while batch *n* is acked, batch *n+1* is parsed and encoded.
Event ids are keyed by (run, batch number), so a re-run publishes the same ids and JetStream's
``Nats-Msg-Id`` dedup drops them. A big ``cnpj`` source is parsed by a process of its own
(``source_process``), so parsing does not take turns with the event loop for the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.extractor.batching import take_batch
from services.extractor.sources.errors import source_failure
from services.extractor.sources.records import lead_key_of
from shared.bus import Bus
from shared.events import LeadsExtracted, LeadsRejected
from shared.schemas import CompanyRecord, DroppedLead
from shared.wire.batch_codec import BatchEncoder, Encoded, EncodedPublisher, SplicedBatch

DEFAULT_MAX_BYTES = 1024 * 1024
HEADROOM = 8 * 1024  # headers and envelope metadata beside the payload


@dataclass
class SourceBatches:
    """The source of one run, turned into encoded ``LeadsExtracted`` / ``LeadsRejected`` messages."""

    run_id: str
    items: Iterator[CompanyRecord | str | DroppedLead]
    batch_size: int
    causation_id: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES - HEADROOM
    extracted: int = 0
    rejected: int = 0
    done: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        run, size, cause = self.run_id, self.batch_size, self.causation_id

        def companies(n: int, leads: list[Any]) -> SplicedBatch:
            return SplicedBatch(LeadsExtracted(run_id=run, batch=n, companies=[]), "companies", leads, lead_key_of)

        def dropped(n: int, leads: list[Any]) -> SplicedBatch:
            return SplicedBatch(LeadsRejected(run_id=run, stage="extract", batch=n, rejected=[]), "rejected", leads)

        self._extracted = BatchEncoder(companies, size=size, max_bytes=self.max_bytes, key=lambda n: (run, n),
                                       causation_id=cause, split="halve")
        self._rejected = BatchEncoder(dropped, size=size, max_bytes=self.max_bytes,
                                      key=lambda n: (run, "extract", n), causation_id=cause, split="halve")

    @property
    def batches(self) -> int:
        return self._extracted.batches

    @property
    def rejected_batches(self) -> int:
        return self._rejected.batches

    def next(self) -> list[Encoded]:
        """The messages of the next batch; ``[]`` once the source is exhausted."""
        try:
            companies, dropped = take_batch(self.items, self.batch_size)
        except Exception as exc:  # whatever the source met ends the step as failed, with the reason
            raise source_failure(exc) from exc
        if not companies and not dropped:
            self.done = True
            return []
        out: list[Encoded] = []
        if companies:  # a source batch is never bigger than the encoder's size: flushed, it keeps its bounds
            out += [*self._extracted.add(companies), *self._extracted.flush()]
            self.extracted += len(companies)
        if dropped:
            out += [*self._rejected.add(dropped), *self._rejected.flush()]
            self.rejected += len(dropped)
        return out


async def publish_batches(
    bus: Bus,
    encoder: SourceBatches,
    *,
    in_flight: int = 8,
    after_batch: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """Publish every batch of ``encoder``, ``in_flight`` messages awaiting their acks at most.

    ``after_batch`` runs after each batch is sent; returning ``False`` stops early (cancelled).
    Returns whether the source was read to its end. Raises what the source raises (a ``SourceError``).
    """
    publisher = EncodedPublisher(bus, in_flight=in_flight, pause=False)
    pending = asyncio.ensure_future(asyncio.to_thread(encoder.next))
    completed = False
    try:
        while True:
            messages = await pending
            if not messages:
                completed = True
                break
            pending = asyncio.ensure_future(asyncio.to_thread(encoder.next))  # parse the next one meanwhile
            await publisher.send(messages)
            if after_batch is not None and not await after_batch():
                break
    finally:
        if not pending.done():
            await asyncio.wait([pending])  # a worker thread cannot be cancelled: let it finish its batch
        close = getattr(encoder.items, "close", None)
        if close is not None:  # a source left before its end (cancelled) stops reading now
            await asyncio.to_thread(close)
        await publisher.acked()
    return completed
