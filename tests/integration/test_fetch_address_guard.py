"""The SSRF guard against real loopback servers: loopback, private and metadata addresses are refused in
every form, on every redirect hop and through a proxy, unless FETCH_ALLOW_NETWORKS lets them through."""

from __future__ import annotations

import asyncio

import pytest

from services.enricher.addresses import BLOCKED, AddressPolicy, BlockedAddress
from services.enricher.discovery import email_domain_candidates
from services.enricher.fetcher import Fetcher
from services.enricher.h1_transport import H1Transport
from services.enricher.http_cache import HttpCache
from services.enricher.logic import Enricher
from shared.config import Settings

from .test_fetcher_enricher import lead
from .test_fetcher_loopback import LoopbackServer, html

LOOPBACK = "127.0.0.0/8,::1/128"
TIMEOUTS = {"connect": 2.0, "read": 5.0, "write": 5.0, "pool": None}


def settings(**kw: object) -> Settings:
    return Settings(**{"FETCH_RETRIES": 0, "CACHE_TTL_HOURS": 0, "FETCH_CONNECT_TIMEOUT": 2,
                       "FETCH_READ_TIMEOUT": 5, **kw})


class CountingServer:
    """An HTTP server on ``host`` that counts the connections made to it and answers 200 to each request."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> CountingServer:
        self.server = await asyncio.start_server(self.handle, self.host, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        srv.routes[("*", "/")] = html("<html><body>home</body></html>")
        srv.routes[("*", "/robots.txt")] = (404, {}, b"")
        yield srv


async def test_a_loopback_site_is_refused_and_recorded_unless_its_network_is_allowed(server: LoopbackServer) -> None:
    async with Fetcher(settings(), cache=HttpCache(0)) as fetcher:
        refused = await fetcher.fetch(server.url + "/")
    assert refused.error == BLOCKED and refused.status is None
    assert [c.error for c in refused.api_calls] == [BLOCKED]
    assert server.hits == []

    async with Fetcher(settings(FETCH_ALLOW_NETWORKS=LOOPBACK), cache=HttpCache(0)) as fetcher:
        allowed = await fetcher.fetch(server.url + "/")
    assert allowed.ok and b"home" in allowed.body
    assert ("/" in [path for _host, path in server.hits])


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "127.1", "127.0.0.1.",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost"])
async def test_loopback_written_in_any_form_is_refused(server: LoopbackServer, host: str) -> None:
    url = f"http://{host}:{server.server_address[1]}/"
    async with Fetcher(settings(), cache=HttpCache(0)) as fetcher:
        res = await fetcher.fetch(url)
    assert res.error == BLOCKED, (url, res.error)
    assert server.hits == []


async def test_ipv6_loopback_is_refused_unless_allowed() -> None:
    async with CountingServer("::1") as srv:
        url = f"http://[::1]:{srv.port}/"
        async with Fetcher(settings(), cache=HttpCache(0)) as fetcher:
            res = await fetcher.fetch(url, check_robots=False)
        assert res.error == BLOCKED and srv.connections == 0
        async with Fetcher(settings(FETCH_ALLOW_NETWORKS="::1/128"), cache=HttpCache(0)) as fetcher:
            res = await fetcher.fetch(url, check_robots=False)
        assert res.ok and srv.connections == 1


async def test_a_redirect_from_an_allowed_host_to_a_refused_address_is_refused(server: LoopbackServer) -> None:
    async with CountingServer("127.0.0.2") as other:
        server.routes[("*", "/to-other")] = html("", 302, Location=f"http://127.0.0.2:{other.port}/admin")
        server.routes[("*", "/to-metadata")] = html("", 302, Location="http://169.254.169.254/latest/meta-data/")
        server.routes[("*", "/to-v6")] = html("", 301, Location=f"http://[::1]:{other.port}/")
        # only the first server's address is allowed
        async with Fetcher(settings(FETCH_ALLOW_NETWORKS="127.0.0.1/32"), cache=HttpCache(0)) as fetcher:
            results = [await fetcher.fetch(server.url + path, check_robots=False)
                       for path in ("/to-other", "/to-metadata", "/to-v6")]
        for res in results:
            assert res.error == BLOCKED, res
            assert [c.status for c in res.api_calls] == [302 if "other" in res.url or "metadata" in res.url else 301,
                                                         None]
            assert res.api_calls[-1].error == BLOCKED
        assert results[1].final_url == "http://169.254.169.254/latest/meta-data/"
        assert other.connections == 0


async def test_a_name_resolving_to_a_refused_address_is_refused_on_the_address_connected_to() -> None:
    """The transport checks the resolved address (``localhost`` is a name to it), not the name."""
    async with CountingServer("127.0.0.1") as srv:
        guarded = H1Transport(address_policy=AddressPolicy())
        with pytest.raises(BlockedAddress):
            await guarded.get(f"http://localhost:{srv.port}/", [], timeouts=TIMEOUTS, max_bytes=100)
        with pytest.raises(BlockedAddress):
            await guarded.get(f"http://2130706433:{srv.port}/", [], timeouts=TIMEOUTS, max_bytes=100)
        await guarded.aclose()
        assert srv.connections == 0
        allowed = H1Transport(address_policy=AddressPolicy(LOOPBACK))
        reply = await allowed.get(f"http://localhost:{srv.port}/", [], timeouts=TIMEOUTS, max_bytes=100)
        await allowed.aclose()
        assert reply.status == 200 and srv.connections == 1


async def test_through_a_proxy_refused_targets_are_never_asked_for(server: LoopbackServer) -> None:
    server.routes[("site.example", "/")] = html("", 302, Location="http://169.254.169.254/latest/meta-data/iam")
    proxy = settings(HUNTER_HTTP_PROXY=server.url)  # the proxy itself is configured, on loopback: trusted
    async with Fetcher(proxy, cache=HttpCache(0)) as fetcher:
        metadata = await fetcher.fetch("http://169.254.169.254/latest/meta-data/")
        admin = await fetcher.fetch("http://10.0.0.5:8080/admin")
        tunnel = await fetcher.fetch("https://[fd00:ec2::254]/latest/meta-data/")
        redirected = await fetcher.fetch("http://site.example/", check_robots=False)
    assert metadata.error == admin.error == tunnel.error == redirected.error == BLOCKED
    assert server.hits == [("site.example", "/")]


async def test_the_transport_alone_refuses_a_proxy_tunnel_to_a_refused_target() -> None:
    async with CountingServer("127.0.0.1") as proxy:
        transport = H1Transport(proxy=f"http://127.0.0.1:{proxy.port}", address_policy=AddressPolicy())
        for url in ("https://169.254.169.254/", "http://169.254.169.254/", "http://0xa000005:8080/admin"):
            with pytest.raises(BlockedAddress):
                await transport.get(url, [], timeouts=TIMEOUTS, max_bytes=100)
        await transport.aclose()
        assert proxy.connections == 0


def test_an_email_domain_with_a_port_gives_a_candidate_without_it() -> None:
    scored = lead("19131243000197", "Acme", email="contato@127.0.0.1:8080")
    assert email_domain_candidates(scored) == ["127.0.0.1"]


async def test_a_lead_whose_site_is_on_loopback_is_refused_with_blocked_address_calls(
        server: LoopbackServer, tmp_path) -> None:
    port = server.server_address[1]
    scored = lead("19131243000197", "Acme", email=f"contato@127.0.0.1:{port}")
    scored.lead.company.website = f"http://127.0.0.1:{port}/"
    s = settings(HUNTER_DATA_DIR=str(tmp_path), FETCH_SCHEMES="http", ENRICHER_PAGE_WORKERS=0)
    async with Enricher(s) as enricher:
        out = await enricher.enrich(scored, run_id="r1")
    assert out.enrichment.status == "no_site"
    assert out.api_calls and {c.error for c in out.api_calls if "127.0.0.1" in c.endpoint} == {BLOCKED}
    assert all(f":{port}" not in c.endpoint for c in out.api_calls)  # no guess carries the e-mail's port
    assert server.hits == []
