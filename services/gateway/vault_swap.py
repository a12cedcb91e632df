"""Follow a SQLite vault file that `hunter replay` swaps in while the gateway runs.

A replay builds the new vault beside the old one and renames it over it. Pooled connections
still hold the old, unlinked file open and would go on serving its content. Each connection
remembers the file identity (device, inode) it opened; on checkout, a connection whose file is no
longer the one at the path is dropped and the pool opens a fresh one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from shared.vault.engine import file_identity

_KEY = "hunter_vault_file"


def follow_swaps(engine: Engine) -> None:
    """Install the connect/checkout listeners on a SQLite file engine (no-op otherwise)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return

    @event.listens_for(engine, "connect")
    def _remember(_dbapi_conn: Any, record: Any) -> None:
        record.info[_KEY] = file_identity(path)

    @event.listens_for(engine, "checkout")
    def _check(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        current = file_identity(path)
        if current is not None and record.info.get(_KEY) != current:
            # the pool discards this connection and retries the checkout with a new one
            raise exc.DisconnectionError("the vault file was replaced (replay)")
