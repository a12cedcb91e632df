"""Decode stream messages fast.

Current-version events are decoded in one msgspec pass over the raw JSON into a *view* (a msgspec
Struct mirroring the event, or for big events a slimmer one holding only what the vault keeps; the
parser skips the rest). Anything msgspec refuses — an older version, a value only pydantic's lax
mode accepts, a malformed message — takes the generic path (pydantic envelope, upcasting,
validation) and its result is converted to the same view, so the handlers see one kind of object.
Events the vault does not project are not decoded at all."""

from __future__ import annotations

from typing import Any

import msgspec

from services.projector.structs import VIEWS, envelope_struct
from shared.bus import decode
from shared.events import EVENT_TYPES, Envelope, Event, decode_event

_TYPE_MARK = b'"type":"'
NOT_PROJECTED = frozenset({"LeadsExtracted", "EnrichmentRequested"})  # companies are projected once cleaned

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(envelope_struct(view)) for name, view in VIEWS.items()
}
_VERSIONS = {name: cls.VERSION for name, cls in EVENT_TYPES.items()}


def type_of(data: bytes) -> str | None:
    """The envelope's type, read from the raw JSON without parsing it (None: not found)."""
    start = data.find(_TYPE_MARK)
    if start < 0:
        return None
    start += len(_TYPE_MARK)
    end = data.find(b'"', start)
    return data[start:end].decode("ascii", "replace") if end > 0 else None


def decode_message(data: bytes, name: str | None = None) -> tuple[Any, Any]:
    """The envelope (``type``, ``version``, ``run_id``, ``lead_key``, ``occurred_at``...) and its
    event's view. Raises like :func:`shared.events.decode_event`. ``name``: ``type_of(data)``, if known."""
    if name is None:
        name = type_of(data)
    decoder = _DECODERS.get(name) if name else None
    if decoder is not None:
        try:
            env = decoder.decode(data)
        except msgspec.DecodeError:  # (ValidationError included) let pydantic decide, and say why
            env = None
        if env is not None and env.type == name and env.version == _VERSIONS[name]:
            return env, env.payload
    generic: Envelope = decode(data)
    event: Event = decode_event(generic)
    view = VIEWS.get(generic.type)
    return generic, (msgspec.convert(event.model_dump(mode="json"), view) if view is not None else event)
