"""What can go wrong under the projector, and what it does about each: a failure a wait may cure
(retried with backoff, ``Outage``), a sequence skipped in delivery (``DeliveryGap``: read again from the
checkpoint), the vault file swapped in by a replay (``VaultSwapped``: start again on the new file)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import nats.errors
import psycopg
from sqlalchemy.exc import DatabaseError

from shared.vault.engine import file_identity


class VaultSwapped(Exception):
    """``hunter replay`` renamed a rebuilt vault over the one this projector had open."""


# A failure a wait may cure: the server slow to answer, the vault locked by another program, its disk full
# or read-only. Tried again, a backoff apart (doubling up to the cap), for as long as it lasts: each try is
# logged with the reason (a warning, so it also reaches the vault's logs once the vault is writable again)
# and the checkpoint is where the projection resumes.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
BUSY_TIMEOUT_SECONDS = 2.0  # a locked vault fails an apply after this: the stop and retry checks run between tries
# SQLAlchemy's errors, and the drivers' own (the bulk writes use raw DB-API cursors)
RETRIED = (nats.errors.TimeoutError, DatabaseError, sqlite3.DatabaseError, psycopg.OperationalError, OSError)


@dataclass
class Outage:
    """The vault (or the server) failing since ``since``: what the next successful batch reports."""

    since: float = 0.0
    attempts: int = 0
    error: str = ""

    def failed(self, exc: BaseException) -> float:
        """Count a failure; the delay before the next try."""
        if not self.attempts:
            self.since = time.monotonic()
        self.attempts += 1
        self.error = describe_db_error(exc)
        return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self.attempts - 1))

    def recovered(self, log: Any) -> None:
        if self.attempts:
            log.warning("projector_resumed", after_seconds=round(time.monotonic() - self.since, 1),
                                attempts=self.attempts, error=self.error)
        self.attempts, self.error = 0, ""


def describe_db_error(exc: BaseException) -> str:
    """The driver's own words for a database error (``database or disk is full``, ``database is locked``,
    ``attempt to write a readonly database``), without SQLAlchemy's SQL and background link."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}"[:300]


class DeliveryGap(Exception):  # noqa: N818 - an event, not an error: the projection starts again
    """A stream sequence the stream still holds was not delivered before later ones (a consumer leader
    change can lose a pull's messages in transit): applying the later ones would skip it for good, since
    the checkpoint is the last sequence applied and ``AckPolicy.ALL`` acks everything below it."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"stream sequence {seq} was not delivered before later ones")
        self.seq = seq


def first_gap(seqs: list[int], expected: int) -> int | None:
    """The first sequence from ``expected`` on that ``seqs`` (as delivered) skips, or None. The projector
    reads every subject of the stream, so its sequences are contiguous but for messages the stream
    deleted; a sequence below ``expected`` was applied already."""
    for seq in seqs:
        if seq > expected:
            return expected
        if seq == expected:
            expected += 1
    return None


class SwapWatch:
    """Notices the vault file being replaced under its name (SQLite; nothing to watch otherwise)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.identity = file_identity(path) if path else None

    def check(self) -> None:
        if self.path is None:
            return
        now = file_identity(self.path)
        if now is not None and now != self.identity:
            raise VaultSwapped(self.path)
