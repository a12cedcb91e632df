"""Open-file limits: a process holding many sockets (the enricher's connections, the web farm's) raises
its soft limit as far as the hard one allows, and sizes its pools to what it got."""

from __future__ import annotations

import contextlib

WANTED = 65536


def raise_fd_limit(want: int = WANTED) -> int | None:
    """Raise this process's soft RLIMIT_NOFILE towards ``want`` (not past the hard limit); the soft limit
    in force afterwards, None where there is no such limit (not POSIX, or unlimited)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft
