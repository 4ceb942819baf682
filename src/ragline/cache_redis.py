"""Query caches shared through Redis, so several server workers (or servers) reuse each other's
results and query embeddings.

    engine = Engine.open("local:./data", cache="redis://127.0.0.1:6379/0?ttl=600")
    results, vectors = engine.results, engine.query_vectors      # RedisResultCache, RedisQueryVectorCache

URI: ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``) with optional query
parameters ``ttl`` (seconds an entry lives, default 3600), ``prefix`` (key prefix, default
``ragline``), ``timeout`` (seconds per Redis call, default 0.25) and ``vectors=0`` (share results
only; query embeddings stay in an in-process LRU).

Keys are SHA-256 digests of everything that can change the answer: for results the engine's
key (namespace, query, mode, k, filter, rerank, tuning, model id and revision, and the store's
data generation) plus the store's identity (a random id kept in its state), so a write to the
store moves every later search to new keys exactly as the in-process ``ResultCache`` does; old
entries simply expire. For query vectors: model id, revision, kind and text.

Values never carry pickles (a shared cache is an input from the network): hits are JSON, vectors
raw little-endian float32 bytes; anything that does not decode is a miss. Redis being down or
slow is never a search error: the call is bypassed, counted (``ragline_cache_errors_total`` and a
miss), and a breaker skips Redis for ``cooldown`` seconds before trying it again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np

from ragline import metrics
from ragline.caches import QueryVectorCache, ResultCache
from ragline.embed._resilience import CircuitBreaker, CircuitOpenError
from ragline.errors import ConfigError
from ragline.records import Chunk, Hit
from ragline.redact import redact

SCHEMES = ("redis", "rediss", "unix")
_FORMAT = 1  # bump when the JSON layout of hits changes: old entries become misses


class SharedRedis:
    """One connection pool and one breaker, shared by both caches of an engine."""

    def __init__(self, uri: str, *, cooldown: float = 5.0):
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES:
            raise ConfigError(f"cache URI {redact(uri)!r}: use redis://host:port/db (or rediss://, unix://)")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        known = {"ttl", "prefix", "timeout", "vectors"}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"cache URI: unknown option(s) {sorted(unknown)}; valid: {sorted(known)}")
        try:
            self.ttl = int(options.get("ttl", 3600))
            self.timeout = float(options.get("timeout", 0.25))
        except ValueError as exc:
            raise ConfigError(f"cache URI: ttl must be whole seconds and timeout seconds ({exc})") from None
        if self.ttl < 1 or self.timeout <= 0:
            raise ConfigError("cache URI: ttl must be >= 1 and timeout > 0")
        self.prefix = options.get("prefix", "ragline")
        self.share_vectors = options.get("vectors", "1") not in ("0", "false", "no")
        rest = {k: v for k, v in parse_qs(parts.query).items() if k not in known}
        self.url = urlunsplit(parts._replace(query=urlencode(rest, doseq=True)))
        self.shown = redact(urlunsplit(parts._replace(netloc=parts.hostname or parts.netloc, query="")))
        self.breaker = CircuitBreaker(1, cooldown, name=f"cache {self.shown}")
        self._client: Any = None
        self._lock = threading.Lock()
        self.errors = 0
        self.last_error = ""

    def __repr__(self) -> str:
        return f"SharedRedis({self.shown!r}, ttl={self.ttl})"

    def _redis(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import redis
                except ImportError as exc:
                    raise ConfigError("a redis:// cache needs the redis client: pip install 'ragline[redis]'") \
                        from exc
                self._client = redis.Redis.from_url(self.url, socket_timeout=self.timeout,
                                                    socket_connect_timeout=self.timeout, retry_on_timeout=False)
            return self._client

    def call(self, cache: str, operation: Callable[[Any], Any]) -> tuple[bool, Any]:
        """(True, result) or, when Redis failed or the breaker is open, (False, None), counted."""
        try:
            self.breaker.before_call()
        except CircuitOpenError:
            self._failed(cache, "skipped: breaker open")
            return False, None
        try:
            result = operation(self._redis())
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any client failure means "no cache", never an error
            reason = f"{type(exc).__name__}: {redact(str(exc))}"
            self.breaker.on_failure(reason)
            self._failed(cache, reason)
            return False, None
        self.breaker.on_success()
        return True, result

    def _failed(self, cache: str, reason: str) -> None:
        metrics.CACHE_ERRORS.labels(cache=cache).inc()
        with self._lock:
            self.errors += 1
            self.last_error = reason

    def key(self, kind: str, parts: Hashable) -> str:
        return f"{self.prefix}:{kind}:{hashlib.sha256(repr(parts).encode()).hexdigest()}"

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class RedisResultCache(ResultCache):
    """``ResultCache`` over Redis: same ``lookup``/``remember``, shared by every engine on it."""

    metric = "result"

    def __init__(self, shared: SharedRedis, scope: str):
        super().__init__(0)
        self.maxsize = 1  # "on": Engine.search consults a cache whose maxsize is set
        self.shared, self.scope = shared, scope
        self._last = threading.local()

    def lookup(self, key: Hashable) -> list[Hit] | None:
        ok, raw = self.shared.call("result", lambda r: r.get(self.shared.key("result", (self.scope, key))))
        hits = _decode_hits(raw) if ok and raw is not None else None
        self._count(hits is not None)
        return hits

    def remember(self, key: Hashable, hits: Sequence[Hit]) -> list[Hit]:
        payload = _encode_hits(hits)
        redis_key = self.shared.key("result", (self.scope, key))
        self.shared.call("result", lambda r: r.set(redis_key, payload, ex=self.shared.ttl))
        return list(hits)

    def last_was_hit(self) -> bool:
        """Whether this thread's last lookup was a hit (a server's ``cached`` flag)."""
        return bool(getattr(self._last, "hit", False))

    def forget_last(self) -> None:
        self._last.hit = False

    def _count(self, hit: bool) -> None:
        self._last.hit = hit
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1
        metrics.record_cache(self.metric, hit)

    def clear(self) -> None:
        """Entries expire by TTL and are keyed by generation: nothing to clear by hand."""

    def close(self) -> None:
        self.shared.close()

    def stats(self, prefix: str) -> dict[str, Any]:
        return _shared_stats(self, prefix)


class RedisQueryVectorCache(QueryVectorCache):
    """Query embeddings in Redis as float32 bytes, keyed by model id, revision, kind and text."""

    metric = "query_vector"

    def __init__(self, shared: SharedRedis):
        super().__init__(0)
        self.maxsize = 1
        self.shared = shared

    def get_or_compute(self, key: tuple[str, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
        redis_key = self.shared.key("qvec", key)
        ok, raw = self.shared.call("query_vector", lambda r: r.get(redis_key))
        value = _decode_vector(raw) if ok and raw is not None else None
        with self._lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        metrics.record_cache(self.metric, value is not None)
        if value is None:
            value = np.array(compute(), dtype=np.float32)
            encoded = value.astype("<f4").tobytes()
            self.shared.call("query_vector", lambda r: r.set(redis_key, encoded, ex=self.shared.ttl))
        value.flags.writeable = False
        return value

    def clear(self) -> None:
        """Entries expire by TTL; model changes use new keys."""

    def close(self) -> None:
        self.shared.close()

    def stats(self, prefix: str) -> dict[str, Any]:
        return _shared_stats(self, prefix)


def _shared_stats(cache: Any, prefix: str) -> dict[str, Any]:
    with cache._lock:
        looked_up = cache.hits + cache.misses
        return {f"{prefix}_hits": cache.hits, f"{prefix}_misses": cache.misses,
                f"{prefix}_hit_rate": round(cache.hits / looked_up, 4) if looked_up else 0.0,
                f"{prefix}_backend": cache.shared.shown, f"{prefix}_ttl_s": cache.shared.ttl,
                f"{prefix}_errors": cache.shared.errors}


# ----- values: JSON hits, raw float32 vectors --------------------------------------------------
def _encode_hits(hits: Sequence[Hit]) -> bytes:
    rows = []
    for hit in hits:
        c = hit.chunk
        rows.append({"chunk": [c.chunk_id, c.doc_id, c.index, c.text, c.start, c.end, c.token_count,
                               c.content_hash, c.metadata],
                     "score": hit.score, "uri": hit.uri, "ranks": hit.ranks, "doc_score": hit.doc_score,
                     "doc_matches": [list(m) for m in hit.doc_matches]})
    return json.dumps({"format": _FORMAT, "hits": rows}, ensure_ascii=False, default=str).encode()


def _decode_hits(raw: bytes) -> list[Hit] | None:
    try:
        body = json.loads(raw)
        if body.get("format") != _FORMAT:
            return None
        hits = []
        for row in body["hits"]:
            chunk_id, doc_id, index, text, start, end, tokens, content_hash, metadata = row["chunk"]
            if not (isinstance(text, str) and isinstance(metadata, dict)):
                return None
            chunk = Chunk(str(chunk_id), str(doc_id), int(index), text, int(start), int(end), int(tokens),
                          str(content_hash), metadata)
            ranks = {str(k): int(v) for k, v in row["ranks"].items()}
            doc_score = None if row["doc_score"] is None else float(row["doc_score"])
            matches = tuple((str(m[0]), float(m[1])) for m in row["doc_matches"])
            hits.append(Hit(chunk, float(row["score"]), str(row["uri"]), ranks, None, doc_score, matches))
        return hits
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # not ours, or from another version: a miss, never an error


def _decode_vector(raw: bytes) -> np.ndarray | None:
    if not isinstance(raw, bytes) or not raw or len(raw) % 4:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return vector if np.isfinite(vector).all() else None


def open_shared_caches(uri: str, scope: str, query_cache_size: int = 1024) -> tuple[QueryVectorCache, ResultCache]:
    """The query-vector and result caches for ``cache=uri``. With ``vectors=0`` in the URI the
    query vectors stay in an in-process LRU of ``query_cache_size`` entries."""
    shared = SharedRedis(uri)
    vectors = RedisQueryVectorCache(shared) if shared.share_vectors else QueryVectorCache(query_cache_size)
    return vectors, RedisResultCache(shared, scope)


__all__ = ["RedisQueryVectorCache", "RedisResultCache", "SharedRedis", "open_shared_caches"]
