"""The one exception a source raises for a problem with its input (not with a row)."""

from __future__ import annotations


class SourceError(ValueError):
    """Unknown scheme, missing file, unreadable layout, refused API key..."""


def source_failure(exc: BaseException) -> SourceError:
    """What reading a source met, as a ``SourceError`` a person can read: a damaged archive, a file
    that cannot be read, or anything else the source raised (by its type and message, no trace)."""
    import zipfile
    import zlib

    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, zipfile.BadZipFile):
        detail = f"a zip archive is damaged: {exc}"
    elif isinstance(exc, zlib.error | EOFError):
        detail = f"compressed data is truncated or damaged: {exc}"
    elif isinstance(exc, LookupError) and "encoding" in str(exc):
        detail = str(exc)
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        detail = f"cannot read the source{where}: {exc.strerror or exc}"
    elif isinstance(exc, ValueError):
        detail = str(exc)
    else:
        detail = f"reading the source failed: {type(exc).__name__}: {exc}"
    error = SourceError(detail[:2000])
    error.__cause__ = exc
    return error
