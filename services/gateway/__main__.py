"""``python -m services.gateway``: serve the API/UI with uvicorn."""

from pathlib import Path

import uvicorn

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
        uvicorn.run(create_app(settings), host=settings.gateway_host, port=settings.gateway_port, log_level="warning")


if __name__ == "__main__":
    main()
