"""A page-reading worker process: ``python -m services.enricher.page_worker [FINGERPRINTS]``.

Reads framed requests on stdin and answers on stdout (see :mod:`.page_reader`): a 4-byte big-endian
length, then a pickle of ``(request id, kind, args)``; answers are ``(request id, ok, result or error)``.
Kinds: ``home`` (contacts of a homepage and its technologies), ``page`` (contacts of a contact/about
page). Anything the code prints goes to stderr: stdout carries only answers. Ends when stdin closes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

from shared.gc_policy import tune_gc

from .extraction import PageContacts, extract_contacts, extract_page_contacts
from .fetcher import decode_body
from .fingerprints import FingerprintDB, PageInput


def read_home(db: FingerprintDB, page: str | bytes, url: str, country: str, headers: dict[str, str],
              cookies: dict[str, str]) -> tuple[PageContacts, list[Any]]:
    """Contacts and technologies of a homepage, given as text or as the response body (decoded here in
    the charset of ``headers``: the enricher neither decodes it nor pickles text, which re-encodes it)."""
    html = page if isinstance(page, str) else decode_body(page, headers.get("content-type", ""))
    return (extract_contacts(html, url, country),
            db.detect(PageInput(url=url, html=html, headers=headers, cookies=cookies)))


def read_page(db: FingerprintDB, page: str | bytes, content_type: str, url: str, country: str) -> PageContacts:
    html = page if isinstance(page, str) else decode_body(page, content_type)
    return extract_page_contacts(html, url, country)


def read_pages(db: FingerprintDB, pages: list[tuple[str | bytes, str, str]], country: str) -> list[PageContacts]:
    """``read_page`` of each (page, content type, url): a site's contact pages in one request."""
    return [read_page(db, page, content_type, url, country) for page, content_type, url in pages]


KINDS: dict[str, Callable[..., Any]] = {"home": read_home, "page": read_page, "pages": read_pages}


def serve(db: FingerprintDB, requests: Any, answers: Any) -> None:
    while True:
        head = requests.read(4)
        if len(head) < 4:
            return
        rid, kind, args = pickle.loads(requests.read(int.from_bytes(head, "big")))
        try:
            answer = (rid, True, KINDS[kind](db, *args))
        except Exception as exc:  # noqa: BLE001 - one bad page is that lead's error, not the worker's end
            answer = (rid, False, f"{type(exc).__name__}: {exc}"[:500])
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(len(data).to_bytes(4, "big") + data)
        answers.flush()


def widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """A 1 MB pipe buffer (Linux; 64 KB by default): the worker and the enricher's event loop take turns
    on the CPU, and a few pages each way would otherwise fill the pipe and stall the one writing."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


def main(argv: list[str]) -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints to stderr
    for fd in (0, answers.fileno()):
        widen_pipe(fd)
    path = argv[0] if argv and argv[0] else None
    db = FingerprintDB.load(path) if path else FingerprintDB.bundled()
    tune_gc()  # the fingerprint database is never garbage
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):  # the enricher went away
        serve(db, sys.stdin.buffer, answers)


if __name__ == "__main__":
    main(sys.argv[1:])
