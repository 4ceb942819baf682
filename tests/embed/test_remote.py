"""The remote embedder against a real uvicorn server with injected faults, plus its policies
(rate limiter, AIMD, circuit breaker) on a fake clock."""

from __future__ import annotations

import pickle
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime

import numpy as np
import pytest
from tests.conftest import FIXTURES
from tests.embed.remote_server import EmbeddingServer

from ragline.embed import open_embedder
from ragline.embed._resilience import (
    AimdConcurrency,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    TokenBucket,
    parse_duration,
    parse_retry_after,
)
from ragline.embed.remote import RemoteConfig, RemoteEmbedder
from ragline.errors import ConfigError, EmbedError

TEXTS = [f"document {i}: " + " ".join(["alpha", "beta", "gamma", "delta"][: 1 + i % 4] * (1 + i % 5))
         for i in range(48)]


@pytest.fixture(scope="module")
def server(hashing_embedder):
    with EmbeddingServer(hashing_embedder) as running:
        yield running


@pytest.fixture()
def faults(server):
    """Set faults on the server for this test; the log and faults start empty."""
    server.control({"reset": True})

    return lambda **values: server.control(values)



def delivered(log: list[dict]) -> Counter:
    return Counter(text for entry in log if entry["status"] == 200 for text in entry["inputs"])


@pytest.fixture()
def make_client(server):
    made: list[RemoteEmbedder] = []

    def make(**options) -> RemoteEmbedder:
        options = {"base_url": server.base_url, "backoff_base": 0.02, **options}
        embedder = open_embedder("openai:test-embed", **options)
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        embedder.close()


def assert_own_vectors(vectors, texts, hashing_embedder):
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), hashing_embedder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # server sends them x3
    assert np.allclose(vectors, hashing_embedder.embed(texts), atol=1e-5)


# ----- the happy path -------------------------------------------------------------------------
def test_every_input_gets_its_own_vector_once(server, faults, make_client, hashing_embedder):
    client = make_client(max_inputs_per_request=5, request_tokens=40)
    vectors = client.embed(TEXTS)
    assert_own_vectors(vectors, TEXTS, hashing_embedder)
    log = server.requests_log()
    assert delivered(log) == Counter(TEXTS)  # every input sent and answered exactly once
    assert len(log) > len(TEXTS) // 5 and all(len(e["inputs"]) <= 5 for e in log)
    assert client.dim == hashing_embedder.dim  # learnt from the first response


def test_requests_run_concurrently_and_keep_order(server, faults, make_client, hashing_embedder):
    faults(slow={"count": 100, "seconds": 0.1})
    client = make_client(max_inputs_per_request=2, concurrency=4, max_concurrency=4)
    started = time.perf_counter()
    vectors = client.embed(TEXTS[:16])
    elapsed = time.perf_counter() - started
    assert_own_vectors(vectors, TEXTS[:16], hashing_embedder)
    assert max(e["in_flight"] for e in server.requests_log()) >= 3
    assert elapsed < 8 * 0.1  # 8 requests of 0.1 s each, not one after the other


def test_contract_batch_equals_single(server, faults, make_client):
    client = make_client()
    batch = client.embed(TEXTS[:6])
    singles = np.vstack([client.embed([t]) for t in TEXTS[:6]])
    assert np.allclose(batch, singles, atol=1e-6)
    assert client.embed([]).shape == (0, client.dim)


# ----- 413: split in halves -------------------------------------------------------------------
def test_413_splits_batches_in_halves(server, faults, make_client, hashing_embedder):
    faults(max_inputs=3)
    client = make_client(max_inputs_per_request=16)
    vectors = client.embed(TEXTS[:40])
    assert_own_vectors(vectors, TEXTS[:40], hashing_embedder)
    log = server.requests_log()
    too_large = [e for e in log if e["status"] == 413]
    assert too_large and all(len(e["inputs"]) > 3 for e in too_large)
    assert {len(e["inputs"]) for e in too_large} >= {16, 8, 4}  # halved, then halved again
    assert all(len(e["inputs"]) <= 3 for e in log if e["status"] == 200)
    assert delivered(log) == Counter(TEXTS[:40])
    assert client.stats["splits"] == len(too_large)


def test_a_single_input_that_is_too_large_fails_naming_it(server, faults, make_client):
    faults(max_input_chars=200)
    texts = ["short one", "short two", "x " * 300, "short four"]
    with pytest.raises(EmbedError, match=r"input 2 \(\d+ tokens, 600 chars.*413"):
        make_client().embed(texts)


# ----- 429 and rate-limit headers -------------------------------------------------------------
def gap_after_429(log: list[dict]) -> float:
    first_429 = next(e for e in log if e["status"] == 429)
    retry = next(e for e in log if e["t"] > first_429["t"])
    return retry["t"] - first_429["t"]


def test_429_retry_after_seconds_is_honoured(server, faults, make_client, hashing_embedder):
    faults(rate_limit={"count": 1, "retry_after": "1"})
    client = make_client(concurrency=1)
    vectors = client.embed(TEXTS[:3])
    assert_own_vectors(vectors, TEXTS[:3], hashing_embedder)
    log = server.requests_log()
    assert [e["status"] for e in log] == [429, 200]
    assert gap_after_429(log) >= 0.95
    assert client.stats["server_waits"] == 1


def test_429_retry_after_http_date_is_honoured(server, faults, make_client):
    when = datetime.fromtimestamp(int(time.time()) + 2, tz=UTC)
    faults(rate_limit={"count": 1, "retry_after": format_datetime(when, usegmt=True)})
    make_client(concurrency=1).embed(TEXTS[:3])
    log = server.requests_log()
    assert [e["status"] for e in log] == [429, 200]
    assert log[1]["t"] >= when.timestamp() - 0.05


def test_429_without_retry_after_waits_for_the_ratelimit_reset(server, faults, make_client):
    faults(rate_limit={"count": 1, "headers": {"x-ratelimit-remaining-requests": "0",
                                               "x-ratelimit-reset-requests": "1s"}})
    make_client(concurrency=1).embed(TEXTS[:3])
    log = server.requests_log()
    assert [e["status"] for e in log] == [429, 200]
    assert gap_after_429(log) >= 0.95


@pytest.mark.parametrize("kind, reset", [("requests", "900ms"), ("tokens", "0m0.9s")])
def test_exhausted_ratelimit_headers_on_success_pause_the_next_request(server, faults, make_client,
                                                                      kind, reset):
    faults(success_headers={"count": 1, "headers": {f"x-ratelimit-remaining-{kind}": "0",
                                                    f"x-ratelimit-reset-{kind}": reset}})
    client = make_client(concurrency=1, max_inputs_per_request=2)
    client.embed(TEXTS[:4])
    log = server.requests_log()
    assert [e["status"] for e in log] == [200, 200]
    assert log[1]["t"] - log[0]["t"] >= 0.85


def test_aimd_halves_concurrency_on_429_then_grows_back(server, faults, make_client,
                                                         hashing_embedder):
    faults(rate_limit={"count": 3, "retry_after": "0"}, slow={"count": 1000, "seconds": 0.02})
    client = make_client(concurrency=8, max_concurrency=8, max_inputs_per_request=1)
    vectors = client.embed(TEXTS)
    assert_own_vectors(vectors, TEXTS, hashing_embedder)
    history = client.concurrency.history
    assert history[:2] == [8, 4]  # one halving for the burst of 429s from one window
    assert client.concurrency.limit > min(history)  # additive increase after runs of successes
    assert client.statuses[429] == 3 and delivered(server.requests_log()) == Counter(TEXTS)


# ----- timeouts, 5xx, connection errors, the breaker ------------------------------------------
def test_timeout_is_retried_and_lowers_concurrency(server, faults, make_client, hashing_embedder):
    faults(slow={"count": 1, "seconds": 1.5})
    client = make_client(timeout=0.5, concurrency=2, max_concurrency=2, max_inputs_per_request=2)
    vectors = client.embed(TEXTS[:4])
    assert_own_vectors(vectors, TEXTS[:4], hashing_embedder)
    assert client.stats["retries"] >= 1 and client.concurrency.history[:2] == [2, 1]


def test_5xx_are_retried(server, faults, make_client, hashing_embedder):
    faults(fail={"count": 2, "status": 503})
    client = make_client(concurrency=1)
    assert_own_vectors(client.embed(TEXTS[:5]), TEXTS[:5], hashing_embedder)
    assert client.statuses[503] == 2 and client.stats["retries"] == 2
    assert client.breaker.state is BreakerState.CLOSED


def test_retries_are_bounded(server, faults, make_client):
    faults(fail={"count": 100, "status": 500})
    with pytest.raises(EmbedError, match="after 3 attempts.*HTTP 500"):
        make_client(max_attempts=3, breaker_threshold=10).embed(TEXTS[:2])
    assert len(server.requests_log()) == 3


def test_breaker_opens_fails_fast_and_closes_after_cooldown(server, faults, make_client,
                                                           hashing_embedder):
    faults(fail={"count": 1000, "status": 500})
    client = make_client(breaker_threshold=3, breaker_cooldown=1.0, max_attempts=10, concurrency=1)
    with pytest.raises(EmbedError, match=r"circuit breaker open .* 3 consecutive failures "
                                         r"\(last: HTTP 500.*in \d\.\d s"):
        client.embed(TEXTS[:2])
    assert len(server.requests_log()) == 3  # opened after 3 failures, the 4th attempt never left
    started = time.perf_counter()
    with pytest.raises(CircuitOpenError):
        client.embed(TEXTS[:2])
    assert time.perf_counter() - started < 0.2 and len(server.requests_log()) == 3
    faults(reset=True)
    time.sleep(1.05)
    assert_own_vectors(client.embed(TEXTS[:2]), TEXTS[:2], hashing_embedder)
    assert client.breaker.transitions == [BreakerState.CLOSED, BreakerState.OPEN,
                                          BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    client = open_embedder("openai:m", base_url=f"http://127.0.0.1:{port}/v1", max_attempts=3,
                           backoff_base=0.01)
    with pytest.raises(EmbedError, match="after 3 attempts.*connection error"):
        client.embed(["a"])
    assert client.stats["requests"] == 3


def test_client_errors_are_not_retried(server, faults, make_client):
    client = open_embedder("openai:no-such-model", base_url=server.base_url)
    with pytest.raises(EmbedError, match="HTTP 404.*no-such-model"):
        client.embed(["a"])
    assert len(server.requests_log()) == 1


def test_api_key_comes_from_the_named_environment_variable(server, faults, make_client,
                                                           monkeypatch):
    monkeypatch.setenv("MY_EMBED_KEY", "sk-test-123")
    make_client(api_key_env="MY_EMBED_KEY").embed(["a"])
    monkeypatch.delenv("MY_EMBED_KEY")
    make_client(api_key_env="MY_EMBED_KEY").embed(["b"])
    assert [e["authorization"] for e in server.requests_log()] == ["Bearer sk-test-123", None]


# ----- the real model over HTTP ----------------------------------------------------------------
def test_real_model_over_http_matches_local_onnx(onnx_embedder):
    sentences = ["A man is eating food.", "The cat sits on the mat.",
                 "Ragline splits documents into chunks before embedding them.",
                 "Rate limits are read from x-ratelimit headers."] * 3
    from ragline.embed.onnx import OnnxEmbedder

    with EmbeddingServer(OnnxEmbedder(), model="all-MiniLM-L6-v2") as running:
        client = open_embedder("openai:all-MiniLM-L6-v2", base_url=running.base_url,
                               max_inputs_per_request=5)
        remote = client.embed(sentences)
        client.close()
    local = open_embedder("onnx").embed(sentences)
    assert remote.shape == (12, 384) and (remote * local).sum(axis=1).min() > 0.999
    assert client.max_tokens == onnx_embedder.max_tokens  # the shipped tokenizer's limit


# ----- end to end: an ingest through a faulty server ------------------------------------------
def test_engine_ingest_through_faulty_server_stores_every_chunk_once(server, faults, make_client,
                                                                    tmp_path):
    from ragline.engine import Engine

    client = make_client(max_inputs_per_request=8, request_tokens=2000, breaker_threshold=10)
    corpus = FIXTURES / "good"

    def ingest(store):
        with Engine.open(f"local:{store}", embedder=client) as engine:
            report = engine.ingest([corpus])
            rows = engine.store.db.execute("SELECT chunk_id, text FROM chunks").fetchall()
            ids = [r[0] for r in rows]
            vectors = engine.store.vectors(ids)
        return report, rows, ids, vectors

    faults(max_inputs=3, rate_limit={"count": 3, "retry_after": "0.2"},
           fail={"count": 2, "status": 502})
    faulty_report, faulty_rows, faulty_ids, faulty_vectors = ingest(tmp_path / "faulty")
    faulty_log = server.requests_log()
    faults(reset=True)
    clean_report, _, clean_ids, clean_vectors = ingest(tmp_path / "clean")

    assert {e["status"] for e in faulty_log} >= {413, 429, 502, 200}
    assert not faulty_report.failed and not clean_report.failed
    assert len(faulty_ids) == len(set(faulty_ids)) == len(clean_ids) > 10
    assert sorted(faulty_ids) == sorted(clean_ids)
    order = np.argsort(faulty_ids), np.argsort(clean_ids)
    assert np.allclose(faulty_vectors[order[0]], clean_vectors[order[1]], atol=2e-3)
    # Each distinct chunk text was delivered by the server exactly once during the faulty run.
    assert delivered(faulty_log) == Counter({text for _, text in faulty_rows})


# ----- policies on a fake clock ---------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5s", 0.5),
    ("150us", 150e-6), ("2", 2.0), ("0s", 0.0), ("", None), ("soon", None), ("1x", None),
    ("1s garbage", None), (None, None),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("later") is None and parse_retry_after(None) is None


def test_token_bucket_refills_and_obeys_the_server():
    clock = FakeClock()
    bucket = TokenBucket(60, clock)  # one per second
    assert all(bucket.try_take(1) == 0 for _ in range(60))
    assert bucket.try_take(1) == pytest.approx(1.0)
    clock.now += 0.5
    assert bucket.try_take(1) == pytest.approx(0.5)
    clock.now += 10
    bucket.observe(limit=None, remaining=2, reset=None)  # the server knows better: only 2 left
    assert bucket.try_take(2) == 0 and bucket.try_take(1) == pytest.approx(1.0)
    bucket.observe(limit=None, remaining=0, reset=5.0)
    assert bucket.try_take(1) == pytest.approx(5.0)
    assert bucket.try_take(1000) == pytest.approx(5.0)


def test_unconfigured_bucket_adopts_the_server_limit():
    clock = FakeClock()
    bucket = TokenBucket(None, clock)
    assert bucket.try_take(10**9) == 0  # no limit known yet
    bucket.observe(limit=120, remaining=1, reset=None)
    assert bucket.capacity == 120 and bucket.try_take(1) == 0
    assert bucket.try_take(1) == pytest.approx(0.5)  # 120/min refills one every 0.5 s


def test_rate_limiter_waits_for_requests_and_tokens():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=6000, clock=clock,
                          sleep=clock.sleep)
    assert limiter.acquire(tokens=6000) == 0
    waited = limiter.acquire(tokens=3000)  # half the token budget: 30 s to refill
    assert waited == pytest.approx(30.0, abs=0.3)
    limiter.observe({"retry-after": "ignored here"}, actual_tokens=1000, estimated_tokens=3000)
    limiter.pause(7.0)
    assert limiter.acquire(tokens=1) == pytest.approx(7.0, abs=0.3)


def test_aimd_halves_once_per_window_and_adds_one_after_a_streak():
    aimd = AimdConcurrency(initial=8, maximum=10, increase_after=3)
    tickets = [aimd.acquire() for _ in range(8)]
    for ticket in tickets[:4]:
        aimd.release(ticket, overload=True)  # four 429s from the same window
    assert aimd.limit == 4 and aimd.history == [8, 4]
    for ticket in tickets[4:6]:
        aimd.release(ticket, success=True)
    late = aimd.acquire()  # this one was sent after the decrease, so its overload counts
    aimd.release(late, overload=True)
    assert aimd.limit == 2
    for ticket in tickets[6:]:
        aimd.release(ticket, success=True)  # a streak of two: not yet an increase
    for _ in range(4):
        aimd.release(aimd.acquire(), success=True)
    assert aimd.history == [8, 4, 2, 3, 4] and aimd.in_flight == 0


def test_breaker_states_on_a_fake_clock():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=30, name="api.example", clock=clock,
                             wall_clock=clock)
    breaker.before_call()
    breaker.on_failure("HTTP 500: boom")
    breaker.on_success()  # a success in between resets the run
    for _ in range(2):
        breaker.before_call()
        breaker.on_failure("HTTP 502: bad gateway")
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match=r"api.example after 2 consecutive failures "
                                               r"\(last: HTTP 502: bad gateway\).*in 30.0 s"):
        breaker.before_call()
    clock.now += 30
    breaker.before_call()  # the one trial request
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError, match="trial request is in flight"):
        breaker.before_call()
    breaker.on_failure("timeout")  # the trial failed: open for another cooldown
    assert breaker.state is BreakerState.OPEN
    clock.now += 30
    breaker.before_call()
    breaker.on_success()
    assert breaker.state is BreakerState.CLOSED


# ----- configuration --------------------------------------------------------------------------
def test_config_resolution_arguments_over_environment(monkeypatch):
    monkeypatch.setenv("RAGLINE_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RAGLINE_EMBED_MAX_INPUTS_PER_REQUEST", "5")
    monkeypatch.setenv("RAGLINE_EMBED_TOKENS_PER_MINUTE", "1e6")
    config = RemoteConfig.resolve("m", max_inputs_per_request=7)
    assert config.base_url == "http://127.0.0.1:9/v1"
    assert config.max_inputs_per_request == 7 and config.tokens_per_minute == 1e6
    monkeypatch.setenv("RAGLINE_EMBED_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match="concurrency='lots'"):
        RemoteConfig.resolve("m")


@pytest.mark.parametrize("options, message", [
    ({"api_key": "sk-secret"}, "never an argument"),
    ({"base_url": "https://user:sk-secret@api.example/v1"}, "must not carry credentials"),
    ({"base_url": "api.example/v1"}, "must look like"),
    ({"concurrency": 20}, "max_concurrency"),
    ({"max_concurrent": 2}, "unknown remote embedder option"),
])
def test_config_errors_say_what_to_change(options, message):
    with pytest.raises(ConfigError, match=message):
        RemoteConfig.resolve("m", **options)
    with pytest.raises(ConfigError, match="openai:MODEL"):
        open_embedder("openai:")


def test_revision_identifies_server_model_and_size():
    a = open_embedder("openai:text-embedding-3-small", base_url="https://api.openai.com/v1")
    b = open_embedder("openai:text-embedding-3-small", base_url="https://api.openai.com/v1",
                      dimensions=256)
    c = open_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")
    assert a.revision == "openai-api:api.openai.com/v1:text-embedding-3-small:native"
    assert len({a.revision, b.revision, c.revision}) == 3 and b.dim == 256
    copy = pickle.loads(pickle.dumps(b))  # cheap and picklable, for worker processes
    assert copy.revision == b.revision and copy.count(["hello world"]) == [2]


@pytest.mark.integration
@pytest.mark.slow
def test_cli_ingest_and_search_through_the_remote_embedder(server, faults, tmp_path):
    """The CLI path: spec from --embedder, server from RAGLINE_EMBED_BASE_URL, key from env."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGLINE_EMBED_BASE_URL": server.base_url,
           "RAGLINE_EMBED_API_KEY_ENV": "TEST_EMBED_KEY", "TEST_EMBED_KEY": "sk-cli"}
    store = f"local:{tmp_path / 'store'}"

    def ragline(*args: str) -> dict | list:
        result = subprocess.run([sys.executable, "-m", "ragline.cli", *args, "--store", store,
                                 "--json"], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    faults(max_inputs=4, rate_limit={"count": 1, "retry_after": "0.1"})
    report = ragline("ingest", str(FIXTURES / "good"), "--embedder", "openai:test-embed")
    assert not report["failed"] and report["chunks_written"] == report["chunks_embedded"] > 10
    hits = ragline("search", "the zen of python", "--mode", "dense", "-k", "3")  # reopens from the store
    assert len(hits) == 3
    log = server.requests_log()
    assert {e["authorization"] for e in log} == {"Bearer sk-cli"} and 413 in {e["status"] for e in log}
    assert sum(len(e["inputs"]) for e in log if e["status"] == 200) == report["chunks_embedded"] + 1


# ----- secrets in error bodies ----------------------------------------------------------------
KEY = "sk-live-Zq8Xw2Vb6Nm4Lk0Jh1Gf3Ds5"


def test_a_key_echoed_by_the_server_is_redacted_from_the_error(server, faults, make_client, monkeypatch):
    monkeypatch.setenv("SECRET_EMBED_KEY", KEY)
    faults(reject_key={"count": 1})
    with pytest.raises(EmbedError) as raised:
        make_client(api_key_env="SECRET_EMBED_KEY").embed(["a"])
    message = str(raised.value)
    assert "HTTP 401" in message and "Incorrect API key provided: [REDACTED]" in message
    assert KEY not in message and KEY[:12] not in message and "Authorization: [REDACTED]" in message
    assert server.requests_log()[0]["authorization"] == f"Bearer {KEY}"  # the server did get it


def test_a_key_echoed_on_retries_never_reaches_the_report_ledger_or_dead_letters(server, faults, tmp_path,
                                                                                 monkeypatch):
    from ragline.engine import Engine

    monkeypatch.setenv("SECRET_EMBED_KEY", KEY)
    faults(reject_key={"count": 1000, "status": 503})  # retried until it gives up, then recorded
    embedder = open_embedder("openai:test-embed", base_url=server.base_url, api_key_env="SECRET_EMBED_KEY",
                             backoff_base=0.0, max_attempts=2, breaker_threshold=100)
    with Engine.open(f"local:{tmp_path / 'store'}", embedder=embedder) as engine:
        report = engine.ingest([FIXTURES / "good" / "bsd-license.txt"])
        dead = engine.ledger.dead_letters()
        stored = "\n".join(str(row) for row in engine.store.db.execute("SELECT * FROM dead_letter"))
    assert report.failed and dead
    everything = " ".join(f.reason for f in report.failed) + str(report.to_dict()) + stored + str(dead)
    assert KEY not in everything and KEY[:12] not in everything and "[REDACTED]" in everything
