"""Settings saved from the gateway's Config page, read back from the stream.

The Config page publishes ``ConfigSaved`` on ``config.saved.<key>``; the stream keeps the latest
per key. Services read them here (not from the vault, which only the projector writes), so a key
saved in the UI takes effect without a restart. A value saved in the UI wins over the environment
variable of the same setting: it is the later, explicit choice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from shared.bus import Bus, decode
from shared.config import Settings, get_settings
from shared.events import ConfigSaved, Subjects, decode_event, subject_token
from shared.logging import get_logger
from shared.secrets import reveal

_log = get_logger("stored_config")
_reported: set[tuple[str, int]] = set()  # (subject, seq) of the unreadable events logged already


async def stored_setting(bus: Bus, key: str) -> str | None:
    """The latest non-empty value saved for ``key``, or None; a secret is opened with ``HUNTER_SECRET_KEY``
    (None when it cannot be). An event on the key's subject that cannot be read as a ``ConfigSaved`` is
    skipped (logged once, with the reason): the latest readable one counts, and the other keys are not
    affected."""
    subject = Subjects.CONFIG_SAVED.format(key=subject_token(key))
    try:
        stored = await bus.last(subject)
        event = stored.event() if stored else None
        if stored is not None and not isinstance(event, ConfigSaved):
            raise ValueError(f"a {type(event).__name__} event, not ConfigSaved")
    except ValueError:  # undecodable, unknown or invalid (pydantic's ValidationError is a ValueError)
        event = await _latest_readable(bus, subject)
    if not isinstance(event, ConfigSaved) or not event.value:
        return None
    return reveal(event.value, get_settings().secret_key) if event.secret else event.value


async def _latest_readable(bus: Bus, subject: str) -> ConfigSaved | None:
    latest = None
    async for seq, _, data, _ in bus.read(subject, raw=True):  # type: ignore[misc]
        try:
            event = decode_event(decode(data))
            if not isinstance(event, ConfigSaved):
                raise ValueError(f"a {type(event).__name__} event, not ConfigSaved")
        except ValueError as exc:
            if (subject, seq) not in _reported:
                _reported.add((subject, seq))
                _log.warning("config_event_skipped", subject=subject, seq=seq,
                             reason=f"{type(exc).__name__}: {exc}"[:500])
            continue
        latest = event
    return latest


class StoredSettings:
    """``stored_setting`` with a short per-key cache, for code that asks once per lead."""

    def __init__(self, bus: Bus, ttl_seconds: float = 5.0) -> None:
        self.bus, self.ttl = bus, ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def get(self, key: str, default: str | None = None) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit[0] > self.ttl:
            hit = (now, await stored_setting(self.bus, key))
            self._cache[key] = hit
        return hit[1] if hit[1] is not None else default


# Config-page keys that override a field of ``Settings``: the field, and how to read the stored text.
SETTING_OVERRIDES: dict[str, tuple[str, type]] = {
    "serper_api_key": ("serper_api_key", str),
    "casa_dos_dados_api_key": ("casa_api_key", str),
    "fetch_pages_per_site": ("fetch_pages_per_site", int),
    "enable_playwright": ("enable_playwright", bool),
}


def _parse(kind: type, text: str) -> object:
    if kind is bool:
        return text.strip().lower() in {"1", "true", "yes", "on"}
    return kind(text)


async def effective_settings(bus: Bus, settings: Settings, keys: Iterable[str]) -> Settings:
    """``settings`` with the values saved on the Config page for ``keys`` (a value that cannot be
    read as its setting's type is ignored: the environment's stays)."""
    update: dict[str, object] = {}
    for key in keys:
        text = await stored_setting(bus, key)
        if text is None:
            continue
        field, kind = SETTING_OVERRIDES[key]
        try:
            update[field] = _parse(kind, text)
        except ValueError:
            continue
    return settings.model_copy(update=update) if update else settings
