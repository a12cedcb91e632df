"""The lean HTTP/1.1 transport's response parser, fed every response split at every byte."""

from __future__ import annotations

import gzip

import httpx
import pytest

from services.enricher.h1_transport import _DONE, _Connection, content_decoder, split_url

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


def test_urls_are_split_as_httpx_reads_them() -> None:
    """``split_url`` answers plain URLs without parsing: on every URL below, plain or not, it gives what
    ``httpx.URL`` gives (host in IDNA, default port dropped, path and query percent-encoded, dot segments
    removed, fragment dropped)."""
    import random

    rng = random.Random(5)
    pieces = ["a", "Z", "0", "-", ".", "..", "/", "?", "=", "&", "%", "%41", "%zz", " ", "#", "~", "_", "ç",
              "é", "!", "$", "'", "(", "*", "+", ",", ";", ":", "@", "[", '"', "<", "|", "\\", "^", "`", "{"]
    hosts = ["a.example", "shop.example.com.br", "A.Example", "café.example", "127.0.0.1", "x-y.example",
             "a.example:80", "a.example:443", "a.example:8080", "a.example:0"]
    urls = ["http://a.example", "https://a.example/", "http://a.example/?", "https://a.example:443/x"]
    for _ in range(4000):
        path = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        urls.append(f"{rng.choice(['http', 'https'])}://{rng.choice(hosts)}/{path}")
    for url in urls:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            continue
        assert split_url(url) == (parsed.scheme, parsed.raw_host.decode("ascii"), parsed.port, parsed.netloc,
                                  parsed.raw_path), url


def test_content_decoders_decode_as_httpx_does_one_encoding_at_most() -> None:
    import zlib

    text = b"ol\xc3\xa1 " * 100
    gz = zlib.compressobj(wbits=31)
    packed = gz.compress(text) + gz.flush()
    raw_deflate = zlib.compressobj(wbits=-15)
    for headers, body in [([(b"Content-Encoding", b"gzip")], packed), ([(b"content-encoding", b"GZIP ")], packed),
                          ([(b"Content-Encoding", b"deflate")], zlib.compress(text)),
                          ([(b"Content-Encoding", b"deflate")], raw_deflate.compress(text) + raw_deflate.flush()),
                          ([(b"Content-Encoding", b"identity, gzip")], packed)]:
        decoder = content_decoder(headers)
        assert decoder is not None
        assert decoder.decode(body[:50], 10_000) + decoder.decode(body[50:], 10_000) + decoder.flush() == text
        assert httpx.Response(200, headers=headers, content=body).content == text
    for headers in ([], [(b"Content-Encoding", b"identity")], [(b"Content-Encoding", b"x-unknown")]):
        assert content_decoder(headers) is None


def test_stacked_content_encodings_are_refused_where_httpx_would_decode_them() -> None:
    """A deliberate difference from httpx: ``gzip, gzip`` multiplies a bomb's ratio; no site needs it."""
    import zlib

    twice = zlib.compress(gzip.compress(b"hello"))  # deflate over gzip
    for headers in ([(b"Content-Encoding", b"gzip, deflate")],
                    [(b"Content-Encoding", b"gzip"), (b"Content-Encoding", b"deflate")]):
        assert httpx.Response(200, headers=headers, content=twice).content == b"hello"
        with pytest.raises(httpx.DecodingError, match="stacked"):
            content_decoder(headers)
    with pytest.raises(httpx.DecodingError, match="stacked"):
        content_decoder([(b"Content-Encoding", b"gzip, gzip")])


def test_the_decoded_output_is_capped_as_it_grows() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB expanding to 50 MB
    decoder = content_decoder([(b"Content-Encoding", b"gzip")])
    assert decoder is not None
    out = decoder.decode(bomb, 1001)
    assert len(out) == 1001
