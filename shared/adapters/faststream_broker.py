"""FastStream's private broker state.

A service's broker is built at import time (handlers register on it) before the NATS URL is known
(an embedded server is started by ``Service.run``); FastStream has no public way to change the
servers (or credentials) of a broker that has not connected yet, so this sets the connection
arguments it keeps and passes to ``nats.connect`` when it starts.
"""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker


def set_servers(broker: NatsBroker, servers: list[str], **options: Any) -> None:
    """The servers ``broker`` connects to when it starts (it must not have connected yet), and any other
    of ``nats.connect``'s arguments (credentials, TLS) in ``options``."""
    kwargs: Any = getattr(broker, "_connection_kwargs", None)
    if not isinstance(kwargs, dict) or "servers" not in kwargs:
        raise RuntimeError("faststream changed: NatsBroker._connection_kwargs['servers'] is gone "
                           "(shared/adapters/faststream_broker.py)")
    kwargs["servers"] = servers
    kwargs.update(options)
