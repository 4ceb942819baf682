"""Two servers sharing a PostgreSQL state share their API keys and job states."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from tests.serve.conftest import ADMIN, bearer, wait_job
from tests.state.conftest import postgres_server, postgres_uri  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def test_keys_and_jobs_made_on_one_server_work_on_the_other(tmp_path, postgres_uri):  # noqa: F811
    from ragline.serve import ServeSettings, create_app

    def server(name: str) -> TestClient:
        return TestClient(create_app(ServeSettings(store=f"local:{tmp_path / name}", state=postgres_uri,
                                                   embedder="hashing:384", admin_key=ADMIN)))

    with server("one") as one, server("two") as two:
        created = one.post("/v1/admin/keys", json={"namespace": "shared"}, headers=bearer(ADMIN)).json()
        key = created["key"]
        assert two.get("/v1/stats", headers=bearer(key)).json()["namespace"] == "shared"
        assert [k["key_id"] for k in two.get("/v1/admin/keys", headers=bearer(ADMIN)).json()] == [created["key_id"]]

        job_id = one.post("/v1/documents", json={"records": [{"id": "a", "text": "shared state"}]},
                          headers=bearer(key)).json()["job_id"]
        assert wait_job(one, job_id, bearer(key))["state"] == "done"
        seen_by_two = two.get(f"/v1/jobs/{job_id}", headers=bearer(key))
        assert seen_by_two.status_code == 200 and seen_by_two.json()["state"] == "done"
        other = one.post("/v1/admin/keys", json={"namespace": "other"}, headers=bearer(ADMIN)).json()["key"]
        time.sleep(0.6)  # an unknown key makes a server re-read the keys, at most every 0.5 s
        assert two.get(f"/v1/jobs/{job_id}", headers=bearer(other)).status_code == 404

        assert one.delete(f"/v1/admin/keys/{created['key_id']}", headers=bearer(ADMIN)).status_code == 204
        time.sleep(2.2)  # each server re-reads the keys every 2 s
        assert two.get("/v1/stats", headers=bearer(key)).status_code == 401
