"""Fast wire codec for the big batch events of run-level stages (extracted, cleaned, scored).

The generic path (``shared.bus``) goes event -> dict -> Envelope (validating the dict) -> JSON, and
JSON -> dict -> Envelope -> event: two passes each way over every lead. Here the envelope's
metadata and the typed payload are serialised / validated by pydantic-core in one pass. The bytes
and headers are the same as :meth:`shared.bus.Bus.publish` sends (same envelope fields, same
deterministic event id, same ``Nats-Msg-Id`` dedup), so consumers and replay see no difference.
Events of another type or schema version fall back to the generic decoder (upcasters apply).

The run-level stages read and write the msgspec mirrors of the batch events
(``shared.wire.records``): ``read_batches`` with a mirror class decodes with msgspec, and
anything msgspec refuses (a coercion pydantic allows, an old version, a schema violation) takes
the pydantic path, so what is accepted, upcast or refused stays the same. ``encode_event``
writes a mirror with msgspec: the same bytes as pydantic writes for the same content, and a
:class:`SplicedBatch` (the extractor's: records as JSON text from a fast source, or models) by
splicing its records into the event's JSON.

:class:`BatchEncoder` is the one batch encoder of every run-level stage (extract, clean, score):
items in, events of at most ``size`` items and ``max_bytes`` bytes out, numbered in order. A batch
over the byte limit is cut by the stage's rule (``split``): ``"shrink"`` (clean, score) cuts it in
proportion and carries the rest into the next batch; ``"halve"`` (extract) splits it in halves and
keeps the source's batch boundaries. :class:`EncodedPublisher` publishes what it encodes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, NamedTuple, TypeVar

import msgspec
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from shared.bus import Bus, decode
from shared.events import EVENT_TYPES, Envelope, Event, decode_event, event_id_for, subject_for
from shared.wire.records import to_struct

E = TypeVar("E", bound=Event)
T = TypeVar("T")
HEADERS_ROOM = 4096  # bytes kept free under the server's max payload for the headers


@cache
def _typed_envelope(cls: type[Event]) -> type[BaseModel]:
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{cls.__name__}Envelope", __config__=ConfigDict(extra="ignore"), type=(str, ...), version=(int, 1),
        payload=(cls, ...),
    )


def decode_as(data: bytes, cls: type[E]) -> E:
    """The event of ``cls`` carried by ``data``, validated straight from JSON."""
    try:
        typed: Any = _typed_envelope(cls).model_validate_json(data)
        if typed.type == cls.TYPE and typed.version == cls.VERSION:
            return typed.payload  # type: ignore[no-any-return]
    except ValueError:
        pass  # another type or an older version: the generic path upcasts or says what is wrong
    event = decode_event(decode(data))
    if not isinstance(event, cls):
        raise ValueError(f"expected {cls.TYPE}, got {type(event).__name__}")
    return event


@cache
def _mirror_decoder(cls: type[Any]) -> msgspec.json.Decoder[Any]:
    envelope = msgspec.defstruct(f"{cls.__name__}Envelope", [("type", str), ("version", int, 1), ("payload", cls)],
                                 kw_only=True)
    return msgspec.json.Decoder(envelope)


def decode_mirror(data: bytes, cls: type[T]) -> T:
    """The batch event carried by ``data`` as its records mirror ``cls`` (e.g. ``records.LeadsCleaned``).

    msgspec validates it straight from JSON; whatever it refuses goes through :func:`decode_as`
    (pydantic: its coercions, upcasters and errors), then becomes the mirror."""
    try:
        env = _mirror_decoder(cls).decode(data)
        if env.type == cls.TYPE and env.version == cls.VERSION:  # type: ignore[attr-defined]
            return env.payload  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    return to_struct(decode_as(data, EVENT_TYPES[cls.TYPE]), cls)  # type: ignore[attr-defined, no-any-return]


def decode_mirror_raw(data: bytes, cls: type[T], raw_cls: type[Any]) -> tuple[T, Any | None]:
    """:func:`decode_mirror`, plus the same event as ``raw_cls`` (its records left as JSON,
    ``msgspec.Raw``) when msgspec took it as it stands; None when it went the pydantic way
    (coerced, upcast: its JSON is not what the mirror would write)."""
    try:
        env = _mirror_decoder(cls).decode(data)
        if env.type == cls.TYPE and env.version == cls.VERSION:  # type: ignore[attr-defined]
            return env.payload, _mirror_decoder(raw_cls).decode(data).payload
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    return decode_mirror(data, cls), None


class Encoded(NamedTuple):
    subject: str
    envelope: Envelope  # metadata only (empty payload): ids and headers
    data: bytes
    event: Event  # or its records mirror, or a SplicedBatch (see ``observed``)


@dataclass(frozen=True)
class LeadRef:
    """A lead known by its key only: what an observer sees of a lead published as JSON text."""

    lead_key: str


@dataclass(frozen=True)
class SplicedBatch:
    """A batch event whose records go into its JSON as they are: JSON text (a fast source's rows,
    written as read) or models (dumped once for the whole list). ``template`` is the event with an
    empty list as its last field, ``field_name``; ``text_key`` reads a lead key out of a JSON text."""

    template: Event
    field_name: str
    records: list[Any]
    text_key: Callable[[str], str] | None = None

    def payload_json(self) -> bytes:
        payload = self.template.model_dump_json()  # ends with the empty list of records: '"<field_name>":[]}'
        if not payload.endswith(f'"{self.field_name}":[]}}'):
            raise AssertionError(f"{self.template.TYPE}: the event does not end with its {self.field_name}")
        records = self.records
        first = type(records[0]) if records else None
        if first is not None and first is not str and all(type(x) is first for x in records):
            body = _list_json(first).dump_json(records)[1:-1].decode()  # models only: one dump
        else:
            body = ",".join(x if type(x) is str else x.model_dump_json() for x in records)
        return f"{payload[:-2]}{body}]}}".encode()

    def observed(self) -> Event:
        """The event with its records, for the bus's observers (metrics, per-lead spans)."""
        key = self.text_key
        records = [LeadRef(key(x)) if type(x) is str and key is not None else x for x in self.records]
        return type(self.template).model_construct(**{**dict(self.template), self.field_name: records})


@cache
def _list_json(cls: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(list[cls])  # type: ignore[valid-type]


def observed(event: Any) -> Any:
    """What the bus's observers see of an encoded event."""
    return event.observed() if isinstance(event, SplicedBatch) else event


class IncompleteRead(RuntimeError):
    """The stream did not deliver every message of a subject in time (the handler is retried)."""


async def read_batches(bus: Bus, subject: str, cls: type[T], *, fetch: int = 64, timeout: float = 30.0) -> list[T]:
    """Every event on ``subject`` (as many as the stream held when called), decoded as ``cls``
    (an event class, or a batch event's records mirror).

    Reads until that count is reached: a slow fetch (big batches on a busy server) waits, and a
    fetch that times out raises instead of returning part of a run.
    """
    expected = await bus.count(subject)
    if not expected:
        return []
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, filter_subject=subject,
        inactive_threshold=60.0, mem_storage=True, max_ack_pending=-1,
    )
    psub = await bus.js.pull_subscribe(subject, stream=bus.stream, config=config)
    decode_one: Callable[[bytes, type[T]], T] = (
        decode_mirror if issubclass(cls, msgspec.Struct) else decode_as  # type: ignore[assignment]
    )
    events: list[T] = []
    try:
        while len(events) < expected:
            try:
                msgs = await psub.fetch(min(fetch, expected - len(events)), timeout=timeout)
            except NatsTimeoutError:
                raise IncompleteRead(f"{subject}: read {len(events)} of {expected} messages") from None
            events.extend(decode_one(m.data, cls) for m in msgs)
    finally:
        await psub.unsubscribe()
    return events[:expected]


_ENCODER = msgspec.json.Encoder()


def encode_event(
    event: Event, *, key: tuple[object, ...], causation_id: str | None = None, lead_key: str | None = None,
    **tokens: str,
) -> Encoded:
    """One event (or a batch event's records mirror, or a :class:`SplicedBatch`) encoded as
    ``Bus.publish`` would send it."""
    spliced = event if isinstance(event, SplicedBatch) else None
    if spliced is not None:
        event = spliced.template
    run = getattr(event, "run_id", None)
    meta = Envelope(
        event_id=event_id_for(event.TYPE, *key), type=event.TYPE, version=event.VERSION, run_id=run,
        lead_key=lead_key, occurred_at=datetime.now(UTC), causation_id=causation_id, correlation_id=run,
        payload={},
    )
    head = meta.model_dump_json(exclude={"payload"})
    if spliced is not None:
        data = b"".join((head[:-1].encode(), b',"payload":', spliced.payload_json(), b"}"))
        return Encoded(subject_for(event, **tokens), meta, data, spliced)  # type: ignore[arg-type]
    if isinstance(event, msgspec.Struct):
        data = b"".join((head[:-1].encode(), b',"payload":', _ENCODER.encode(event), b"}"))
    else:
        data = f'{head[:-1]},"payload":{event.model_dump_json()}}}'.encode()
    return Encoded(subject_for(event, **tokens), meta, data, event)


Split = Literal["shrink", "halve"]


class BatchEncoder:
    """:func:`encode_batches` fed piece by piece: ``add`` items as they are made, take the batches
    that are full, ``flush`` the rest at the end. The batches are the same as ``encode_batches``
    gives for all the items at once (a batch only ever looks at the next ``size`` items).

    ``make(n, items)`` is batch ``n``'s event (an event, its records mirror, a :class:`SplicedBatch`),
    ``key(n)`` its event id's key. A batch over ``max_bytes`` is cut by ``split``:

    - ``"shrink"`` (the cleaner, the scorer): down in proportion and re-encoded until it fits; the
      items left out start the next batch (which again takes up to ``size``);
    - ``"halve"`` (the extractor): in two halves, each halved again while too big; every half is a
      batch, and the next batch starts after the whole ``size`` (``add`` + ``flush`` per source
      batch keeps the source's batches).

    Either way the cut depends on the content only, so batch numbers and event ids are
    deterministic, and a single item over the limit is left to fail at publish (dead-lettered).
    """

    def __init__(self, make: Callable[[int, list[Any]], Any], *, size: int, max_bytes: int,
                 key: Callable[[int], tuple[object, ...]], causation_id: str | None = None,
                 split: Split = "shrink") -> None:
        if split not in ("shrink", "halve"):
            raise ValueError(f"unknown split rule {split!r}")
        self.make, self.size, self.max_bytes, self.key, self.causation_id = make, size, max_bytes, key, causation_id
        self.split = split
        self.batches = 0
        self._pending: list[Any] = []
        self._start = 0  # items before this one in _pending are encoded already

    def add(self, items: Iterable[Any]) -> list[Encoded]:
        if self._start:
            del self._pending[:self._start]
            self._start = 0
        self._pending.extend(items)
        out: list[Encoded] = []
        while len(self._pending) - self._start >= self.size:
            out += self._take()
        return out

    def flush(self) -> list[Encoded]:
        out: list[Encoded] = []
        while len(self._pending) > self._start:
            out += self._take()
        return out

    def _take(self) -> list[Encoded]:
        if self.split == "shrink":
            return [self._shrunk()]
        items = self._pending[self._start:self._start + self.size]
        self._start += len(items)
        return self._halves(items)

    def _encode(self, items: list[Any]) -> Encoded:
        return encode_event(self.make(self.batches, items), key=self.key(self.batches), causation_id=self.causation_id)

    def _halves(self, items: list[Any]) -> list[Encoded]:
        encoded = self._encode(items)
        if len(encoded.data) <= self.max_bytes or len(items) == 1:
            self.batches += 1
            return [encoded]
        half = len(items) // 2  # too big for one message: same items, two batches
        return self._halves(items[:half]) + self._halves(items[half:])

    def _shrunk(self) -> Encoded:
        items, start = self._pending, self._start
        count = min(self.size, len(items) - start)
        while True:
            encoded = self._encode(items[start:start + count])
            if len(encoded.data) <= self.max_bytes or count == 1:
                break
            count = max(1, min(count - 1, int(count * 0.9 * self.max_bytes / len(encoded.data))))
        self._start += count
        self.batches += 1
        return encoded


def encode_batches(
    items: Sequence[T],
    make: Callable[[int, list[T]], Any],  # an Event or a batch event's records mirror
    *,
    size: int,
    max_bytes: int,
    key: Callable[[int], tuple[object, ...]],
    causation_id: str | None = None,
    split: Split = "shrink",
) -> list[Encoded]:
    """Batches of at most ``size`` items, each event at most ``max_bytes`` on the wire.

    A batch over the byte limit is cut by ``split`` (see :class:`BatchEncoder`): down in proportion
    and re-encoded by default; the cut depends on the content only, so batch numbers and event ids
    stay deterministic. A single item over the limit is left to fail at publish (and be dead-lettered).
    """
    encoder = BatchEncoder(make, size=size, max_bytes=max_bytes, key=key, causation_id=causation_id, split=split)
    return [*encoder.add(items), *encoder.flush()]


def max_event_bytes(bus: Bus) -> int:
    """The largest event body this connection's server accepts, headers left aside."""
    return max(1024, int(bus.nc.max_payload or 1_048_576) - HEADERS_ROOM)


async def publish_encoded(bus: Bus, items: Iterable[Encoded]) -> int:
    """Publish pre-encoded events pipelined, then wait for every ack.

    A service's bus that observes what it publishes (metrics, per-lead spans: ``observe``) still
    sees every event.
    """
    publisher = EncodedPublisher(bus)
    await publisher.send(items)
    return await publisher.acked()


class EncodedPublisher:
    """Pre-encoded events published as they come (``send``), their acks awaited at the end (``acked``).

    ``in_flight``: after each ``send``, wait for the oldest acks until at most that many are
    pending (the extractor, which publishes a whole source); ``None``: no limit."""

    def __init__(self, bus: Bus, *, in_flight: int | None = None, pause: bool = True) -> None:
        self.bus, self.in_flight, self.pause = bus, in_flight, pause
        self._futures: deque[asyncio.Future[Any]] = deque()
        self._acked = 0

    async def send(self, items: Iterable[Encoded]) -> None:
        bus = self.bus
        observe, headers = bus.observe, bus.headers
        for item in items:
            observe(observed(item.event))
            self._futures.append(await bus.js.publish_async(item.subject, item.data, stream=bus.stream,
                                                            headers=headers(item.envelope)))
            if self.pause:
                # let the connection write and read (acks, heartbeats) between big events: a loop that
                # never yields makes the server drop the connection as a slow consumer, with the acks
                await asyncio.sleep(0)
        if self.in_flight is not None:
            while len(self._futures) > self.in_flight:
                await self._futures.popleft()
                self._acked += 1

    async def acked(self, timeout: float = 300.0) -> int:
        """Wait for every ack; an ack that never comes (its connection dropped) raises
        ``TimeoutError`` (the handler is retried, and the stream's dedup drops what it has)."""
        if self._futures:
            await asyncio.wait_for(asyncio.gather(*self._futures), timeout)
            self._acked += len(self._futures)
            self._futures.clear()
        return self._acked
