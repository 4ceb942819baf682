"""The chat-completions client against a real local OpenAI-compatible server with faults
injected over HTTP: streaming, retries (5xx, 429 + Retry-After), timeouts, broken streams, and
the API key kept out of every error and repr."""

from __future__ import annotations

import logging
import time

import pytest
from tests.llm_server import ChatServer, deterministic_answer

from ragline.errors import ConfigError, LLMError
from ragline.llm import ChatClient, LLMConfig, Usage, open_llm

PROMPT = "Context passages:\n\n[1] a.md\nalpha beta gamma delta epsilon zeta eta\n\n[2] b.md\nthe second one\n"
MESSAGES = [{"role": "system", "content": "cite"}, {"role": "user", "content": PROMPT}]
KEY = "sk-test-Zq8rT2vX9mK4pL7nB3cD"


@pytest.fixture(scope="module")
def server():
    with ChatServer() as running:
        yield running


@pytest.fixture()
def faults(server):
    server.control({"reset": True})

    return lambda **values: server.control(values)


@pytest.fixture()
def client(server, faults):
    made: list[ChatClient] = []

    def make(**options) -> ChatClient:
        llm = open_llm("openai:test-chat", **{"base_url": server.base_url, "backoff_base": 0.01, **options})
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.close()



def test_streams_the_answer_piece_by_piece_with_usage(server, client):
    usage = Usage()
    pieces = list(client().stream(MESSAGES, usage))
    assert len(pieces) > 5  # one per word, not one blob
    assert "".join(pieces) == deterministic_answer(PROMPT)
    assert "[1]" in "".join(pieces) and "[2]" in "".join(pieces)
    assert usage.completion_tokens == len(deterministic_answer(PROMPT).split())
    assert server.requests_log()[-1]["stream"] is True


def test_5xx_is_retried_before_the_first_token(server, client, faults):
    faults(fail={"count": 2, "status": 503})
    llm = client()
    assert llm.complete(MESSAGES) == deterministic_answer(PROMPT)
    assert [entry["status"] for entry in server.requests_log()] == [503, 503, 200]
    assert llm.stats["retries"] == 2


def test_429_waits_for_retry_after(server, client, faults):
    faults(rate_limit={"count": 1, "retry_after": "0.4"})
    started = time.monotonic()
    assert client(backoff_base=0).complete(MESSAGES) == deterministic_answer(PROMPT)
    assert time.monotonic() - started >= 0.4
    assert [entry["status"] for entry in server.requests_log()] == [429, 200]


def test_a_retry_after_longer_than_allowed_fails_at_once_with_its_code(server, client, faults):
    faults(rate_limit={"count": 5, "retry_after": "120"})
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        client(max_retry_after=1).complete(MESSAGES)
    assert caught.value.code == "llm_rate_limited"
    assert time.monotonic() - started < 5
    assert len(server.requests_log()) == 1


def test_retries_are_bounded_and_end_in_a_coded_error(server, client, faults):
    faults(fail={"count": 10, "status": 500})
    with pytest.raises(LLMError) as caught:
        client(max_attempts=3).complete(MESSAGES)
    assert caught.value.code == "llm_unavailable"
    assert "3 attempt" in str(caught.value)
    assert len(server.requests_log()) == 3


def test_a_slow_server_times_out_then_succeeds_on_retry(server, client, faults):
    faults(slow={"count": 1, "seconds": 1.0})
    llm = client(timeout=0.3)
    assert llm.complete(MESSAGES) == deterministic_answer(PROMPT)
    assert llm.stats["retries"] == 1


def test_a_server_that_stays_slow_is_a_timeout(server, client, faults):
    faults(slow={"count": 5, "seconds": 0.6})
    with pytest.raises(LLMError) as caught:
        client(timeout=0.2, max_attempts=2).complete(MESSAGES)
    assert caught.value.code == "llm_timeout"


def test_a_stream_broken_after_tokens_is_an_error_not_a_silent_retry(server, client, faults):
    faults(break_stream={"count": 1, "after": 3})
    received: list[str] = []
    with pytest.raises(LLMError) as caught:
        for piece in client().stream(MESSAGES):
            received.append(piece)
    assert caught.value.code == "llm_stream_broken"
    assert len(received) == 3
    assert len(server.requests_log()) == 1  # the tokens already went out: no second request


def test_a_stream_that_stalls_mid_answer_is_broken(server, client, faults):
    faults(stall={"count": 1, "after": 2, "seconds": 1.0})
    with pytest.raises(LLMError) as caught:
        client(timeout=0.3).complete(MESSAGES)
    assert caught.value.code == "llm_stream_broken"


def test_a_refused_request_is_not_retried(server, client):
    llm = open_llm("openai:no-such-model", base_url=server.base_url)
    try:
        with pytest.raises(LLMError) as caught:
            llm.complete(MESSAGES)
    finally:
        llm.close()
    assert caught.value.code == "llm_refused" and "404" in str(caught.value)
    assert len(server.requests_log()) == 1


def test_the_key_is_sent_but_never_shown(server, client, faults, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)  # everything httpx, httpcore and ragline log
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    llm = client()
    assert llm.complete(MESSAGES)
    assert server.requests_log()[-1]["authorization"] == f"Bearer {KEY}"
    faults(reject_key={"count": 1})
    with pytest.raises(LLMError) as caught:
        llm.complete(MESSAGES)
    assert server.requests_log()[-1]["status"] == 401  # the server echoed the key in its body...
    for shown in (str(caught.value), repr(caught.value), repr(llm), str(llm.describe())):
        assert KEY not in shown and KEY[:12] not in shown  # ...and it is redacted everywhere
    assert caught.value.code == "llm_refused" and "OPENAI_API_KEY" in str(caught.value)
    assert caplog.records and KEY not in caplog.text and KEY[:12] not in caplog.text


def test_the_breaker_opens_after_repeated_failures(server, client, faults):
    faults(fail={"count": 100, "status": 500})
    llm = client(max_attempts=1, breaker_threshold=2, breaker_cooldown=60)
    for _ in range(2):
        with pytest.raises(LLMError):
            llm.complete(MESSAGES)
    with pytest.raises(LLMError) as caught:
        llm.complete(MESSAGES)
    assert caught.value.code == "llm_unavailable" and "circuit breaker open" in str(caught.value)
    assert len(server.requests_log()) == 2  # the third call never reached the server


def test_settings_resolve_like_the_remote_embedder(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RAGLINE_LLM_TIMEOUT", "7.5")
    config = LLMConfig.resolve("m")
    assert config.base_url == "http://127.0.0.1:9/v1" and config.timeout == 7.5
    assert LLMConfig.resolve("m", base_url="http://127.0.0.1:10/v1").base_url == "http://127.0.0.1:10/v1"
    with pytest.raises(ConfigError, match="never an argument"):
        LLMConfig.resolve("m", api_key=KEY)
    with pytest.raises(ConfigError, match="credentials"):
        LLMConfig.resolve("m", base_url=f"http://user:{KEY}@127.0.0.1/v1")
    with pytest.raises(ConfigError, match="openai:MODEL"):
        open_llm("gpt-4o")
