"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` server (OpenAI, TEI, vLLM,
Infinity), with rate limiting, adaptive concurrency, retries, 413 splitting and a circuit breaker.
Whatever a server answers is redacted (``ragline.redact``: the key sent, key-like values) before
it becomes part of an error, so no key reaches a terminal, a dead letter or a log.

    embedder = open_embedder("openai:text-embedding-3-small")     # key from $OPENAI_API_KEY
    embedder = RemoteEmbedder(RemoteConfig.resolve("bge-small", base_url="http://127.0.0.1:8080/v1"))

Chunking needs token counts and offsets before anything is sent, so they come from a *local*
tokenizer (by default the shipped all-MiniLM-L6-v2 one, or ``tokenizer=`` a model name/path). For
another remote model this approximates its tokenization: chunk sizes and the tokens/min budget
are estimates, corrected by the ``usage`` the server reports.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ragline.embed._resilience import (
    AimdConcurrency,
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    base_url_problem,
    client_options,
    retry_after_seconds,
)
from ragline.embed.base import l2_normalise
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.embed.tokenizer import ModelTokenizer, UsesModelTokenizer
from ragline.errors import ConfigError, EmbedError
from ragline.redact import redact

ENV_PREFIX = "RAGLINE_EMBED_"
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class RemoteConfig:
    """Every knob of the remote embedder. Resolution: arguments > ``RAGLINE_EMBED_<FIELD>`` > default.

    The API key is never a field: it is read, when the client is built, from the environment
    variable named by ``api_key_env`` (no key: no ``Authorization`` header, fine for local servers).
    """

    model: str
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    dimensions: int | None = None         # sent as "dimensions" (OpenAI text-embedding-3 models)
    tokenizer: str = DEFAULT_MODEL        # local tokenizer for counts/offsets (an approximation)
    max_tokens: int | None = None         # chunk limit; default: the local tokenizer model's
    requests_per_minute: float | None = None  # None: only the server's rate-limit headers apply
    tokens_per_minute: float | None = None
    max_inputs_per_request: int = 32     # TEI's default client batch limit; OpenAI allows 2048
    request_tokens: int = 8192           # token budget of one request
    concurrency: int = 4                 # initial requests in flight (AIMD moves it)
    max_concurrency: int = 16
    timeout: float = 60.0                # seconds per request
    max_attempts: int = 6                # per request, first try included
    backoff_base: float = 0.5            # full-jitter exponential backoff: U(0, base * 2^attempt)
    backoff_max: float = 20.0
    breaker_threshold: int = 5           # consecutive failures that open the circuit
    breaker_cooldown: float = 30.0       # seconds open before one trial request
    revision: str | None = None          # override the cache identity (default: host+model+dims)

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(f"remote embedder: {message}")

        need(bool(self.model), "no model: use 'openai:MODEL', e.g. 'openai:text-embedding-3-small'")
        problem = base_url_problem(self.base_url, self.api_key_env)
        need(problem is None, problem or "")
        need(self.dimensions is None or self.dimensions > 0, "dimensions must be > 0")
        need(self.max_inputs_per_request >= 1, "max_inputs_per_request must be >= 1")
        need(self.request_tokens >= 1, "request_tokens must be >= 1")
        need(1 <= self.concurrency <= self.max_concurrency,
             f"need 1 <= concurrency ({self.concurrency}) <= max_concurrency ({self.max_concurrency})")
        need(self.timeout > 0 and self.max_attempts >= 1, "timeout must be > 0 and max_attempts >= 1")
        need(self.backoff_base >= 0 and self.backoff_max >= 0, "backoff times must be >= 0")
        need(self.breaker_threshold >= 1 and self.breaker_cooldown >= 0,
             "breaker_threshold must be >= 1 and breaker_cooldown >= 0")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            need(value is None or value > 0, f"{name} must be > 0 (or unset for no limit)")

    @classmethod
    def resolve(cls, model: str = "", **options: Any) -> RemoteConfig:
        return cls(**client_options(cls, model, options, env_prefix=ENV_PREFIX, what="remote embedder"))


@dataclass
class _Outcome:
    """What one attempt taught the flow-control policies."""
    success: bool = False
    overload: bool = False
    reason: str = ""
    wait_hint: float | None = None


@dataclass
class _Split:
    """A 413 answer: send these index groups instead."""
    halves: tuple[list[int], list[int]]


class RemoteEmbedder(UsesModelTokenizer):
    """The ``Embedder`` protocol over HTTP. Construction is cheap and picklable; the HTTP client
    and the thread pool start on first use and ``close()`` stops them."""

    def __init__(self, config: RemoteConfig):
        self.config = config
        spec = resolve_model(config.tokenizer)
        self.model_id = config.model
        self.max_tokens = config.max_tokens or spec.max_tokens
        self.tokenizer = ModelTokenizer(spec.path, self.max_tokens)
        parts = urlsplit(config.base_url)
        self.url = config.base_url.rstrip("/") + "/embeddings"
        # Identity of the vector space for the embedding cache: where, which model, which size.
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self.server = f"{host}{parts.path.rstrip('/')}"
        self.revision = config.revision or (
            f"openai-api:{self.server}:{config.model}:{config.dimensions or 'native'}")
        self._dim = config.dimensions
        self._start()

    def _start(self) -> None:
        config = self.config
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.concurrency = AimdConcurrency(config.concurrency, config.max_concurrency)
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown,
                                      name=self.server)
        self.stats: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._random = random.Random()
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict:
        return {"config": self.config, "model_id": self.model_id, "max_tokens": self.max_tokens,
                "tokenizer": self.tokenizer, "url": self.url, "server": self.server,
                "revision": self.revision, "_dim": self._dim}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start()

    def __repr__(self) -> str:
        return f"RemoteEmbedder(model={self.model_id!r}, url={self.url!r})"

    # ----- the Embedder protocol (tokenizer methods: UsesModelTokenizer; the server receives
    # plain text, TokenizedText being a str) ---------------------------------------------
    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:  # (0, dim), not (0, 0): callers stack it with other rows (one probe if unknown)
            return np.zeros((0, self.dim), dtype=np.float32)
        counts = [max(1, n) for n in self.count(texts)]
        rows: list[np.ndarray | None] = [None] * len(texts)
        abort = threading.Event()
        pool = self._executor()
        pending = deque(self._plan(counts))
        running: dict[Future, list[int]] = {}
        try:
            while pending or running:
                while pending:
                    group = pending.popleft()
                    running[pool.submit(self._send, texts, group, counts, abort)] = group
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    group = running.pop(future)
                    result = future.result()  # an EmbedError ends the whole call
                    if isinstance(result, _Split):
                        self._count("splits")
                        pending.extend(result.halves)
                        continue
                    for position, vector in zip(group, result):
                        if rows[position] is not None:
                            raise EmbedError(f"input {position} was answered twice")
                        rows[position] = vector
        except BaseException:
            abort.set()
            for future in running:
                future.cancel()
            raise
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            raise EmbedError(f"no vector came back for inputs {missing[:10]}")
        return l2_normalise(np.vstack(rows).astype(np.float32))  # type: ignore[arg-type]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RemoteEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- internals ----------------------------------------------------------------------
    def _plan(self, counts: list[int]) -> list[list[int]]:
        """Sub-batches in input order, each within the request token budget and input cap."""
        groups: list[list[int]] = []
        current: list[int] = []
        tokens = 0
        for i, n in enumerate(counts):
            if current and (tokens + n > self.config.request_tokens
                            or len(current) >= self.config.max_inputs_per_request):
                groups.append(current)
                current, tokens = [], 0
            current.append(i)
            tokens += n
        if current:
            groups.append(current)
        return groups

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.max_concurrency,
                                                thread_name_prefix="ragline-remote")
            return self._pool

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError as exc:
                    raise EmbedError("the remote embedder needs httpx: pip install httpx") from exc
                headers = {"User-Agent": "ragline"}
                key = os.environ.get(self.config.api_key_env)
                if key:
                    headers["Authorization"] = f"Bearer {key}"
                n = self.config.max_concurrency
                self._client = httpx.Client(
                    headers=headers, timeout=self.config.timeout,
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
            return self._client

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[name] += amount

    def _backoff(self, attempt: int) -> float:
        return self._random.uniform(0, min(self.config.backoff_max,
                                           self.config.backoff_base * 2 ** attempt))

    def _send(self, texts: list[str], group: list[int], counts: list[int],
              abort: threading.Event) -> np.ndarray | _Split:
        """One sub-batch, retried until it succeeds, splits, fails for good or the call aborts."""
        tokens = sum(counts[i] for i in group)
        payload: dict[str, Any] = {"model": self.config.model, "input": [texts[i] for i in group],
                                   "encoding_format": "float"}
        if self.config.dimensions:
            payload["dimensions"] = self.config.dimensions
        last = ""
        for attempt in range(self.config.max_attempts):
            if attempt:
                self._count("retries")
            # Slot first, then rate: a request waiting for its slot must still see a pause that
            # the answer it waited for asked for.
            ticket = self.concurrency.acquire(abort)
            if ticket is None:
                raise EmbedError("aborted: another request of this embed call failed")
            outcome = _Outcome()
            try:
                self.limiter.acquire(tokens, abort)
                if abort.is_set():
                    raise EmbedError("aborted: another request of this embed call failed")
                self.breaker.before_call()
                try:
                    result = self._attempt(payload, texts, group, counts, tokens, outcome)
                except CircuitOpenError:
                    raise
                except BaseException:
                    self.breaker.on_neutral()  # a half-open trial must not stay taken
                    raise
            finally:
                self.concurrency.release(ticket, success=outcome.success, overload=outcome.overload)
            if result is not None:
                return result
            last = outcome.reason
            if attempt + 1 < self.config.max_attempts:
                # A server hint holds back every sender (the limiter sees it); so does a pause the
                # rate-limit headers asked for; otherwise back off with jitter.
                if outcome.wait_hint is not None:
                    self._count("server_waits")  # the pause is set; acquire() will wait it out
                elif self.limiter.paused_for() <= 0:
                    time.sleep(self._backoff(attempt))
        raise EmbedError(f"{self.url}: gave up on {len(group)} inputs after "
                         f"{self.config.max_attempts} attempts (last: {last})")

    def _attempt(self, payload: dict[str, Any], texts: list[str], group: list[int],
                 counts: list[int], tokens: int, outcome: _Outcome) -> np.ndarray | _Split | None:
        """One HTTP request. Returns vectors, a split, or None for "retry" (reason in outcome)."""
        import httpx

        self._count("requests")
        try:
            response = self._http().post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            outcome.overload = True
            outcome.reason = f"timeout after {self.config.timeout:g} s ({type(exc).__name__})"
            self.breaker.on_failure(outcome.reason)
            return None
        except httpx.TransportError as exc:
            outcome.reason = f"connection error ({type(exc).__name__}: {self._redact(str(exc))})"
            self.breaker.on_failure(outcome.reason)
            return None
        status = response.status_code
        with self._lock:
            self.statuses[status] += 1
        self.limiter.observe(response.headers)
        if status == 200:
            self.breaker.on_success()
            vectors, usage = self._parse(response, len(group))
            if usage is not None:
                self.limiter.observe({}, actual_tokens=usage, estimated_tokens=tokens)
            outcome.success = True
            return vectors
        outcome.reason = f"HTTP {status}: {_snippet(response, self._redact)}"
        if status >= 500 or status == 408:
            self.breaker.on_failure(outcome.reason)
        else:
            self.breaker.on_success()  # the server is up; the answer is about this request
        if status == 413:
            if len(group) == 1:
                i = group[0]
                raise EmbedError(
                    f"input {i} ({counts[i]} tokens, {len(texts[i])} chars: {texts[i][:60]!r}...) "
                    f"is too large for {self.url} even alone ({outcome.reason}); lower max_tokens")
            middle = len(group) // 2
            return _Split((group[:middle], group[middle:]))
        if status not in RETRYABLE_STATUS:
            raise EmbedError(f"{self.url} refused the request with {outcome.reason}"
                             + _hint(status, self.config))
        outcome.overload = status == 429
        outcome.wait_hint = retry_after_seconds(response.headers)
        if outcome.wait_hint is not None:
            # Set while this request still holds its slot, so no queued sender slips past it.
            self.limiter.pause(outcome.wait_hint)
        return None

    def _parse(self, response: Any, expected: int) -> tuple[np.ndarray, int | None]:
        """Vectors in request order (by each item's ``index``), validated for count and size."""
        try:
            body = response.json()
            items = body["data"]
            by_index = {int(item["index"]): item["embedding"] for item in items}
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedError(f"{self.url} sent a malformed embeddings response "
                             f"({type(exc).__name__}): {_snippet(response, self._redact)}") from None
        if len(items) != expected or sorted(by_index) != list(range(expected)):
            raise EmbedError(f"{self.url} answered {len(items)} embeddings with indices "
                             f"{sorted(by_index)[:10]} for {expected} inputs")
        vectors = np.asarray([by_index[i] for i in range(expected)], dtype=np.float32)
        if vectors.ndim != 2:
            raise EmbedError(f"{self.url} sent embeddings of unequal or non-numeric size")
        with self._lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
        if vectors.shape[1] != self._dim:
            raise EmbedError(f"{self.url} sent {vectors.shape[1]}-d vectors; expected {self._dim}-d "
                             f"(set dimensions= to the model's size)")
        if not np.isfinite(vectors).all():
            raise EmbedError(f"{self.url} sent non-finite values in an embedding")
        usage = body.get("usage") if isinstance(body, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return vectors, int(tokens) if isinstance(tokens, int) else None

    def _redact(self, text: str) -> str:
        """Server text without secrets: the key this client sends, and anything key-like."""
        return redact(text, [os.environ.get(self.config.api_key_env)])

    def describe(self) -> dict[str, Any]:
        """The resolved configuration (no secrets: the key is never a field)."""
        return {**asdict(self.config), "url": self.url, "revision": self.revision}


def _snippet(response: Any, clean: Any = redact, limit: int = 200) -> str:
    """The start of a response body, redacted by ``clean`` *before* it is cut (a key cut in two
    would no longer be recognised)."""
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - a body that cannot be decoded is still an answer
        return "<unreadable body>"
    text = clean(" ".join(text[:64 * 1024].split()))
    return text[:limit] + ("..." if len(text) > limit else "")


def _hint(status: int, config: RemoteConfig) -> str:
    if status in (401, 403):
        return f" (is the key in ${config.api_key_env} right for {config.base_url}?)"
    if status == 404:
        return f" (is base_url {config.base_url!r} right, and does it serve model {config.model!r}?)"
    return ""
