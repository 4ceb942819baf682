"""JSONL as a record source: one document per line, ``{"id": ..., "text": ..., "title"?: ..., **metadata}``.

    listing = JsonlSource(Path("corpus.jsonl")).list()   # one item per record, bad lines as errors
    with open("corpus.jsonl", "rb") as handle:
        for record in iter_jsonl_records(handle, file_uri="file:///c.jsonl", max_record_bytes=2**20): ...

``JsonlSource`` is a ``Source`` (``list``/``read``) and a ``RecordContainer`` (the ingest runner
streams its ``records()``). Folders hand their ``*.jsonl`` files to it (``jsonl_records_in``).

The file is read line by line (a stream, never the whole file), so its size does not matter;
``max_record_bytes`` bounds one line. A bad line is reported with its line number (as a record
whose ``error`` is set) and the rest go on. The rules, also in the README:

- **id**: the first of ``id``, ``_id``, ``doc_id`` present. A non-empty string, or an integer,
  which stands for its decimal string (``7`` and ``"7"`` are the same record). Anything else
  (``null``, a float, a boolean, a list, an object, a blank string) is rejected with a reason. A
  record without any id key is named by its line number (``line=N``).
- **text**: the first string among ``text``, ``content``, ``body``.
- **uri**: ``FILE_URI#ID``, where ``%``, ``#``, whitespace, control characters and lone
  surrogates in the id are percent-encoded (UTF-8), so distinct ids never share a uri.
- **metadata**: the other fields; lists and objects are kept as JSON text. Fields named like
  the ones ragline sets itself (``RESERVED_KEYS``: uri, kind, path, page, heading, ...) are kept
  apart as ``record_<name>`` and never override ragline's own.
- Encodings: UTF-8 (a BOM is allowed), and UTF-16 / UTF-32 when the file starts with their BOM.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ragline.clean import scrub_surrogates
from ragline.ids import content_hash
from ragline.records import FailedItem, SourceItem
from ragline.sources.base import Listing

ID_KEYS = ("id", "_id", "doc_id")
TEXT_KEYS = ("text", "content", "body")
# Metadata keys that ragline sets itself (documents, chunks, filters); a record's own fields of
# these names are stored as ``record_<name>`` instead.
RESERVED_KEYS = frozenset({
    "uri", "kind", "path", "namespace", "title", "page", "page_end", "heading", "record_id",
    "doc_id", "chunk_id", "version", "needs_ocr", "pages_without_text",
})
_UNSAFE_IN_ID = re.compile(r"[%#\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# (BOM, codec) longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True, slots=True)
class JsonlRecord:
    uri: str
    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    line: int = 0


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def escape_id(record_id: str) -> str:
    """The id as a uri fragment: injective (``%`` itself is escaped) and valid UTF-8."""
    return _UNSAFE_IN_ID.sub(
        lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), record_id)


def canonical_id(value: Any) -> str:
    """A record id as text, by the rule above; raises ``TypeError``/``ValueError`` with the reason."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = "null" if value is None else type(value).__name__
        raise TypeError(f"id must be a string or an integer, got {kind}")
    if isinstance(value, int):
        return str(value)
    if not value.strip():
        raise ValueError("id is blank")
    return value


def _metadata_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_surrogates(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub_surrogates(json.dumps(value, sort_keys=True, ensure_ascii=False))


def record_metadata(record: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    """The record's own fields as metadata, reserved names moved to ``record_<name>``."""
    own = {scrub_surrogates(k): v for k, v in record.items() if k not in skip}
    meta = {k: _metadata_value(v) for k, v in own.items() if k not in RESERVED_KEYS}
    for key in sorted(k for k in own if k in RESERVED_KEYS):  # moved to the first free name
        name = f"record_{key}"
        while name in RESERVED_KEYS or name in meta:
            name = f"record_{name}"
        meta[name] = _metadata_value(own[key])
    return meta


def parse_record(raw: bytes | str, line_no: int, file_uri: str) -> JsonlRecord:
    """One line to a record (or to a record whose ``error`` says what is wrong with it)."""
    where = f"{file_uri}#line={line_no}"
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return JsonlRecord(uri=where, text="", error=f"invalid JSON on line {line_no}: {reason}", line=line_no)
    if not isinstance(record, dict):
        return JsonlRecord(uri=where, text="", error=f"line {line_no} is not a JSON object", line=line_no)
    id_key = next((k for k in ID_KEYS if k in record), None)
    text_key = next((k for k in TEXT_KEYS if isinstance(record.get(k), str)), None)
    if text_key is None:
        return JsonlRecord(uri=where, text="", error=f"line {line_no} has no string 'text' field", line=line_no)
    if id_key is None:
        record_id = f"line={line_no}"
    else:
        try:
            record_id = canonical_id(record[id_key])
        except (TypeError, ValueError) as exc:
            return JsonlRecord(uri=where, text="", error=f"line {line_no}: {exc} in {id_key!r}", line=line_no)
    title = record.get("title")
    skip = {text_key, *([id_key] if id_key else [])}
    if isinstance(title, str):
        skip.add("title")
    try:
        meta = record_metadata(record, skip)
    except RecursionError:
        return JsonlRecord(uri=where, text="", error=f"line {line_no}: metadata nested too deeply",
                           line=line_no)
    meta["record_id"] = scrub_surrogates(record_id)
    return JsonlRecord(uri=f"{file_uri}#{escape_id(record_id)}", text=scrub_surrogates(record[text_key]),
                       title=scrub_surrogates(title) if isinstance(title, str) and title else None,
                       metadata=meta, line=line_no)


def _lines(stream: BinaryIO, max_record_bytes: int | None) -> Iterator[tuple[int, bytes | str | None]]:
    """(line number, line) pairs; the line is None when it is longer than the limit (its bytes
    are read past, never held). UTF-16/32 files (by BOM) are decoded on the fly."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
    head = buffered.peek(4)[:4]
    reader: Any = buffered
    for bom, codec in _BOMS:
        if head.startswith(bom):
            reader = io.TextIOWrapper(buffered, encoding=codec, errors="replace", newline="\n")
            break
    limit = -1 if max_record_bytes is None else max_record_bytes + 1
    line_no = 0
    while True:
        raw = reader.readline(limit)
        if not raw:
            return
        line_no += 1
        if limit > 0 and len(raw) >= limit and not raw.endswith("\n" if isinstance(raw, str) else b"\n"):
            while (rest := reader.readline(2**20)) and not rest.endswith(
                    "\n" if isinstance(rest, str) else b"\n"):
                pass
            yield line_no, None
            continue
        yield line_no, raw


def iter_jsonl_records(source: bytes | BinaryIO, file_uri: str, *,
                       max_record_bytes: int | None = None) -> Iterator[JsonlRecord]:
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    for line_no, raw in _lines(stream, max_record_bytes):
        if raw is None:
            assert max_record_bytes is not None
            yield JsonlRecord(uri=f"{file_uri}#line={line_no}", text="", line=line_no,
                              error=f"record too large on line {line_no}: over the limit of {_size(max_record_bytes)} "
                                    "(raise --max-file-size to ingest it)")
            continue
        if not raw.strip():
            continue
        if isinstance(raw, str) and line_no == 1:
            raw = raw.lstrip("\ufeff")
        yield parse_record(raw, line_no, file_uri)


def record_version(record: JsonlRecord, file_metadata: dict[str, Any]) -> str:
    """A record's content version: its title, text and metadata (with its file's), so it changes
    iff what the record would store changes. (The formula is kept: stores built before compare.)"""
    return content_hash(f"{record.title}\x1f{record.text}\x1f{sorted({**file_metadata, **record.metadata}.items())}")


def is_jsonl(uri: str) -> bool:
    """Whether an item's name says JSONL (``.jsonl``, ``.ndjson``)."""
    from ragline.parse.detect import EXTENSIONS

    return EXTENSIONS.get(Path(uri).suffix.lower()) == "jsonl"  # the rule the runner had


def jsonl_records_in(item: SourceItem, *, max_record_bytes: int | None = None) -> JsonlSource | None:
    """The ``ExpandsRecords`` rule of folders and item lists: a ``*.jsonl`` item is a container of
    records (unless its bytes turn out to be a PDF: ``holds_records`` after ``version``)."""
    return JsonlSource(item, max_record_bytes=max_record_bytes) if is_jsonl(item.uri) else None


class JsonlSource:
    """The records of one JSONL file (or item) as a source of documents.

    ``list()`` gives one ``SourceItem`` per record (uri ``FILE#ID``, ``version`` = the record's
    content hash, ``data`` = its text as UTF-8, ``title``, ``metadata``); bad lines and repeated
    ids are listing ``errors`` with their line (so a listing with bad lines is incomplete).
    ``records()`` streams the same records for the ingest runner; ``version()`` hashes the whole
    file as a stream, the cheap "did anything change" check before any record is parsed."""

    def __init__(self, source: str | Path | SourceItem, *, max_record_bytes: int | None = None):
        if isinstance(source, SourceItem):
            self.item = source
        else:
            from ragline.sources.folder import display_path, file_uri

            path = Path(source)
            try:
                st = path.stat()
                stat_key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
            except OSError:
                st, stat_key = None, ""
            self.item = SourceItem(uri=file_uri(path), path=path, size=st.st_size if st else 0,
                                   mtime_ns=st.st_mtime_ns if st else 0, stat_key=stat_key,
                                   metadata={"path": display_path(path.name)})
        self.max_record_bytes = max_record_bytes
        self._holds_records = True

    # ----- RecordContainer ----------------------------------------------------------------
    def version(self) -> str:
        from ragline.sources._files import stream_hash

        version, head = stream_hash(self.item)
        self._holds_records = not head.startswith(b"%PDF-")  # a PDF named .jsonl is parsed as a PDF
        return version

    def holds_records(self) -> bool:
        return self._holds_records

    def record_version(self, record: JsonlRecord) -> str:
        return record_version(record, self.item.metadata)

    def records(self) -> Iterator[JsonlRecord]:
        """Every record in order. The first record with an id wins; a later one with the same id
        comes back with its ``error`` set, so two versions of one document never both reach the
        store."""
        seen: set[str] = set()
        with self.item.open() as stream:
            for record in iter_jsonl_records(stream, self.item.uri, max_record_bytes=self.max_record_bytes):
                if record.error is None:
                    if record.uri in seen:
                        yield JsonlRecord(
                            uri=f"{self.item.uri}#line={record.line}", text="", line=record.line,
                            error=f"duplicate id {record.metadata['record_id']!r} on line {record.line}: "
                                  "the first record with this id is kept, this one is ignored")
                        continue
                    seen.add(record.uri)
                yield record

    # ----- Source ---------------------------------------------------------------------------
    def list(self) -> Listing:
        listing = Listing(root_uri=self.item.uri + "#", source=self)
        try:
            for record in self.records():
                if record.error is not None:
                    listing.errors.append(FailedItem(record.uri, "parse", record.error))
                else:
                    listing.items.append(self._item(record))
        except OSError as exc:
            listing.errors.append(FailedItem(self.item.uri, "read",
                                             f"cannot read file: {exc.strerror or type(exc).__name__}"))
        listing.items.sort(key=lambda item: item.uri)
        return listing

    def read(self, item: SourceItem) -> bytes:
        """A listed record's text (UTF-8); ``FileNotFoundError`` when the record is gone."""
        if item.data is not None:
            return item.data
        for record in self.records():
            if record.error is None and record.uri == item.uri:
                return record.text.encode("utf-8")
        raise FileNotFoundError(2, f"no record {item.uri} in {self.item.uri}")

    def _item(self, record: JsonlRecord) -> SourceItem:
        data = record.text.encode("utf-8")
        return SourceItem(uri=record.uri, data=data, size=len(data), version=self.record_version(record),
                          title=record.title, metadata={**self.item.metadata, **record.metadata})
