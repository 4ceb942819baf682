"""Flow control for remote embedding APIs: rate limits, adaptive concurrency, a circuit breaker.

    limiter = RateLimiter(requests_per_minute=3000, tokens_per_minute=1_000_000)
    limiter.acquire(tokens=812); ...; limiter.observe(response.headers)

Pure policy objects with an injectable clock: they know nothing about HTTP beyond the names of
the rate-limit headers, so each is tested on its own with a fake clock. Also what both
OpenAI-compatible clients (this embedder, ``ragline.llm``) check and read the same way: the
base URL (``base_url_problem``) and their options (``client_options``).
"""

from __future__ import annotations

import enum
import os
import re
import threading
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from ragline.errors import ConfigError, EmbedError

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# Go's time.Duration format, which OpenAI uses in x-ratelimit-reset-*: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | None) -> float | None:
    """Seconds in an OpenAI reset header (Go duration, or a bare number of seconds); None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def base_url_problem(base_url: str, api_key_env: str) -> str | None:
    """What is wrong with an OpenAI-compatible ``base_url`` (None when it is usable): shared by the
    remote embedder and the chat client, so both refuse the same URLs with the same words."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"base_url {base_url!r} must look like https://host[:port]/v1"
    if parts.username is not None or parts.password is not None:
        return ("base_url must not carry credentials; put the key in the environment variable "
                f"named by api_key_env ({api_key_env})")
    return None


def client_options(config: type, model: str, options: Mapping[str, Any], *, env_prefix: str, what: str,
                   env_fallbacks: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The field values of an OpenAI-compatible client's config dataclass (the remote embedder's,
    the chat client's): each from ``options``, else ``<env_prefix><FIELD>``, else the variable
    ``env_fallbacks`` names, converted to the field's type; unknown options and an ``api_key``
    are refused (the key only ever comes from the environment)."""
    if "api_key" in options:
        raise ConfigError("the API key is never an argument: export it in the environment variable "
                          "named by api_key_env (default OPENAI_API_KEY)")
    hints = typing.get_type_hints(config)
    known = {f.name for f in fields(config)}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {sorted(unknown)}; valid: {sorted(known - {'model'})}")
    values: dict[str, Any] = {"model": model or os.environ.get(env_prefix + "MODEL", "")}
    for name in sorted(known - {"model"}):
        raw = options.get(name)
        if raw is None or raw == "":
            raw = os.environ.get(env_prefix + name.upper())
        if (raw is None or raw == "") and name in (env_fallbacks or {}):
            raw = os.environ.get((env_fallbacks or {})[name])
        if raw is not None and raw != "":
            values[name] = _convert(what, name, raw, hints[name])
    return values


def _convert(what: str, name: str, raw: Any, hint: Any) -> Any:
    target = ([t for t in typing.get_args(hint) if t is not type(None)] or [hint])[0]
    try:
        return raw if isinstance(raw, target) else target(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} option {name}={raw!r} is not a valid {target.__name__}") from exc


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's wait hint: ``retry-after-ms`` (OpenAI) first, then ``Retry-After``."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class TokenBucket:
    """A per-minute budget that refills continuously; ``capacity=None`` means no client-side limit.

    The server's view wins: ``observe`` lowers the level to what the server says remains, adopts the
    server's limit when none was configured, and pauses until the reset when nothing remains.
    """

    def __init__(self, per_minute: float | None, clock: Clock = time.monotonic):
        if per_minute is not None and per_minute <= 0:
            raise ValueError("a per-minute limit must be > 0 (or None for no limit)")
        self.configured = per_minute is not None
        self.capacity = per_minute
        self.level = per_minute or 0.0
        self.clock = clock
        self.updated = clock()
        self.paused_until = 0.0

    def _refill(self, now: float) -> None:
        if self.capacity is not None:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.capacity / 60.0)
        self.updated = now

    def try_take(self, amount: float) -> float:
        """Take ``amount`` and return 0, or return the seconds to wait before trying again."""
        now = self.clock()
        self._refill(now)
        if now < self.paused_until:
            return self.paused_until - now
        if self.capacity is None:
            return 0.0
        # A request larger than the whole bucket goes through once the bucket is full.
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) * 60.0 / self.capacity

    def give_back(self, amount: float) -> None:
        """Correct an estimate (negative amount: the request cost more than estimated)."""
        if self.capacity is not None:
            self.level = min(self.capacity, self.level + amount)

    def observe(self, limit: float | None, remaining: float | None, reset: float | None) -> None:
        now = self.clock()
        self._refill(now)
        if limit is not None and limit > 0 and not self.configured:
            if self.capacity is None:
                self.level = limit if remaining is None else remaining
            self.capacity = limit
        if remaining is not None:
            if self.capacity is not None:
                self.level = min(self.level, remaining)
            if remaining < 1 and reset is not None:
                self.paused_until = max(self.paused_until, now + reset)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


class RateLimiter:
    """Two token buckets (requests/min, tokens/min) fed by the ``x-ratelimit-*`` headers."""

    def __init__(self, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, *,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.requests = TokenBucket(requests_per_minute, clock)
        self.tokens = TokenBucket(tokens_per_minute, clock)
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting here

    def acquire(self, tokens: int, abort: threading.Event | None = None) -> float:
        """Block until one request of ``tokens`` tokens may be sent; returns the seconds waited."""
        waited = 0.0
        for bucket, amount in ((self.requests, 1.0), (self.tokens, float(tokens))):
            while True:
                with self._lock:
                    wait = bucket.try_take(amount)
                if wait <= 0:
                    break
                if abort is not None and abort.is_set():
                    return waited
                # Sleep in slices so a pause set meanwhile (Retry-After) or an abort is seen.
                step = min(wait, 0.25)
                self.sleep(step)
                waited += step
        with self._lock:
            self.waited += waited
        return waited

    def observe(self, headers: Mapping[str, str], actual_tokens: int | None = None,
                estimated_tokens: int | None = None) -> None:
        with self._lock:
            for bucket, kind in ((self.requests, "requests"), (self.tokens, "tokens")):
                bucket.observe(_number(headers.get(f"x-ratelimit-limit-{kind}")),
                               _number(headers.get(f"x-ratelimit-remaining-{kind}")),
                               parse_duration(headers.get(f"x-ratelimit-reset-{kind}")))
            if actual_tokens is not None and estimated_tokens is not None:
                self.tokens.give_back(estimated_tokens - actual_tokens)

    def pause(self, seconds: float) -> None:
        """Hold every sender back, e.g. for a 429's Retry-After."""
        with self._lock:
            self.requests.pause(seconds)

    def paused_for(self) -> float:
        """Seconds until senders may go again (0 when not paused)."""
        with self._lock:
            now = self.clock()
            return max(0.0, self.requests.paused_until - now, self.tokens.paused_until - now)


@dataclass(frozen=True)
class Ticket:
    epoch: int


class AimdConcurrency:
    """Additive-increase / multiplicative-decrease bound on requests in flight.

    Halves on overload (429, timeout), grows by one after ``increase_after`` successes in a row.
    Overloads reported by requests that started before the last decrease are ignored, so a burst
    of 429s from one window halves once, not once per request (as TCP does per round trip).
    """

    def __init__(self, initial: int = 4, maximum: int = 16, minimum: int = 1,
                 increase_after: int = 8):
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        self.limit, self.minimum, self.maximum = initial, minimum, maximum
        self.increase_after = increase_after
        self.in_flight = 0
        self.streak = 0
        self.epoch = 0
        self.history: list[int] = [initial]  # every limit taken, in order
        self._cond = threading.Condition()

    def acquire(self, abort: threading.Event | None = None) -> Ticket | None:
        with self._cond:
            while self.in_flight >= self.limit:
                if abort is not None and abort.is_set():
                    return None
                self._cond.wait(0.25)
            self.in_flight += 1
            return Ticket(self.epoch)

    def release(self, ticket: Ticket, *, success: bool = False, overload: bool = False) -> None:
        with self._cond:
            self.in_flight -= 1
            if overload:
                self.streak = 0
                if ticket.epoch == self.epoch and self.limit > self.minimum:
                    self.limit = max(self.minimum, self.limit // 2)
                    self.history.append(self.limit)
                    self.epoch += 1
            elif success:
                self.streak += 1
                if self.streak >= self.increase_after and self.limit < self.maximum:
                    self.limit += 1
                    self.history.append(self.limit)
                    self.streak = 0
            self._cond.notify_all()


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpenError(EmbedError):
    """The circuit breaker is open: the call failed fast without reaching the server."""


class CircuitBreaker:
    """Closed → (``threshold`` consecutive failures) → open → (``cooldown`` s) → half-open.

    Half-open lets exactly one trial request through: its success closes the circuit, its failure
    opens it for another cooldown. While open, callers fail fast with a ``CircuitOpenError``.
    """

    def __init__(self, threshold: int = 5, cooldown: float = 30.0, *, name: str = "server",
                 clock: Clock = time.monotonic, wall_clock: Clock = time.time):
        if threshold < 1 or cooldown < 0:
            raise ValueError("breaker threshold must be >= 1 and cooldown >= 0")
        self.threshold, self.cooldown, self.name = threshold, cooldown, name
        self.clock, self.wall_clock = clock, wall_clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.last_failure = ""
        self.opened_at = 0.0
        self.probe_in_flight = False
        self.transitions: list[BreakerState] = [BreakerState.CLOSED]
        self._lock = threading.Lock()

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            self.transitions.append(state)

    def before_call(self) -> None:
        with self._lock:
            if self.state is BreakerState.OPEN:
                left = self.opened_at + self.cooldown - self.clock()
                if left > 0:
                    raise CircuitOpenError(self._why(left))
                self._set(BreakerState.HALF_OPEN)
            if self.state is BreakerState.HALF_OPEN:
                if self.probe_in_flight:
                    raise CircuitOpenError(self._why(0.0, probing=True))
                self.probe_in_flight = True

    def _why(self, left: float, probing: bool = False) -> str:
        retry = ("a trial request is in flight now" if probing else
                 f"it lets a trial request through at "
                 f"{time.strftime('%H:%M:%S', time.localtime(self.wall_clock() + left))} "
                 f"(in {left:.1f} s)")
        return (f"circuit breaker open for {self.name} after {self.failures} consecutive failures "
                f"(last: {self.last_failure}); failing fast, {retry}")

    def on_success(self) -> None:
        """The server answered (any answer that is not a server failure)."""
        with self._lock:
            self.failures = 0
            self.probe_in_flight = False
            self._set(BreakerState.CLOSED)

    def on_neutral(self) -> None:
        """The call ended without saying anything about the server's health (e.g. aborted)."""
        with self._lock:
            self.probe_in_flight = False

    def on_failure(self, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_failure = reason
            self.probe_in_flight = False
            if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._set(BreakerState.OPEN)
