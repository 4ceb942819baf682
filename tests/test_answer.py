"""Answers with citations over a real store (the fixture corpus, ingested) and a real local
OpenAI-compatible chat server: event order, packing within the token budget, the citations the
text really used, chat failures as coded error events, and `ragline answer` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import FIXTURES
from tests.llm_server import ChatServer, deterministic_answer

from ragline.answer import Answerer, cited_numbers, pack
from ragline.errors import LLMError, QueryError
from ragline.llm import open_llm

QUESTION = "what does killall do to processes"


@pytest.fixture(scope="module")
def chat():
    with ChatServer() as running:
        yield running


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from ragline.engine import Engine

    path = tmp_path_factory.mktemp("answer") / "store"
    with Engine.open(f"local:{path}", embedder="hashing:64", parse_workers=0) as engine:
        report = engine.ingest([FIXTURES / "good"])
    assert report.chunks_written > 5
    return path


@pytest.fixture()
def engine(store):
    from ragline.engine import Engine

    with Engine.open(f"local:{store}", embedder="hashing:64", create_store=False) as opened:
        yield opened


@pytest.fixture()
def llm(chat):
    chat.control({"reset": True})
    client = open_llm("openai:test-chat", base_url=chat.base_url, backoff_base=0.01, max_attempts=2)
    yield client
    client.close()


def test_events_come_in_order_and_done_names_the_citations_used(engine, llm, chat):
    events = list(Answerer(engine, llm, k=5).stream(QUESTION))
    kinds = [e.event for e in events]
    assert kinds[0] == "citations" and kinds[-1] == "done" and set(kinds[1:-1]) == {"token"}
    citations = events[0].data["citations"]
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    assert len(citations) >= 2
    text = "".join(e.data["text"] for e in events if e.event == "token")
    prompt = chat.requests_log()[-1]["messages"][-1]["content"]
    assert text == deterministic_answer(prompt)  # the server answered from what we packed
    assert events[-1].data["cited"] == [1, 2]
    assert events[-1].data["usage"]["completion_tokens"] == len(text.split())
    # The prompt holds each cited chunk, numbered, with its source.
    hits = engine.search(QUESTION, 5)
    for citation in citations:
        hit = next(h for h in hits if h.chunk.chunk_id == citation["chunk_id"])
        assert f"[{citation['n']}] " in prompt and hit.chunk.text.strip() in prompt
        assert citation["source"] == hit.uri and citation["doc_id"] == hit.chunk.doc_id
    assert "killall" in prompt  # the right document was retrieved (BM25 half of hybrid)


def test_sse_framing(engine, llm):
    first = next(iter(Answerer(engine, llm, k=3).stream(QUESTION)))
    frame = first.sse()
    assert frame.startswith("event: citations\ndata: {") and frame.endswith("\n\n")
    assert json.loads(frame.split("data: ", 1)[1])["citations"]


def test_packing_keeps_whole_chunks_best_first_within_the_budget(engine):
    hits = engine.search(QUESTION, 8)
    count = engine.embedder.count
    full, used_full = pack(hits, count, 100_000)
    assert [h.chunk.chunk_id for h, _ in full] == [h.chunk.chunk_id for h in hits]
    budget = used_full // 2
    kept, used = pack(hits, count, budget)
    assert 0 < used <= budget and len(kept) < len(hits)
    order = [h.chunk.chunk_id for h in hits]
    positions = [order.index(h.chunk.chunk_id) for h, _ in kept]
    assert positions == sorted(positions)  # best first
    for n, (hit, passage) in enumerate(kept, start=1):
        assert passage.startswith(f"[{n}] ") and passage.endswith(hit.chunk.text.strip())
    assert sum(count([p])[0] for _, p in kept) == used


def test_a_tiny_budget_sends_no_passage_and_the_model_says_so(engine, llm):
    answer = Answerer(engine, llm).answer(QUESTION, max_context_tokens=16)
    assert answer.citations == [] and answer.cited == []
    assert "does not contain" in answer.text


def test_chat_failures_become_one_coded_error_event(engine, llm, chat):
    chat.control({"fail": {"count": 5, "status": 502}})
    events = list(Answerer(engine, llm, k=3).stream(QUESTION))
    assert [e.event for e in events] == ["citations", "error"]
    assert events[-1].data["code"] == "llm_unavailable"
    chat.control({"reset": True, "break_stream": {"count": 1, "after": 2}})
    events = list(Answerer(engine, llm, k=3).stream(QUESTION))
    assert [e.event for e in events] == ["citations", "token", "token", "error"]
    assert events[-1].data["code"] == "llm_stream_broken"
    with pytest.raises(LLMError):
        chat.control({"break_stream": {"count": 1, "after": 1}})
        Answerer(engine, llm, k=3).answer(QUESTION)


def test_without_a_chat_model_it_says_so_and_bad_queries_fail_before_streaming(engine, llm):
    with pytest.raises(LLMError) as caught:
        next(iter(Answerer(engine, None).stream(QUESTION)))
    assert caught.value.code == "llm_not_configured" and "--llm" in str(caught.value)
    assert Answerer(engine, None).retrieve(QUESTION).citations  # retrieval works without one
    with pytest.raises(QueryError):
        Answerer(engine, llm).retrieve("   ")


@pytest.mark.parametrize(("text", "n", "expected"), [
    ("a [1] b [2].", 3, [1, 2]),
    ("[2][1] and [2] again", 2, [2, 1]),
    ("both [1, 3]; also [2;1]", 3, [1, 3, 2]),
    ("not given: [7], [0]", 3, []),
    ("[1a] [x] 1] no", 3, []),
])
def test_cited_numbers(text, n, expected):
    assert cited_numbers(text, n) == expected


@pytest.mark.integration
def test_cli_answer_streams_and_lists_sources(store, chat, llm):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    command = [sys.executable, "-m", "ragline.cli", "answer", QUESTION, "--store", f"local:{store}",
               "--embedder", "hashing:64", "--llm", "openai:test-chat", "--llm-base-url", chat.base_url, "-k", "4"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in done.stderr
    assert "From the context:" in done.stdout and "[1]" in done.stdout
    assert "Sources" in done.stdout and "*[1]" in done.stdout and "*[2]" in done.stdout
    as_json = json.loads(subprocess.run(command + ["--json"], env=env, capture_output=True, text=True,
                                        timeout=120).stdout)
    assert as_json["cited"] == [1, 2] and as_json["text"].startswith("From the context:")
    # The old spelling still works (with a note); the variable is serve's name without SERVE_.
    old_name = [*command[:-4], "--base-url", chat.base_url, "-k", "4", "--json"]
    assert old_name != command and "--llm-base-url" not in old_name
    renamed = subprocess.run(old_name, env=env, capture_output=True, text=True, timeout=120)
    assert renamed.returncode == 0 and json.loads(renamed.stdout)["cited"] == [1, 2], renamed.stderr
    assert "--base-url is deprecated: use --llm-base-url" in " ".join(renamed.stderr.split())
    from_env = subprocess.run([*command[:-4], "-k", "4", "--json"], env={**env, "RAGLINE_LLM_BASE_URL": chat.base_url},
                              capture_output=True, text=True, timeout=120)
    assert from_env.returncode == 0 and json.loads(from_env.stdout)["cited"] == [1, 2], from_env.stderr
    both = subprocess.run([*command, "--base-url", "http://127.0.0.1:9/v1"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert both.returncode == 2 and "old name of --llm-base-url" in " ".join(both.stderr.split())
    chat.control({"fail": {"count": 20, "status": 500}})
    failed = subprocess.run(command + ["--json"], env={**env, "RAGLINE_LLM_MAX_ATTEMPTS": "1"},
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 3 and "llm_unavailable" in failed.stderr


def test_events_stream_over_http_as_sse(engine, llm):
    """The thin wrapper a server needs: retrieve first (a bad query is a plain JSON 400), then
    each event's ``sse()`` through a StreamingResponse; a client reads them as they come."""
    import threading

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()
    answerer = Answerer(engine, llm, k=4)

    @app.post("/v1/answer", response_model=None)
    def answer(body: dict) -> JSONResponse | StreamingResponse:
        try:
            context = answerer.retrieve(body["query"])
        except QueryError as exc:
            return JSONResponse({"error": {"code": "bad_request", "message": str(exc)}}, status_code=400)
        return StreamingResponse((event.sse() for event in answerer.generate(context)),
                                 media_type="text/event-stream")

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/v1/answer"
        events = []
        with httpx.stream("POST", url, json={"query": QUESTION}, timeout=30) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
        assert events[0][0] == "citations" and events[-1][0] == "done"
        assert "".join(data["text"] for kind, data in events if kind == "token").startswith("From the context:")
        assert events[-1][1]["cited"] == [1, 2]
        bad = httpx.post(url, json={"query": "  "}, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    finally:
        server.should_exit = True
        thread.join(10)
