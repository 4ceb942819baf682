"""Property: one tenant can never read, list, count, delete or guess another's documents, through
any endpoint (search in every mode and with filters, documents by id, jobs, stats).

Several tenants upload random documents (multipart files with hostile names, or JSON records),
delete some, and query; the model of what each tenant owns is kept here and every answer is
checked against it. The server state accumulates across examples, so later examples run against
more documents from every tenant.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.serve.conftest import bearer, wait_job

TENANTS = {"alpha": "key-alpha", "beta": "key-beta", "gamma": "key-gamma"}
# A small vocabulary: tenants often upload the same words, even the same texts (dedup must not
# cross tenants either).
WORDS = ["river", "stone", "owl", "copper", "lantern", "harbor", "maple", "signal", "quartz", "meadow"]
EXAMPLES = 30

names = st.one_of(st.sampled_from(["../../etc/passwd", "a/b.md", "..", "notes.md", "x.pdf", "%2e%2e",
                                   "r\u00e9sum\u00e9.txt"]),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20))
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
uploads = st.lists(st.tuples(st.sampled_from(sorted(TENANTS)), names, texts), min_size=1, max_size=6)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


def _tag(name: str) -> str:
    return "w" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


@pytest.mark.slow
def test_tenants_never_see_each_other(make_client):
    owned: dict[str, dict[str, str]] = {t: {} for t in TENANTS}   # tenant -> {doc_id: name}
    jobs: dict[str, list[str]] = {t: [] for t in TENANTS}
    examples = 0
    keys = ",".join(f"{key}={tenant}" for tenant, key in TENANTS.items())

    with make_client(api_keys=keys, result_cache_size=64) as client:

        def check(tenant: str, query: str, mode: str, filters: Any) -> None:
            answer = client.post("/v1/search", json={"query": query, "k": 50, "mode": mode, "filters": filters},
                                 headers=bearer(TENANTS[tenant]))
            assert answer.status_code == 200, answer.text
            for hit in answer.json()["hits"]:
                assert hit["doc_id"] in owned[tenant], (tenant, hit["source"])
                assert hit["source"].startswith(f"upload://{tenant}/")

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(batch=uploads, use_json=st.booleans(), query=queries, doomed=st.integers(0, 1),
               mode=st.sampled_from(["hybrid", "dense", "bm25"]), group=st.booleans())
        def example(batch, use_json, query, doomed, mode, group) -> None:
            nonlocal examples
            examples += 1
            for tenant in TENANTS:
                # A word made from the name starts and ends each text: two names of one tenant never
                # make (near-)duplicates, which the pipeline keeps out of the store, while two
                # tenants uploading one name with the same words do send identical texts.
                mine = [(name, f"{_tag(name)} {text} {_tag(name)}") for who, name, text in batch if who == tenant]
                unique = list({name: text for name, text in mine}.items())
                if not unique:
                    continue
                headers = bearer(TENANTS[tenant])
                if use_json:
                    accepted = client.post("/v1/documents", headers=headers, json={
                        "records": [{"id": name, "text": text} for name, text in unique]})
                else:
                    accepted = client.post("/v1/documents", headers=headers, files=[
                        ("files", (name, text.encode(), "application/pdf")) for name, text in unique])
                if accepted.status_code == 400:  # a name that cleans to a repeat: refused as a whole
                    continue
                assert accepted.status_code == 202, accepted.text
                body = accepted.json()
                job = wait_job(client, body["job_id"], headers)
                assert job["state"] == "done", job
                jobs[tenant].append(body["job_id"])
                for document in body["documents"]:
                    assert document["uri"].startswith(f"upload://{tenant}/")
                    owned[tenant][document["doc_id"]] = document["name"]

            for tenant, key in TENANTS.items():
                headers = bearer(key)
                others = [t for t in TENANTS if t != tenant]
                # Deleting some of one's own documents works; they are gone for good.
                for doc_id in sorted(owned[tenant])[:doomed]:
                    assert client.delete(f"/v1/documents/{doc_id}", headers=headers).status_code == 200
                    del owned[tenant][doc_id]
                    assert client.get(f"/v1/documents/{doc_id}", headers=headers).status_code == 404
                # Search, every mode, plain, grouped and filtered by another tenant's names.
                foreign_names = sorted({n for t in others for n in owned[t].values()})[:3]
                check(tenant, query, mode, None)
                for name in foreign_names:
                    check(tenant, query, mode, {"name": name})
                if group:
                    answer = client.post("/v1/search", json={"query": query, "group_by": "doc", "mode": mode},
                                         headers=headers)
                    assert all(h["doc_id"] in owned[tenant] for h in answer.json()["hits"])
                # Another tenant's documents and jobs, and guessed ids: not found (never 403).
                for other in others:
                    for doc_id in sorted(owned[other])[:5]:
                        assert client.get(f"/v1/documents/{doc_id}", headers=headers).status_code == 404
                        assert client.delete(f"/v1/documents/{doc_id}", headers=headers).status_code == 404
                    for job_id in jobs[other][-3:]:
                        assert client.get(f"/v1/jobs/{job_id}", headers=headers).status_code == 404
                guess = secrets.token_hex(16)
                assert client.get(f"/v1/documents/{guess}", headers=headers).status_code == 404
                assert client.get(f"/v1/jobs/{guess}", headers=headers).status_code == 404
                # Stats count only one's own documents.
                stats = client.get("/v1/stats", headers=headers).json()
                assert stats["namespace"] == tenant
                assert stats["documents"] == len(owned[tenant]), (tenant, stats)
                # Own documents stay readable (deletes by others never reached them).
                for doc_id in sorted(owned[tenant])[:5]:
                    assert client.get(f"/v1/documents/{doc_id}", headers=headers).status_code == 200

        example()
    assert examples >= EXAMPLES
    print(f"tenant isolation: {examples} examples, "
          f"{sum(len(v) for v in owned.values())} live documents over {len(TENANTS)} tenants")
