"""Column values the projection derives from events, which a migration of an older vault must
derive the same way (see ``search_text.py`` for the search columns)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WHATSAPP_LINK = re.compile(r"(?:wa\.me/|[?&]phone=)\+?(\d{8,15})")


def site_whatsapp(found: Iterable[str]) -> str | None:
    """The first WhatsApp number a site shows; a ``wa.me`` / ``api.whatsapp.com`` link as ``+<digits>``."""
    for value in found:
        link = _WHATSAPP_LINK.search(value)
        return f"+{link.group(1)}" if link else value
    return None
