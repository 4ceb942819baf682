from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

ADMIN = "admin-secret"


@pytest.fixture()
def make_client(tmp_path: Path) -> Callable[..., Any]:
    """A TestClient over a fresh store (hashing:384), lifespan included; settings as keywords."""
    from ragline.serve import ServeSettings, create_app

    @contextmanager
    def make(**options: Any) -> Iterator[TestClient]:
        options = {"store": f"local:{tmp_path / 'store'}", "embedder": "hashing:384",
                   "admin_key": ADMIN, **options}
        with TestClient(create_app(ServeSettings(**options))) as client:
            yield client

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_job(client: TestClient, job_id: str, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)
