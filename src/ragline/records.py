"""Typed records that flow between ragline's stages.

    item = SourceItem(uri="file:///a.md", path=Path("a.md"), size=10, mtime_ns=0)
    doc = Document(doc_id="...", uri=item.uri, version="...", text="# Title", kind="markdown")

Every stage takes and yields these frozen dataclasses, so a stage's signature is its contract.
"""

from __future__ import annotations

import enum
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

Metadata = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One thing a source can hand to a parser: a file, or one record of a JSONL file."""

    uri: str
    path: Path | None = None
    data: bytes | None = None
    size: int = 0
    mtime_ns: int = 0
    # A cheap fingerprint (e.g. "size:mtime") used to skip unchanged items without reading them.
    stat_key: str = ""
    # Set by sources whose records carry their own content (JSONL): the content hash, known up front.
    version: str | None = None
    metadata: Metadata = field(default_factory=dict)
    title: str | None = None

    def open(self) -> BinaryIO:
        """Open the item for reading. The file is opened without blocking and checked to be a
        regular file, so a FIFO or device put in its place since the listing cannot hang a run
        (``IsADirectoryError`` / ``NotARegularFile`` instead)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is None:
            raise ValueError(f"source item {self.uri} has neither data nor path")
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(21, "is a directory")
            if not stat.S_ISREG(mode):
                raise NotARegularFile(95, "not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The item's bytes; with ``limit``, at most ``limit + 1`` of them (more than ``limit``
        means "too large", and memory stays bounded whatever the file grew to)."""
        if self.data is not None:
            return self.data if limit is None else self.data[:limit + 1]
        with self.open() as handle:
            return handle.read() if limit is None else handle.read(limit + 1)


class NotARegularFile(OSError):
    """A path that is a FIFO, socket or device where a regular file was expected."""


@dataclass(frozen=True, slots=True)
class Section:
    """A span of a document's text that shares structure: a PDF page or a Markdown heading."""

    start: int
    end: int
    page: int | None = None
    heading: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    uri: str
    version: str
    text: str
    kind: str
    title: str | None = None
    sections: tuple[Section, ...] = ()
    metadata: Metadata = field(default_factory=dict)
    # Problems that did not stop the document from being ingested (e.g. bytes replaced).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    token_count: int
    content_hash: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snippet:
    """A window of a chunk's text with the query's terms located in it."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()  # char spans within ``text``

    def marked(self, open: str = "**", close: str = "**") -> str:
        parts, last = [], 0
        for start, end in self.highlights:
            parts += [self.text[last:start], open, self.text[start:end], close]
            last = end
        parts.append(self.text[last:])
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float
    uri: str
    # Which retrievers found this chunk, with the rank (1-based) it had in each.
    ranks: dict[str, int] = field(default_factory=dict)
    snippet: Snippet | None = None
    # Set for document-level results (group_by="doc"): this hit is the document's best chunk,
    # ``doc_score`` aggregates the scores of all its matching chunks, listed best first in
    # ``doc_matches`` as (chunk_id, score).
    doc_score: float | None = None
    doc_matches: tuple[tuple[str, float], ...] = ()

    @property
    def page(self) -> int | None:
        """The (first) PDF page of the chunk, when known."""
        return self.chunk.metadata.get("page")

    @property
    def page_end(self) -> int | None:
        """The last PDF page the chunk reaches, when known."""
        return self.chunk.metadata.get("page_end", self.page)

    @property
    def heading(self) -> str | None:
        """The heading path of the chunk's section, e.g. 'Guide > Install'."""
        return self.chunk.metadata.get("heading")

    def to_dict(self) -> dict[str, Any]:
        result = {
            "chunk_id": self.chunk.chunk_id, "doc_id": self.chunk.doc_id, "score": self.score,
            "uri": self.uri, "start": self.chunk.start, "end": self.chunk.end, "page": self.page,
            "page_end": self.page_end, "heading": self.heading, "ranks": self.ranks,
            "text": self.chunk.text,
        }
        if self.snippet is not None:
            result["snippet"] = self.snippet.marked()
            result["highlights"] = [list(span) for span in self.snippet.highlights]
        if self.doc_score is not None:
            result["doc_score"] = self.doc_score
            result["matches"] = len(self.doc_matches)
            result["matched_chunks"] = [{"chunk_id": c, "score": s} for c, s in self.doc_matches]
        return result


class Outcome(str, enum.Enum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FailedItem:
    uri: str
    stage: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did. Failures are data: every failed item is listed with its reason."""

    namespace: str = "default"
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    failed: list[FailedItem] = field(default_factory=list)
    warnings: list[FailedItem] = field(default_factory=list)
    skipped: list[FailedItem] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)  # uri -> uri of the original
    near_duplicates: dict[str, dict[str, Any]] = field(default_factory=dict)  # uri -> original, similarity
    needs_ocr: list[str] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    tokens_embedded: int = 0
    chunks_embedded: int = 0
    cache_hits: int = 0
    elapsed_s: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)  # per-stage busy time, items/s, embedder busy

    def count(self, outcome: Outcome, n: int = 1) -> None:
        self.counts[outcome.value] += n

    def fail(self, uri: str, stage: str, reason: str) -> None:
        self.failed.append(FailedItem(uri, stage, reason))
        self.count(Outcome.FAILED)

    @property
    def documents_seen(self) -> int:
        return sum(self.counts.values()) - self.counts[Outcome.DELETED.value]

    @property
    def dedup_rate(self) -> float:
        """Share of the documents processed this run (not unchanged) that were duplicates."""
        processed = sum(self.counts[o.value] for o in (Outcome.NEW, Outcome.CHANGED, Outcome.DUPLICATE))
        return self.counts[Outcome.DUPLICATE.value] / processed if processed else 0.0

    @property
    def cache_hit_rate(self) -> float:
        lookups = self.cache_hits + self.chunks_embedded
        return self.cache_hits / lookups if lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "namespace": self.namespace,
            "documents": dict(self.counts),
            "failed": [{"uri": f.uri, "stage": f.stage, "reason": f.reason} for f in self.failed],
            "skipped": [{"uri": s.uri, "stage": s.stage, "reason": s.reason} for s in self.skipped],
            "warnings": [{"uri": w.uri, "stage": w.stage, "reason": w.reason} for w in self.warnings],
            "duplicates": dict(self.duplicates),
            "near_duplicates": dict(self.near_duplicates),
            "dedup_rate": round(self.dedup_rate, 4),
            "needs_ocr": list(self.needs_ocr),
            "chunks_written": self.chunks_written,
            "chunks_deleted": self.chunks_deleted,
            "chunks_embedded": self.chunks_embedded,
            "tokens_embedded": self.tokens_embedded,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": round(self.cache_hit_rate, 4),
            "elapsed_s": round(self.elapsed_s, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "pipeline": dict(self.pipeline),
            "docs_per_s": round(self.documents_seen / elapsed, 2),
            "chunks_per_s": round(self.chunks_written / elapsed, 2),
        }
