"""JSONL records: one document per line, ``{"id": ..., "text": ..., "title"?: ..., **metadata}``.

    for record in iter_jsonl_records(data, file_uri="file:///c.jsonl"): ...

Also accepts BEIR's ``_id`` for ``id``. A bad line is reported with its line number; the rest go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ID_KEYS = ("id", "_id", "doc_id")
TEXT_KEYS = ("text", "content", "body")


@dataclass(frozen=True, slots=True)
class JsonlRecord:
    uri: str
    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _scalar_metadata(record: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in record.items():
        if key in skip:
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            meta[key] = value
        else:
            meta[key] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return meta


def iter_jsonl_records(data: bytes, file_uri: str) -> Iterator[JsonlRecord]:
    for line_no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{file_uri}#line={line_no}"
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield JsonlRecord(uri=where, text="", error=f"invalid JSON on line {line_no}: {exc}")
            continue
        if not isinstance(record, dict):
            yield JsonlRecord(uri=where, text="", error=f"line {line_no} is not a JSON object")
            continue
        id_key = next((k for k in ID_KEYS if k in record), None)
        text_key = next((k for k in TEXT_KEYS if isinstance(record.get(k), str)), None)
        if text_key is None:
            yield JsonlRecord(uri=where, text="", error=f"line {line_no} has no string 'text' field")
            continue
        record_id = str(record[id_key]) if id_key else f"line={line_no}"
        title = record.get("title") if isinstance(record.get("title"), str) else None
        meta = _scalar_metadata(record, {text_key, "title", *(ID_KEYS)})
        meta["record_id"] = record_id
        yield JsonlRecord(uri=f"{file_uri}#{record_id}", text=record[text_key], title=title or None,
                          metadata=meta)
