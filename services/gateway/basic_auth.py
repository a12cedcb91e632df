"""HTTP basic auth for the gateway: UTF-8 credentials (RFC 7617), both parts always compared in
constant time as bytes, and no half configuration."""

from __future__ import annotations

import binascii
import secrets
import unicodedata
from base64 import b64decode

from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.requests import Request


class AuthMisconfigured(RuntimeError):
    pass


def auth_settings_error(user: str | None, password: str | None, *, production: bool) -> str | None:
    """Why these settings cannot start the gateway, or None. Both unset: no auth (not in production)."""
    if not user and not password:
        return "HUNTER_PRODUCTION=1 needs BASIC_AUTH_USER and BASIC_AUTH_PASS" if production else None
    if not user:
        return "BASIC_AUTH_PASS is set but BASIC_AUTH_USER is not: set both (or neither, for no auth)"
    if not password:
        return "BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty or unset: set a password (or neither, for no auth)"
    return None


def _bytes(text: str) -> bytes:
    return unicodedata.normalize("NFC", text).encode("utf-8")


def credentials_match(given: HTTPBasicCredentials | None, user: str, password: str) -> bool:
    """Whether ``given`` is ``user``/``password``. Both comparisons always run (the time taken says
    nothing about which part was wrong), on UTF-8 bytes, so any password works."""
    if given is None:
        given = HTTPBasicCredentials(username="", password="")
    user_ok = secrets.compare_digest(_bytes(given.username), _bytes(user))
    password_ok = secrets.compare_digest(_bytes(given.password), _bytes(password))
    return user_ok and password_ok


class Utf8HttpBasic(HTTPBasic):
    """FastAPI's ``HTTPBasic`` (same OpenAPI scheme) reading the credentials as UTF-8 (latin-1 when
    they are not), and None for a missing or malformed header instead of raising."""

    def __init__(self) -> None:
        super().__init__(auto_error=False, realm="hunter")

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            raw = b64decode(param.strip(), validate=True)
        except (ValueError, binascii.Error):
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        username, separator, password = text.partition(":")
        if not separator:
            return None
        return HTTPBasicCredentials(username=username, password=password)
