"""API keys and the namespaces (tenants) they open, hashed at rest.

    keys = KeyRegistry(state, {"key1": "tenant-a"}, admin_key="...")
    key, record = keys.create("tenant-b", label="ci")      # the key is shown once, only its hash is kept
    keys.resolve(key)                                        # -> "tenant-b"

Keys created through the admin API are kept in the state backend's meta (a reserved namespace), so
every server sharing a PostgreSQL state sees the same keys; each server re-reads them every few
seconds, and on an unknown key (at most every ``refresh_s / 4``), so a new key works everywhere
within half a second and a revoked one stops within ``refresh_s``. Keys from settings live in
memory only. Only SHA-256 digests are compared: a key is 32 random bytes, so a plain digest
cannot be reversed or guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from typing import Any

from ragline.errors import ConfigError
from ragline.state.base import State

# The meta namespace that holds the keys: no tenant may be called this (or anything like it).
KEYS_NAMESPACE = "__ragline_serve__"
_KEYS_META = "api_keys"
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_tenant_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(f"namespace {namespace!r} is not allowed: use 1-64 letters, digits, '_', '.' "
                          "or '-', starting with a letter or digit")
    return namespace


class KeyRegistry:
    def __init__(self, state: State, configured: dict[str, str] | None = None, *,
                 admin_key: str | None = None, refresh_s: float = 2.0, clock: Any = time.monotonic):
        self._state = state
        self._configured = {digest(k): check_tenant_namespace(ns) for k, ns in (configured or {}).items()}
        self._admin = digest(admin_key) if admin_key else None
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stored: dict[str, dict[str, Any]] = {}
        self._read_at = float("-inf")

    # ----- lookups (every request) --------------------------------------------------------
    def is_admin(self, key: str) -> bool:
        return self._admin is not None and hmac.compare_digest(digest(key), self._admin)

    def resolve(self, key: str, *, reload: bool = True) -> str | None:
        """The namespace of ``key``, or None for an unknown (or revoked) key. ``reload=False``
        answers from memory only (no state read: what the event loop may call)."""
        hashed = digest(key)
        if hashed in self._configured:
            return self._configured[hashed]
        if reload and self._stale(hashed):
            self._reload()
        record = self._stored.get(hashed)
        return record["namespace"] if record else None

    def needs_reload(self, key: str) -> bool:
        """Whether ``resolve(key)`` would read the state first (so a caller on an event loop
        can do that on a thread instead)."""
        hashed = digest(key)
        return hashed not in self._configured and self._stale(hashed)

    def _stale(self, hashed: str) -> bool:
        # Re-read when stale; an unknown key re-reads too, at most 4x per refresh period, so a key
        # just created on another server works soon and random keys cannot hammer the state.
        age = self._clock() - self._read_at
        return age > self._refresh_s or (hashed not in self._stored and age > self._refresh_s / 4)

    # ----- administration -----------------------------------------------------------------
    def create(self, namespace: str, label: str = "") -> tuple[str, dict[str, Any]]:
        check_tenant_namespace(namespace)
        key = "rk_" + secrets.token_urlsafe(32)
        hashed = digest(key)
        record = {"key_id": hashed[:16], "namespace": namespace, "label": label, "created_at": time.time()}
        with self._lock, self._state_transaction():
            stored = self._read()
            stored[hashed] = record
            self._write(stored)
        self._reload()
        return key, dict(record)

    def records(self, namespace: str | None = None) -> list[dict[str, Any]]:
        self._reload()
        records = [dict(r) for r in self._stored.values() if namespace is None or r["namespace"] == namespace]
        return sorted(records, key=lambda r: (r["created_at"], r["key_id"]))

    def delete(self, key_id: str) -> bool:
        with self._lock, self._state_transaction():
            stored = self._read()
            doomed = [h for h, r in stored.items() if r["key_id"] == key_id]
            for hashed in doomed:
                del stored[hashed]
            if doomed:
                self._write(stored)
        self._reload()
        return bool(doomed)

    def namespaces(self) -> list[str]:
        self._reload()
        return sorted({*self._configured.values(), *(r["namespace"] for r in self._stored.values())})

    # ----- storage ------------------------------------------------------------------------
    def _state_transaction(self) -> Any:
        return self._state.transaction()

    def _read(self) -> dict[str, dict[str, Any]]:
        raw = self._state.get_meta(KEYS_NAMESPACE, _KEYS_META)
        return json.loads(raw) if raw else {}

    def _write(self, stored: dict[str, dict[str, Any]]) -> None:
        self._state.set_meta(KEYS_NAMESPACE, _KEYS_META, json.dumps(stored, sort_keys=True))

    def _reload(self) -> None:
        with self._lock:
            self._stored = self._read()
            self._read_at = self._clock()


__all__ = ["KEYS_NAMESPACE", "KeyRegistry", "check_tenant_namespace", "digest"]
