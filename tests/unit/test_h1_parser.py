"""The lean HTTP/1.1 transport's response parser, fed every response split at every byte."""

from __future__ import annotations

import httpx
import pytest

from services.enricher.h1_transport import _DONE, _Connection

CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n"
           b"5;ext=1\r\nhello\r\n19\r\n, a body sent in chunks..\r\n0\r\nX-Trailer: yes\r\n\r\n")
RESPONSES = {
    "content-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nServer: t\r\n\r\nhello world", b"hello world", True),
    "chunked with extension and trailer": (CHUNKED, b"hello, a body sent in chunks..", True),
    "interim 100 then the answer": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                                    b"ok", True),
    "empty 204": (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", b"", True),
    "connection close": (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", b"bye", False),
    "HTTP/1.0 without keep-alive": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"hi", False),
    "HTTP/1.0 with keep-alive": (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
                                 b"hi", True),
    "folded header": (b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 1\r\n\r\n!", b"!", True),
}


def feed(conn: _Connection, data: bytes, cuts: tuple[int, ...]) -> None:
    last = 0
    for cut in (*cuts, len(data)):
        if cut > last:
            conn._feed(data[last:cut])
        last = cut


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_every_split_of_a_response_parses_to_the_same_head_and_body(name: str) -> None:
    raw, body, keep_alive = RESPONSES[name]
    for cuts in [(), *[(i,) for i in range(1, len(raw))], *[(i, i + 1) for i in range(1, len(raw) - 1)]]:
        conn = _Connection(("test",))
        conn.start(no_body=False)
        feed(conn, raw, cuts)
        assert conn.state == _DONE, (name, cuts)
        assert b"".join(conn.chunks) == body, (name, cuts)
        assert conn.keep_alive is keep_alive, (name, cuts)
        assert conn.head is not None and conn.head[0] in (200, 201, 204)


def test_headers_keep_their_order_and_values() -> None:
    conn = _Connection(("test",))
    conn.start(no_body=False)
    conn._feed(CHUNKED)
    assert conn.head == (200, b"OK", [(b"Transfer-Encoding", b"chunked"), (b"Content-Type", b"text/html")])


def test_a_head_request_has_no_body_whatever_content_length_says() -> None:
    conn = _Connection(("test",))
    conn.start(no_body=True)
    conn._feed(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n")
    assert conn.state == _DONE and not conn.chunks and conn.keep_alive


def test_a_body_without_length_runs_until_the_connection_ends() -> None:
    conn = _Connection(("test",))
    conn.start(no_body=False)
    conn._feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
    conn._feed(b"part two")
    assert conn.state != _DONE
    conn.eof_received()
    assert conn.state == _DONE and b"".join(conn.chunks) == b"part one, part two"
    assert conn.keep_alive is False and conn.exc is None


def test_bytes_past_the_announced_length_make_the_connection_unusable() -> None:
    conn = _Connection(("test",))
    conn.start(no_body=False)
    conn._feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert conn.state == _DONE and b"".join(conn.chunks) == b"ok" and conn.keep_alive is False


def test_a_connection_ending_mid_body_is_an_error() -> None:
    conn = _Connection(("test",))
    conn.start(no_body=False)
    conn._feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    conn.eof_received()
    assert isinstance(conn.exc, httpx.RemoteProtocolError) and conn.closed


@pytest.mark.parametrize("raw", [
    b"SPDY/3 200 OK\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
])
def test_malformed_responses_raise_protocol_errors(raw: bytes) -> None:
    conn = _Connection(("test",))
    conn.start(no_body=False)
    with pytest.raises(httpx.RemoteProtocolError):
        conn._feed(raw)
