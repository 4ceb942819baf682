"""Deterministic identities: the same input always yields the same id, so upserts are idempotent.

    doc_id = make_doc_id("default", "file:///corpus/a.md")
    chunk_id = make_chunk_id(doc_id, 0, content_hash("hello"))
"""

from __future__ import annotations

import xxhash


def content_hash(data: str | bytes) -> str:
    """128-bit xxh3 hex digest of text (UTF-8) or bytes."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return xxhash.xxh3_128_hexdigest(data)


def _field(text: str) -> str:
    """``text`` as one unambiguous field of an id key: unchanged unless it holds the separator
    (or starts with the escape mark), so the ids of existing stores stay what they were; else
    hex-escaped. Without it namespace 'a\x1fb' with uri 'c' and namespace 'a' with uri
    'b\x1fc' (a JSONL record id may hold one) made one doc_id, and shared a row."""
    if "\x1f" not in text and not text.startswith("\x1e"):
        return text
    return "\x1e" + text.encode("utf-8", "surrogatepass").hex()


def make_doc_id(namespace: str, uri: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"doc\x1f{_field(namespace)}\x1f{_field(uri)}".encode())


def make_chunk_id(doc_id: str, index: int, text_hash: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"chunk\x1f{doc_id}\x1f{index}\x1f{text_hash}".encode())
