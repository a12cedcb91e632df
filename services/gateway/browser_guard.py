"""What keeps a hostile web page from using the gateway through the user's browser.

- **CSRF**: a state-changing request (POST, PUT, PATCH, DELETE — forms and multipart uploads too)
  whose ``Origin`` (or, without one, ``Referer``) names another site is refused with 403. Browsers
  send ``Origin`` on every cross-site POST; clients that send neither header (the CLI, curl,
  scripts) are not browsers and go through. ``GATEWAY_TRUSTED_ORIGINS`` adds origins besides the
  gateway's own (e.g. a UI served by a reverse proxy under another name).
- **DNS rebinding**: a page of ``evil.example`` whose name is made to resolve to 127.0.0.1 reaches the
  gateway as "its own" site, Origin and all, but its requests say ``Host: evil.example``. Every request
  (reads too) whose ``Host`` is not a name of this gateway is refused with 421: ``localhost``, any IP
  address (the bound one, 127.0.0.1, ``[::1]``, a pod's: a rebinding needs a name, an address cannot be
  rebound), the hosts of ``GATEWAY_TRUSTED_ORIGINS`` and ``HUNTER_ALLOWED_HOSTS`` (names, ``*.example.com``
  for a domain's subdomains, ``*`` for any). A request without ``Host`` (HTTP/1.0) is no browser's.
- **Framing and sniffing**: every response says ``X-Frame-Options: DENY`` and carries a Content
  Security Policy (scripts only from the gateway, no framing), ``nosniff`` and a referrer policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",  # the UI sets style attributes
    "img-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


def _host_port(netloc: str, scheme: str | None = None) -> tuple[str, int | None] | None:
    """(lower-case host, explicit non-default port or None) of ``host[:port]``; None if unparsable."""
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port is not None and (port == DEFAULT_PORTS.get(scheme or "") or scheme is None and port in (80, 443)):
        port = None
    return host.lower(), port


def _origin_key(url: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS:
        return None
    return _host_port(parts.netloc.rpartition("@")[2], parts.scheme)


LOCAL_NAMES = frozenset({"localhost"})


def allowed_host_names(allowed_hosts: Iterable[str] = (), trusted_origins: Iterable[str] = ()) -> frozenset[str]:
    """The names a request's ``Host`` may carry besides IP addresses: localhost, the configured names and the
    hosts of the trusted origins (lower case; ``*.domain`` and ``*`` kept as patterns)."""
    names = set(LOCAL_NAMES)
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if entry:
            names.add(entry if entry.startswith("*") else (_host_port(entry) or (entry, None))[0])
    for origin in trusted_origins:
        key = _origin_key(origin.strip())
        if key:
            names.add(key[0])
    return frozenset(names)


def misdirected_reason(headers: Mapping[str, str], allowed: frozenset[str]) -> str | None:
    """Why this request's ``Host`` is not this gateway (a DNS-rebinding page), or None."""
    raw = headers.get("host")
    if raw is None or "*" in allowed:
        return None
    parsed = _host_port(raw)
    host = parsed[0].rstrip(".") if parsed else None
    if host is not None:
        try:
            ipaddress.ip_address(host.strip("[]"))
            return None
        except ValueError:
            pass
        if host in allowed or any(p.startswith("*.") and host.endswith(p[1:]) for p in allowed):
            return None
    shown = raw[:100] if raw.isprintable() else repr(raw[:100])
    return f"misdirected request: Host {shown} is not a name of this gateway (HUNTER_ALLOWED_HOSTS adds names)"


def cross_site_reason(method: str, headers: Mapping[str, str], trusted: Iterable[str] = ()) -> str | None:
    """Why this request looks forged by another site, or None. ``headers``: lower-case names."""
    if method.upper() not in STATE_CHANGING:
        return None
    origin, header = headers.get("origin"), "Origin"
    if origin is None:
        origin, header = headers.get("referer"), "Referer"
        if origin is None:
            return None  # not a browser
    own = _host_port(headers.get("host", ""))
    claimed = _origin_key(origin)
    if claimed is not None and (claimed == own or claimed in {_origin_key(t) for t in trusted}):
        return None
    shown = origin[:100] if origin.isprintable() else repr(origin[:100])
    return f"cross-site request refused: {header} {shown} is not this gateway"


class BrowserGuard:
    """ASGI middleware: refuse cross-site writes, add the security headers to every response."""

    def __init__(self, app: ASGIApp, trusted_origins: Iterable[str] = (), allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted = tuple(t.strip() for t in trusted_origins if t.strip())
        self.allowed_hosts = allowed_host_names(allowed_hosts, self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        headers = Headers(scope=scope)
        reason = misdirected_reason(headers, self.allowed_hosts)
        if reason is not None:
            await JSONResponse({"detail": reason}, status_code=421)(scope, receive, send_secured)
            return
        reason = cross_site_reason(scope["method"], headers, self.trusted)
        if reason is not None:
            await JSONResponse({"detail": reason}, status_code=403)(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)
