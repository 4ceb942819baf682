"""Routes of the HTTP server through FastAPI's TestClient (real store, hashing embedder)."""

from __future__ import annotations

from tests.serve.conftest import ADMIN, bearer, wait_job

DOCS = {
    "kiwi.md": b"# Kiwi\n\nThe kiwi is a flightless bird of New Zealand that lays very large eggs.",
    "rust.txt": b"Rust is a systems programming language focused on memory safety without a garbage collector.",
    "tea.html": (b"<html><head><title>Tea</title></head><body><p>Green tea is steamed, black tea is oxidised."
                 b"</p></body></html>"),
}


def test_upload_job_search_get_delete_round_trip(make_client):
    with make_client(api_keys="k1=alpha") as client:
        h = bearer("k1")
        files = [("files", (name, data, "application/octet-stream")) for name, data in DOCS.items()]
        accepted = client.post("/v1/documents", files=files, headers=h)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        job = wait_job(client, body["job_id"], h)
        assert job["state"] == "done", job
        assert job["report"]["documents"]["new"] == 3
        assert job["progress"].get("written", 0) >= 3

        for mode in ("hybrid", "dense", "bm25"):
            found = client.post("/v1/search", json={"query": "flightless bird eggs", "k": 2, "mode": mode}, headers=h)
            assert found.status_code == 200, found.text
            result = found.json()
            assert result["mode"] == mode and result["hits"], result
            top = result["hits"][0]
            assert top["source"].startswith("upload://alpha/kiwi.md")
            assert set(top) >= {"chunk_id", "doc_id", "score", "text", "snippet", "source", "title", "metadata", "span"}
            assert top["text"][top["span"][0] - top["span"][0]:]  # span is [start, end]
            assert top["span"][1] > top["span"][0]

        again = client.post("/v1/search", json={"query": "flightless bird eggs", "k": 2}, headers=h).json()
        assert again["cached"] is True
        grouped = client.post("/v1/search", json={"query": "tea", "k": 3, "group_by": "doc"}, headers=h).json()
        assert len({hit["doc_id"] for hit in grouped["hits"]}) == len(grouped["hits"])

        doc = next(d for d in body["documents"] if d["name"] == "rust.txt")
        got = client.get(f"/v1/documents/{doc['doc_id']}", headers=h)
        assert got.status_code == 200, got.text
        assert "memory safety" in got.json()["chunks"][0]["text"]

        stats = client.get("/v1/stats", headers=h).json()
        assert stats["namespace"] == "alpha" and stats["documents"] == 3 and stats["chunks"] >= 3

        deleted = client.delete(f"/v1/documents/{doc['doc_id']}", headers=h)
        assert deleted.status_code == 200 and deleted.json()["chunks_deleted"] >= 1
        assert client.get(f"/v1/documents/{doc['doc_id']}", headers=h).status_code == 404
        assert client.delete(f"/v1/documents/{doc['doc_id']}", headers=h).status_code == 404
        hits = client.post("/v1/search", json={"query": "memory safety garbage collector", "mode": "bm25"},
                           headers=h).json()["hits"]
        assert all(hit["doc_id"] != doc["doc_id"] for hit in hits)
        assert client.get("/v1/stats", headers=h).json()["documents"] == 2


def test_json_records_and_failures_in_the_report(make_client):
    with make_client(auth=False) as client:
        records = {"records": [{"id": "r1", "text": "Saffron is the costliest spice by weight.", "title": "Spice",
                                "metadata": {"lang": "en"}},
                               {"id": "empty", "text": "   "}]}
        job = wait_job(client, client.post("/v1/documents", json=records).json()["job_id"], {})
        assert job["state"] == "done"
        report = job["report"]
        assert report["documents"]["new"] == 1
        assert [f["uri"] for f in report["failed"] + report["skipped"]] == ["upload://default/empty?as=.txt"]
        hit = client.post("/v1/search", json={"query": "saffron spice", "filters": {"lang": "en"}}).json()["hits"][0]
        assert hit["title"] == "Spice" and hit["metadata"]["lang"] == "en"
        assert client.post("/v1/search", json={"query": "saffron", "filters": {"lang": "fr"}}).json()["hits"] == []


def test_errors_have_stable_codes(make_client):
    with make_client(api_keys="k1=alpha") as client:
        assert client.post("/v1/search", json={"query": "x"}).json()["error"]["code"] == "unauthorized"
        assert client.post("/v1/search", json={"query": "x"}, headers=bearer("nope")).status_code == 401
        admin_on_tenant_route = client.post("/v1/search", json={"query": "x"}, headers=bearer(ADMIN))
        assert admin_on_tenant_route.status_code == 403
        assert admin_on_tenant_route.json()["error"]["code"] == "forbidden"
        h = bearer("k1")
        bad = client.post("/v1/search", json={"query": "x", "mode": "fuzzy"}, headers=h)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        bad_filter = client.post("/v1/search", json={"query": "x", "filters": {"year": {"between": 1}}}, headers=h)
        assert bad_filter.status_code == 400 and bad_filter.json()["error"]["code"] == "bad_request"
        blank = client.post("/v1/search", json={"query": "   "}, headers=h)
        assert blank.status_code == 400 and blank.json()["error"]["code"] == "bad_request"
        assert client.get("/v1/jobs/nope", headers=h).json()["error"]["code"] == "not_found"
        assert client.post("/v1/documents", content=b"x", headers={**h, "content-type": "text/plain"}
                           ).json()["error"]["code"] == "unsupported_media_type"
        assert client.get("/v1/admin/keys", headers=h).status_code == 403


def test_admin_keys_are_hashed_at_rest_and_open_their_namespace(make_client, tmp_path):
    import sqlite3

    with make_client() as client:
        admin = bearer(ADMIN)
        created = client.post("/v1/admin/keys", json={"namespace": "beta", "label": "ci"}, headers=admin)
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["key_id"]
        assert client.get("/v1/stats", headers=bearer(key)).json()["namespace"] == "beta"
        listed = client.get("/v1/admin/keys", headers=admin).json()
        assert [k["key_id"] for k in listed] == [key_id] and "key" not in listed[0]
        assert client.get("/v1/admin/namespaces", headers=admin).json()["namespaces"] == ["beta"]
        assert client.post("/v1/admin/keys", json={"namespace": "../x"}, headers=admin).status_code == 400
        # Only the digest is kept in the state: the key itself is nowhere in the store's file.
        db = sqlite3.connect(tmp_path / "store" / "ragline.db")
        stored = " ".join(str(v) for (v,) in db.execute("SELECT value FROM meta"))
        db.close()
        assert key_id in stored and key not in stored
        assert client.delete(f"/v1/admin/keys/{key_id}", headers=admin).status_code == 204
        assert client.get("/v1/stats", headers=bearer(key)).status_code == 401
    # The key survives a restart (it is in the state, not in the process).
    with make_client() as client:
        key2 = client.post("/v1/admin/keys", json={"namespace": "gamma"}, headers=bearer(ADMIN)).json()["key"]
    with make_client() as client:
        assert client.get("/v1/stats", headers=bearer(key2)).json()["namespace"] == "gamma"


def test_operations_routes(make_client):
    with make_client(auth=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        client.post("/v1/search", json={"query": "anything"})
        text = client.get("/metrics").text
        assert 'ragline_requests_total{method="POST",route="/v1/search",status="200"}' in text
        assert "ragline_search_seconds_bucket" in text
        assert client.get("/docs").status_code == 200
        schema = client.get("/openapi.json").json()
        assert {"/v1/search", "/v1/documents", "/v1/jobs/{job_id}", "/v1/documents/{doc_id}",
                "/v1/stats"} <= set(schema["paths"])
