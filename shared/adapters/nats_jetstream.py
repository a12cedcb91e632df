"""nats-py's private JetStream-context state.

``JetStreamContext`` keeps its client and its API prefix (``$JS.API``, or a domain's) without
public accessors; the pull consumer needs both to ask for messages itself.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js import JetStreamContext

DEFAULT_API_PREFIX = "$JS.API"


def client_of(js: JetStreamContext) -> Client:
    """The NATS client a JetStream context was made from."""
    nc = getattr(js, "_nc", None)
    if not isinstance(nc, Client):
        raise RuntimeError("nats-py changed: JetStreamContext._nc is gone (shared/adapters/nats_jetstream.py)")
    return nc


def api_prefix(js: JetStreamContext) -> str:
    """The JetStream API subject prefix of a context (``$JS.API`` unless a domain or prefix was given)."""
    return getattr(js, "_prefix", None) or DEFAULT_API_PREFIX
