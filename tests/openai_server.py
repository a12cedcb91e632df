"""A loopback HTTP server speaking the OpenAI chat-completions protocol (``POST /v1/chat/completions``),
answering from a script: valid or malformed replies, slow ones, 429s with ``Retry-After``. It records every
request (time, headers, JSON body)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID = {
    "fit": 44, "pain": 30, "data_quality": 9, "tags": ["software", "growing team"],
    "snapshot": "Acme builds custom software in Campinas and is hiring developers.",
    "spin": {"situation": "A 9-year-old software house in Campinas.", "problem": "Manual spreadsheets slow delivery.",
             "implication": "Projects run late as the team grows.", "need_payoff": "Automation frees the team."},
    "first_angle": "Congratulate them on the open positions and ask how they onboard new developers.",
}


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message's text (a completion), or ``body`` as it is
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    tokens: tuple[int, int] = (300, 120)  # prompt, completion

    def payload(self) -> bytes:
        if self.content is not None:
            body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": self.content}}],
                    "usage": {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1],
                              "total_tokens": sum(self.tokens)}}
        else:
            body = self.body if self.body is not None else {"error": {"message": "rate limited"}}
        return json.dumps(body).encode()


def valid(**changes: Any) -> Reply:
    return Reply(content=json.dumps({**VALID, **changes}))


@dataclass
class FakeOpenAI:
    script: list[Reply] = field(default_factory=list)  # answered in order; then ``default``
    default: Reply = field(default_factory=valid)
    requests: list[tuple[float, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self) -> Reply:
        return self.script.pop(0) if self.script else self.default


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            fake.requests.append((time.monotonic(), dict(self.headers), body))
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            reply = fake.next_reply()
            time.sleep(reply.delay)
            data = reply.payload()
            try:
                self.send_response(reply.status)
                for k, v in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

    return Handler


@contextmanager
def openai_server(fake: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    fake = fake or FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
