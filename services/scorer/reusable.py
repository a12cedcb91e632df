"""Which leads outside a run's top share the enricher can score from the vault (an enrichment within its
TTL): asked over plain NATS request/reply (``Subjects.ENRICH_REUSABLE``), answered by one enricher replica.
Those leads are sent to enrichment too, ``reuse_only``: re-scored v2 with what the vault holds, never fetched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError

from shared.bus import Bus
from shared.events import Subjects

ENRICHER_DURABLE = "enricher"  # the enrichers' shared durable consumer (services/enricher/app.py)
ENRICHER_WAIT_SECONDS = 30.0  # how long a run's ranking waits for an enricher to say what the vault holds
KEYS_PER_QUESTION = 2000  # ~50 KB a question, well under NATS's 1 MB payload
RETRY_SECONDS = 0.25


def questions(keys: list[str], size: int = KEYS_PER_QUESTION) -> Iterator[bytes]:
    for start in range(0, len(keys), size):
        yield orjson.dumps({"keys": keys[start:start + size]})


def answer_keys(data: bytes) -> set[str]:
    keys = orjson.loads(data)["keys"]
    if not isinstance(keys, list):
        raise TypeError("keys is not a list")
    return {str(k) for k in keys}


async def ask_reusable(nc: NATS, keys: list[str], *, timeout: float = 10.0,
                       wait_for_enricher: float = 0.0) -> tuple[set[str], str | None]:
    """(the keys the vault can serve, why the answer is incomplete or None). While no enricher listens, the
    question is asked again for up to ``wait_for_enricher`` seconds (one may be starting, as in a cold
    ``hunter hunt``). No enricher then, a timeout or an unreadable answer leave the rest out: those leads
    keep their v1 score, as before this question existed."""
    found: set[str] = set()
    deadline = time.monotonic() + wait_for_enricher
    for question in questions(keys):
        while True:
            try:
                reply = await nc.request(Subjects.ENRICH_REUSABLE, question, timeout=timeout)
                found |= answer_keys(reply.data)
                break
            except NoRespondersError as exc:
                if time.monotonic() >= deadline:
                    return found, f"{type(exc).__name__}: {exc}"[:300]
                await asyncio.sleep(RETRY_SECONDS)
            except (NatsError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                return found, f"{type(exc).__name__}: {exc}"[:300]
    return found, None


async def reusable_leads(bus: Bus, run: str, chunks: Iterable[list[str]], *, log: Any) -> set[str]:
    """The leads among the keys of ``chunks`` whose enrichment the vault holds within the TTL (the enricher
    answers). The keys come a chunk at a time (a national run's would not fit in memory at once)."""
    found: set[str] = set()
    asked, deadline = 0, None
    for keys in chunks:
        if not keys:
            continue
        if deadline is None:
            # an enricher ran on this stream before (its durable consumer exists): the vault may hold enrichments,
            # and one may be starting; else nothing was ever enriched and there is nobody to wait for
            try:
                await bus.js.consumer_info(bus.stream, ENRICHER_DURABLE)
                wait = ENRICHER_WAIT_SECONDS
            except NatsError:
                wait = 0.0
            deadline = time.monotonic() + wait
        asked += len(keys)
        more, problem = await ask_reusable(bus.nc, keys, wait_for_enricher=max(0.0, deadline - time.monotonic()))
        found |= more
        if problem is not None:
            log.warning("reusable_unanswered", run_id=run, asked=asked, found=len(found), error=problem)
            break
    return found
