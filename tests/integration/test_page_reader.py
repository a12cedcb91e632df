"""Pages read in worker processes: the same contacts and technologies as in this process, a page error
is that page's error, and a worker that dies fails what it was reading and is replaced."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal

import pytest

from hunter.demo.sample_data import generate_bench_sites
from hunter.demo.webfarm import load_sites, render_site_response
from services.enricher.fingerprints import FingerprintDB
from services.enricher.page_reader import InProcessReader, PageReadError, WorkerReader, page_workers


def _pages(n: int) -> list[tuple[bytes, dict[str, str], str]]:
    out = []
    for spec in load_sites()[:n] + generate_bench_sites(n):
        for path in ("/", "/contato"):
            resp = render_site_response(spec, path, host=spec["domain"])
            if resp.status == 200:
                headers = {k.lower(): v for k, v in dict(resp.headers).items()}
                out.append((resp.body, headers, f"http://{spec['domain']}{path}"))
    return out


async def test_workers_read_pages_as_this_process_does() -> None:
    pages = _pages(15)
    local = InProcessReader(FingerprintDB.bundled())
    workers = await WorkerReader(2, None).start()
    try:
        assert len(workers.pids) == 2
        for body, headers, url in pages:
            ctype = headers.get("content-type", "")
            want_pc, want_tech = await local.home(body, url, "BR", headers, {})
            got_pc, got_tech = await workers.home(body, url, "BR", headers, {})
            assert dataclasses.asdict(got_pc) == dataclasses.asdict(want_pc) and got_tech == want_tech, url
            text = body.decode("utf-8")
            assert dataclasses.asdict(await workers.page(text, ctype, url, "BR")) == \
                dataclasses.asdict(await local.page(body, ctype, url, "BR")), url
        batch = [(b, h.get("content-type", ""), u) for b, h, u in pages[:5]]
        assert [dataclasses.asdict(pc) for pc in await workers.pages(batch, "BR")] == \
            [dataclasses.asdict(pc) for pc in await local.pages(batch, "BR")]
        assert await workers.pages([], "BR") == []
        # many at once, spread over both workers, each answer to its own request
        many = await asyncio.gather(*(workers.page(b, h.get("content-type", ""), u, "BR") for b, h, u in pages))
        assert [pc.emails for pc in many] == [(await local.page(b, h.get("content-type", ""), u, "BR")).emails
                                              for b, h, u in pages]
    finally:
        await workers.aclose()
    assert workers.pids == []


async def test_a_page_error_fails_that_page_only() -> None:
    workers = await WorkerReader(1, None).start()
    try:
        with pytest.raises(PageReadError, match="AttributeError"):
            await workers.page(12345, "", "http://x.example/", "BR")  # type: ignore[arg-type]
        pc = await workers.page(b"<a href='mailto:ana@x.example'>e-mail</a>", "", "http://x.example/", "BR")
        assert pc.emails == ["ana@x.example"]
    finally:
        await workers.aclose()


async def test_a_dead_worker_fails_its_pages_and_the_next_page_starts_a_new_one() -> None:
    workers = await WorkerReader(1, None).start()
    try:
        (pid,) = workers.pids
        big = b"<p>" + b"texto 11 3333-4444 " * 200_000 + b"</p>"  # long enough to be read when the kill lands
        reading = asyncio.ensure_future(workers.page(big, "", "http://x.example/", "BR"))
        await asyncio.sleep(0)  # sent
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(PageReadError, match="exited"):
            await reading
        pc = await workers.page(b"<a href='tel:+551133334444'>t</a>", "", "http://x.example/", "BR")
        assert pc.phones == ["+551133334444"]
        assert workers.pids and workers.pids != [pid]
    finally:
        await workers.aclose()


def test_one_worker_by_default_when_there_are_two_cores_per_replica() -> None:
    assert page_workers(0) == 0 and page_workers(3) == 3 and page_workers(2, replicas_per_host=4, cores=1) == 2
    assert page_workers(None, cores=2) == 1 and page_workers(None, cores=1) == 0
    assert page_workers(None, replicas_per_host=2, cores=2) == 0
    assert page_workers(None, replicas_per_host=2, cores=4) == 1
    assert page_workers(None, replicas_per_host=3, cores=4) == 0
    assert page_workers(None) == (1 if len(os.sched_getaffinity(0)) >= 2 else 0)
