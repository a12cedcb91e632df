"""``python -m services.gateway``: serve the API/UI with uvicorn."""

import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.basic_auth import auth_settings_error
from shared.config import get_settings
from shared.logging import setup_logging
from shared.nats_server import nats_for


def main() -> None:
    settings = get_settings()
    setup_logging("gateway", settings.log_level)
    if problem := auth_settings_error(settings.basic_auth_user, settings.basic_auth_pass,
                                      production=settings.production):
        raise SystemExit(f"gateway: {problem}")  # before anything starts, in one line
    with nats_for(Path(settings.data_dir), settings.nats_url) as url:
        settings.nats_url = url
        if settings.gateway_workers > 1:  # worker processes build their own app from the environment
            os.environ["NATS_URL"] = url
            uvicorn.run("services.gateway.__main__:worker_app", factory=True, workers=settings.gateway_workers,
                        host=settings.gateway_host, port=settings.gateway_port, log_level="warning")
        else:
            uvicorn.run(create_app(settings), host=settings.gateway_host, port=settings.gateway_port,
                        log_level="warning")


def worker_app() -> FastAPI:
    """The app of one of ``GATEWAY_WORKERS`` uvicorn worker processes."""
    settings = get_settings()
    setup_logging("gateway", settings.log_level)
    return create_app(settings)


if __name__ == "__main__":
    main()
