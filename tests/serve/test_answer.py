"""POST /v1/answer against the real app and the local OpenAI-compatible chat server
(tests/llm_server.py): events in order, only the caller's namespace reaches the model and the
citations, 503 without a chat model, chat failures as coded ``error`` events, bad queries as JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.llm_server import ChatServer
from tests.serve.conftest import bearer, wait_job

KEYS = "key-a=tenant-a,key-b=tenant-b"
A, B = bearer("key-a"), bearer("key-b")
# Each tenant's documents use words the other's never do, so a leak shows in the prompt.
RECORDS = {
    "tenant-a": [{"id": f"a{i}", "text": f"Glaciers calve icebergs {word} alpha{i} when meltwater lubricates "
                  "the bed of the glacier and the ice front breaks off into the fjord."}
                 for i, word in enumerate(["quickly", "slowly", "often"])],
    "tenant-b": [{"id": f"b{i}", "text": f"Glaciers calve icebergs {word} bravo{i} in the secret ledger of "
                  "tenant bee, whose documents nobody else may read."}
                 for i, word in enumerate(["rarely", "loudly", "never"])],
}
QUESTION = "why do glaciers calve icebergs"


@pytest.fixture(scope="module")
def chat():
    with ChatServer() as running:
        yield running


@pytest.fixture()
def llm_env(chat, monkeypatch):
    chat.control({"reset": True})
    monkeypatch.setenv("RAGLINE_LLM_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("RAGLINE_LLM_MAX_ATTEMPTS", "2")
    return chat


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events, kind = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
    return events


def _ingest(client, headers, records) -> None:
    accepted = client.post("/v1/documents", json={"records": records}, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert wait_job(client, accepted.json()["job_id"], headers)["state"] == "done"


def test_citations_then_tokens_then_done_from_the_tenants_own_chunks(make_client, llm_env):
    chat = llm_env
    with make_client(api_keys=KEYS, llm="openai:test-chat", llm_base_url=chat.base_url) as client:
        for tenant, headers in (("tenant-a", A), ("tenant-b", B)):
            _ingest(client, headers, RECORDS[tenant])
        for headers, own, other in ((A, "alpha", "bravo"), (B, "bravo", "alpha")):
            logged = len(chat.requests_log())
            events = _events(client.post("/v1/answer", json={"query": QUESTION, "k": 6}, headers=headers))
            kinds = [kind for kind, _ in events]
            assert kinds[0] == "citations" and kinds[-1] == "done", kinds
            assert set(kinds[1:-1]) == {"token"}
            citations = events[0][1]["citations"]
            assert [c["n"] for c in citations] == list(range(1, len(citations) + 1)) and len(citations) == 3
            text = "".join(data["text"] for kind, data in events if kind == "token")
            assert text.startswith("From the context:") and own in text and other not in text
            assert events[-1][1]["cited"] == [1, 2]
            # Every citation is a document of this tenant: its own key finds it, the other's does not.
            for citation in citations:
                assert own in citation["snippet"] and other not in citation["snippet"]
                assert client.get(f"/v1/documents/{citation['doc_id']}", headers=headers).status_code == 200
                foreign = B if headers is A else A
                assert client.get(f"/v1/documents/{citation['doc_id']}", headers=foreign).status_code == 404
            # What the chat model was shown holds this tenant's passages and none of the other's.
            requests = chat.requests_log()[logged:]
            assert len(requests) == 1
            prompt = json.dumps(requests[0]["messages"])
            assert own in prompt and other not in prompt


def test_without_a_chat_model_the_answer_is_503_llm_not_configured(make_client):
    with make_client(api_keys=KEYS) as client:
        answer = client.post("/v1/answer", json={"query": QUESTION}, headers=A)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "llm_not_configured"
        # Auth still comes first: no key is 401, not a hint about the server's configuration.
        assert client.post("/v1/answer", json={"query": QUESTION}).status_code == 401


def test_chat_server_failure_is_an_error_event_and_a_bad_query_is_json(make_client, llm_env):
    chat = llm_env
    with make_client(api_keys=KEYS, llm="openai:test-chat", llm_base_url=chat.base_url) as client:
        _ingest(client, A, RECORDS["tenant-a"])
        chat.control({"fail": {"count": 2, "status": 503}})
        events = _events(client.post("/v1/answer", json={"query": QUESTION}, headers=A))
        assert [kind for kind, _ in events] == ["citations", "error"]
        assert events[-1][1]["code"] == "llm_unavailable"
        assert "token" not in [kind for kind, _ in events]
        # A query the engine refuses is a JSON 400 before any event (and before the chat model).
        logged = len(chat.requests_log())
        bad = client.post("/v1/answer", json={"query": "   "}, headers=A)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        bad_filter = client.post("/v1/answer", json={"query": QUESTION, "filters": {"year": {"between": 1}}}, headers=A)
        assert bad_filter.status_code == 400 and bad_filter.json()["error"]["code"] == "bad_request"
        assert len(chat.requests_log()) == logged
        # The server recovers once the chat server does.
        recovered = _events(client.post("/v1/answer", json={"query": QUESTION}, headers=A))
        assert recovered[-1][0] == "done"
