"""A streaming client for any OpenAI-compatible ``POST {base_url}/chat/completions`` server
(OpenAI, vLLM, llama.cpp's server, TGI, Ollama's OpenAI API), for answers with citations.

    llm = open_llm("openai:gpt-4o-mini")                       # key from $OPENAI_API_KEY
    llm = open_llm("openai:local", base_url="http://127.0.0.1:8000/v1")
    for piece in llm.stream([{"role": "user", "content": "Hello"}]): print(piece, end="")

Settings resolve as the remote embedder's do: arguments > ``RAGLINE_LLM_<FIELD>`` > default, and
``OPENAI_BASE_URL`` when no base URL is given. The key is never a field or an argument: it is read
from the environment variable named by ``api_key_env`` when the HTTP client is built, and it is
redacted (``ragline.redact``) from everything a server answers before that text becomes an error.

Failures before the first token are retried with full-jitter backoff (429 honours
``Retry-After``; 5xx, timeouts and connection errors too); a circuit breaker fails fast while the
server keeps failing. A stream that breaks after tokens went out cannot be retried invisibly,
so it ends in an ``LLMError`` with code ``llm_stream_broken``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from ragline.embed._resilience import (
    CircuitBreaker,
    CircuitOpenError,
    base_url_problem,
    client_options,
    retry_after_seconds,
)
from ragline.errors import ConfigError, LLMError
from ragline.redact import redact

ENV_PREFIX = "RAGLINE_LLM_"
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
Message = dict[str, str]


@dataclass(frozen=True)
class LLMConfig:
    """Every knob of the chat client. The API key is never a field (see the module docstring)."""

    model: str
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int | None = 512         # answer length cap sent to the server (None: server default)
    timeout: float = 60.0                # seconds to wait for each read (first token included)
    connect_timeout: float = 5.0
    max_attempts: int = 4                # per call, first try included; only before the first token
    backoff_base: float = 0.5            # full-jitter exponential backoff: U(0, base * 2^attempt)
    backoff_max: float = 20.0
    max_retry_after: float = 30.0        # a longer Retry-After fails now rather than holding a request
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(f"llm: {message}")

        need(bool(self.model), "no model: use 'openai:MODEL', e.g. 'openai:gpt-4o-mini'")
        problem = base_url_problem(self.base_url, self.api_key_env)
        need(problem is None, problem or "")
        need(0.0 <= self.temperature <= 2.0, "temperature must be in [0, 2]")
        need(self.max_tokens is None or self.max_tokens >= 1, "max_tokens must be >= 1")
        need(self.timeout > 0 and self.connect_timeout > 0, "timeouts must be > 0")
        need(self.max_attempts >= 1, "max_attempts must be >= 1")
        need(self.backoff_base >= 0 and self.backoff_max >= 0 and self.max_retry_after >= 0,
             "backoff times must be >= 0")
        need(self.breaker_threshold >= 1 and self.breaker_cooldown >= 0,
             "breaker_threshold must be >= 1 and breaker_cooldown >= 0")

    @classmethod
    def resolve(cls, model: str = "", **options: Any) -> LLMConfig:
        return cls(**client_options(cls, model, options, env_prefix=ENV_PREFIX, what="llm",
                                    env_fallbacks={"base_url": "OPENAI_BASE_URL"}))


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("prompt_tokens", self.prompt_tokens),
                                  ("completion_tokens", self.completion_tokens)) if v is not None}


class _Retry(Exception):
    """One attempt failed in a way worth another (before any token went out)."""

    def __init__(self, code: str, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.code, self.reason, self.wait = code, reason, wait


class ChatClient:
    """Streaming chat completions over httpx. Cheap to build; the HTTP client starts on first
    use and ``close()`` stops it. Thread-safe: one client serves many concurrent answers."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self.model = config.model
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        parts = urlsplit(config.base_url)
        self.server = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown, name=self.server)
        self._client: Any = None
        self._lock = threading.Lock()
        self._random = random.Random()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0}
        self.last_usage = Usage()

    def __repr__(self) -> str:
        return f"ChatClient(model={self.model!r}, url={self.url!r})"

    def describe(self) -> dict[str, Any]:
        """The resolved configuration; no secret is a field, so all of it may be shown."""
        return {f.name: getattr(self.config, f.name) for f in fields(self.config)} | {"url": self.url}

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- public -------------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]:
        """The answer's text, piece by piece as the server streams it. ``usage`` (if given) is
        filled in from the stream's final usage report when the server sends one."""
        payload: dict[str, Any] = {"model": self.model, "messages": list(messages), "stream": True,
                                   "temperature": self.config.temperature,
                                   "stream_options": {"include_usage": True}}
        if self.config.max_tokens is not None:
            payload["max_tokens"] = self.config.max_tokens
        usage = usage if usage is not None else Usage()
        last: _Retry | None = None
        for attempt in range(self.config.max_attempts):
            if attempt:
                self._count("retries")
                assert last is not None
                time.sleep(last.wait if last.wait is not None else self._backoff(attempt))
            try:
                self.breaker.before_call()
            except CircuitOpenError as exc:
                raise LLMError("llm_unavailable", self._redact(str(exc))) from None
            started = False
            try:
                for piece in self._attempt(payload, usage):
                    started = True
                    yield piece
                return
            except _Retry as retry:
                if started:  # cannot happen: _attempt only retries before its first piece
                    raise LLMError("llm_stream_broken", retry.reason) from None
                last = retry
                if retry.wait is not None and retry.wait > self.config.max_retry_after:
                    break
        assert last is not None
        raise LLMError(last.code, f"{self.url}: gave up after {self.config.max_attempts} attempt(s) "
                                  f"(last: {last.reason})")

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole answer at once (the same streamed request, collected)."""
        return "".join(self.stream(messages))

    # ----- internals ----------------------------------------------------------------------
    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                headers = {"User-Agent": "ragline", "Accept": "text/event-stream"}
                key = os.environ.get(self.config.api_key_env)
                if key:
                    headers["Authorization"] = f"Bearer {key}"
                timeout = httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout)
                self._client = httpx.Client(headers=headers, timeout=timeout)
            return self._client

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _backoff(self, attempt: int) -> float:
        return self._random.uniform(0, min(self.config.backoff_max, self.config.backoff_base * 2 ** attempt))

    def _redact(self, text: str) -> str:
        return redact(text, [os.environ.get(self.config.api_key_env)])

    def _attempt(self, payload: dict[str, Any], usage: Usage) -> Iterator[str]:
        """One request. Raises ``_Retry`` before its first piece, ``LLMError`` for good."""
        import httpx

        self._count("requests")
        sent_any = False
        try:
            with self._http().stream("POST", self.url, json=payload) as response:
                status = response.status_code
                if status != 200:
                    response.read()
                    self._refused(response)
                self.breaker.on_success()
                for event in _sse_data(response.iter_lines()):
                    if event == "[DONE]":
                        return
                    piece = self._piece(event, usage)
                    if piece:
                        sent_any = True
                        yield piece
            # A stream that ends without [DONE] is still complete when the server closed it
            # cleanly after a finish_reason (some servers omit [DONE]).
        except httpx.TimeoutException as exc:
            reason = f"timeout after {self.config.timeout:g} s ({type(exc).__name__})"
            self.breaker.on_failure(reason)
            if sent_any:
                raise LLMError("llm_stream_broken", f"{self.url}: the stream stalled: {reason}") from None
            raise _Retry("llm_timeout", reason) from None
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {self._redact(str(exc))}"
            self.breaker.on_failure(reason)
            if sent_any:
                raise LLMError("llm_stream_broken", f"{self.url}: the stream broke off: {reason}") from None
            raise _Retry("llm_unavailable", f"connection error ({reason})") from None

    def _refused(self, response: Any) -> None:
        status = response.status_code
        reason = f"HTTP {status}: {_snippet(response.text, self._redact)}"
        if status >= 500 or status == 408:
            self.breaker.on_failure(reason)
        else:
            self.breaker.on_success()
        if status == 429:
            raise _Retry("llm_rate_limited", reason, retry_after_seconds(response.headers))
        if status in RETRYABLE_STATUS:
            raise _Retry("llm_unavailable", reason, retry_after_seconds(response.headers))
        hint = ""
        if status in (401, 403):
            hint = f" (is the key in ${self.config.api_key_env} right for {self.config.base_url}?)"
        elif status == 404:
            hint = f" (is base_url {self.config.base_url!r} right, and does it serve model {self.model!r}?)"
        raise LLMError("llm_refused", f"{self.url} refused the request with {reason}{hint}")

    def _piece(self, event: str, usage: Usage) -> str:
        try:
            body = json.loads(event)
        except ValueError:
            raise LLMError("llm_bad_response", f"{self.url} sent a stream event that is not JSON: "
                                               f"{_snippet(event, self._redact)}") from None
        if not isinstance(body, dict):
            raise LLMError("llm_bad_response", f"{self.url} sent a stream event that is not an object")
        if "error" in body:
            raise LLMError("llm_error", f"{self.url} reported an error mid-stream: "
                                        f"{_snippet(json.dumps(body['error']), self._redact)}")
        reported = body.get("usage")
        if isinstance(reported, dict):
            usage.prompt_tokens = reported.get("prompt_tokens", usage.prompt_tokens)
            usage.completion_tokens = reported.get("completion_tokens", usage.completion_tokens)
            with self._lock:
                self.last_usage = usage
        choices = body.get("choices") or []
        if not choices:
            return ""
        delta = choices[0].get("delta") or choices[0].get("message") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` payload of each server-sent event (multi-line data joined by newlines)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _snippet(text: str, clean: Any = redact, limit: int = 200) -> str:
    """The start of a body, redacted *before* it is cut (a key cut in two is not recognised)."""
    text = clean(" ".join(text[:64 * 1024].split()))
    return text[:limit] + ("..." if len(text) > limit else "")


def open_llm(spec: str, **options: Any) -> ChatClient:
    """``openai:MODEL`` -> a ``ChatClient`` (options: ``LLMConfig`` fields, e.g. ``base_url``)."""
    scheme, sep, model = spec.partition(":")
    if not sep or scheme != "openai" or not model:
        raise ConfigError(f"unknown llm {spec!r}: use 'openai:MODEL' (any OpenAI-compatible "
                          "chat-completions server; --llm-base-url points at it)")
    return ChatClient(LLMConfig.resolve(model, **options))


__all__ = ["ChatClient", "LLMConfig", "Message", "Usage", "open_llm"]
