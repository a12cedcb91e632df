"""Secrets at rest: provider keys and webhook secrets saved from the Config page are sealed with Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``) under ``HUNTER_SECRET_KEY`` before they are published,
so neither the stream nor the vault holds them in clear. Only the services that use a secret open it.

A sealed value is ``fernet:<token>``. Values saved before sealing existed (plain text) still read as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"
KEY_FILE = "secret.key"  # beside the vault in the data dir, when Hunter generates the key itself


class SecretKeyMissing(ValueError):
    """A secret cannot be stored without ``HUNTER_SECRET_KEY``."""

    def __init__(self) -> None:
        super().__init__("HUNTER_SECRET_KEY is not set, so secrets cannot be stored encrypted: set it to a Fernet "
                         "key (python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()."
                         "decode())'), or give the key as an environment variable of the service instead")


def new_key() -> str:
    return Fernet.generate_key().decode()


def seal(value: str, key: str | None) -> str:
    """``value`` encrypted under ``key`` (``SecretKeyMissing`` without one)."""
    if not key:
        raise SecretKeyMissing()
    return PREFIX + Fernet(key.encode()).encrypt(value.encode()).decode()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def reveal(value: str, key: str | None) -> str | None:
    """The clear text of a stored value: a sealed one opened with ``key`` (None when it cannot be: no key,
    another key, a damaged token); a plain one (saved before sealing) as it is."""
    if not is_sealed(value):
        return value
    if not key:
        return None
    try:
        return Fernet(key.encode()).decrypt(value[len(PREFIX):].encode()).decode()
    except (InvalidToken, ValueError):
        return None


def key_for_data_dir(data_dir: Path) -> str:
    """``HUNTER_SECRET_KEY`` if set, else the data dir's own key file, created (mode 0600) on first use:
    what ``hunter up`` and the demo hand their services."""
    if os.environ.get("HUNTER_SECRET_KEY"):
        return os.environ["HUNTER_SECRET_KEY"]
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key())
    return path.read_text().strip()
