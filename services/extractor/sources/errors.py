"""The one exception a source raises for a problem with its input (not with a row)."""

from __future__ import annotations


class SourceError(ValueError):
    """Unknown scheme, missing file, unreadable layout, refused API key..."""
