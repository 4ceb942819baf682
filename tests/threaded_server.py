"""A uvicorn app in a background thread on 127.0.0.1, on a free port: the base of the test
servers (tests/embed/remote_server.py, tests/llm_server.py), and the fault switchboard they share.

    class MyServer(ThreadedServer): ...
    with MyServer(app, "my-server") as server:   # server.url, server.base_url (".../v1")
        ...

    state = Faults(); add_fault_routes(app, state)   # POST /_control sets faults, GET /_log reads
    if fault := state.take("fail"): ...              # one use of a counted fault
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


class ThreadedServer:
    def __init__(self, app: Any, name: str, log_level: str = "warning"):
        self.app = app
        self.name = name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        daemon=True, name=f"{name}-{self.port}")

    def __enter__(self) -> Any:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the test {self.name} did not start")
            time.sleep(0.01)
        return self

    def control(self, faults: dict[str, Any]) -> None:
        """``POST /_control`` (a server with ``add_fault_routes``): set faults, or ``reset``."""
        httpx.post(self.url + "/_control", json=faults).raise_for_status()

    def requests_log(self) -> list[dict[str, Any]]:
        """``GET /_log``: every request the server saw since the last reset."""
        log: list[dict[str, Any]] = httpx.get(self.url + "/_log").json()
        return log

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()


class Faults:
    """Faults set over ``POST /_control`` (each counted one applies to the next ``count``
    requests) and the log of requests ``GET /_log`` returns."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []

    def take(self, name: str) -> dict[str, Any] | None:
        """Consume one use of a counted fault (a copy of its settings), or None."""
        with self.lock:
            fault = self.faults.get(name)
            if not fault or fault.get("count", 0) <= 0:
                return None
            fault["count"] -= 1
            return dict(fault)


def add_fault_routes(app: FastAPI, state: Faults) -> None:
    @app.post("/_control")
    def control(faults: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            if faults.pop("reset", False):
                state.faults.clear()
                state.log.clear()
            state.faults.update(faults)
            return dict(state.faults)

    @app.get("/_log")
    def log() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.log)
