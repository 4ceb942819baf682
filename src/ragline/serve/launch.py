"""Start the server under uvicorn (what ``ragline serve`` runs).

    launch(ServeSettings(host="127.0.0.1", port=8000, workers=2))

One worker serves the app built here. With ``workers > 1`` uvicorn starts N processes that each
build the app from the environment (``app_from_env``), so the settings are exported as
``RAGLINE_SERVE_*`` first, and Prometheus's multiprocess mode gets a fresh directory (unless
``PROMETHEUS_MULTIPROC_DIR`` is set) so ``/metrics`` adds up every worker.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile

from pydantic import SecretStr

from ragline.errors import ConfigError
from ragline.serve.settings import ServeSettings


def check_exposure(settings: ServeSettings) -> None:
    """No-auth mode is for a developer's machine: refuse it on anything but loopback."""
    if settings.auth:
        return
    host = settings.host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"--no-auth serves every caller one namespace: bind it to 127.0.0.1, not {settings.host!r}")


def export_settings(settings: ServeSettings) -> None:
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        os.environ[f"RAGLINE_SERVE_{name.upper()}"] = str(value)


def launch(settings: ServeSettings) -> None:
    import uvicorn

    check_exposure(settings)
    if settings.workers == 1:
        from ragline.serve.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                    access_log=settings.access_log)
        return
    from ragline.store.base import one_process_only

    if (reason := one_process_only(settings.store)) is not None:  # else every worker but one fails to start
        raise ConfigError(f"--workers {settings.workers} over {settings.store}: {reason}")
    export_settings(settings)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ragline-metrics-")
    uvicorn.run("ragline.serve.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="info", access_log=settings.access_log)


__all__ = ["check_exposure", "export_settings", "launch"]
