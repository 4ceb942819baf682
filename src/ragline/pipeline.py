"""One ingest run over a listing: skip what is unchanged, parse, dedup, chunk, embed, write.

    run = IngestRun(store, ledger, embedder, chunker, settings, report, progress)
    run.ingest_listing(listing)
    run.finish()

Writes are batched: each batch's chunks, vectors, cache entries, deletions and ledger rows
commit in one SQLite transaction, so a crash leaves the ledger behind the store, never ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragline._faults import crashpoint
from ragline.chunk import Chunker
from ragline.embed.base import Embedder
from ragline.embed.cache import EmbeddingCache
from ragline.errors import ParseError, RaglineError
from ragline.ids import content_hash, make_doc_id
from ragline.ledger import Ledger
from ragline.parse import SkippedInput, parse_bytes
from ragline.parse.base import Block, ParsedDoc, assemble
from ragline.parse.detect import EXTENSIONS
from ragline.records import Chunk, Document, FailedItem, IngestReport, Outcome, SourceItem
from ragline.sources.folder import Listing
from ragline.sources.jsonl import iter_jsonl_records

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class IngestSettings:
    max_file_bytes: int = 20 * 2**20
    batch_chunks: int = 256
    retry_failed_reads: bool = True


@dataclass
class _PendingDoc:
    doc: Document
    text_hash: str
    file_uri: str
    chunks: list[Chunk]
    old_chunk_ids: tuple[str, ...]
    outcome: Outcome
    duplicate_of: str | None = None


@dataclass
class _Batch:
    docs: list[_PendingDoc] = field(default_factory=list)
    files: list[tuple[SourceItem, str, str]] = field(default_factory=list)  # item, version, kind
    deleted_docs: list[str] = field(default_factory=list)
    text_hashes: dict[str, str] = field(default_factory=dict)  # text hash -> doc id, in this batch
    n_chunks: int = 0


class IngestRun:
    def __init__(self, store: Any, ledger: Ledger, embedder: Embedder, chunker: Chunker,
                 cache: EmbeddingCache, settings: IngestSettings, report: IngestReport,
                 progress: Progress | None = None):
        self.store, self.ledger, self.embedder, self.chunker = store, ledger, embedder, chunker
        self.cache, self.settings, self.report = cache, settings, report
        self.progress = progress or (lambda stage, n: None)
        self.batch = _Batch()
        self.stage_seconds: dict[str, float] = {}

    def _timed(self, stage: str, started: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - started

    # ----- failures are data ---------------------------------------------------------------
    def _fail(self, item: SourceItem, stage: str, reason: str, *, skipped: bool = False,
              record: bool = True) -> None:
        if skipped:
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(FailedItem(item.uri, stage, reason))
        else:
            self.report.fail(item.uri, stage, reason)
        if record:
            with self.store.transaction():
                self.ledger.record_file(item.uri, item.stat_key, None, "skipped" if skipped else "failed",
                                        stage=stage, error=reason)
                if not skipped:
                    self.ledger.dead_letter(item.uri, stage, reason)
        self.progress("failed", 1)

    # ----- per file --------------------------------------------------------------------------
    def ingest_listing(self, listing: Listing) -> None:
        for error in listing.errors:
            self.report.fail(error.uri, error.stage, error.reason)
        for item in listing.items:
            self.ingest_file(item)
            self.progress("files", 1)

    def ingest_file(self, item: SourceItem) -> None:
        known = self.ledger.file(item.uri)
        if known is not None and known.stat_key == item.stat_key and item.stat_key:
            retry = known.state == "failed" and known.stage == "read" and self.settings.retry_failed_reads
            if not retry:
                self._report_unchanged(item, known)
                return
        started = time.perf_counter()
        try:
            data = item.read_bytes()
        except FileNotFoundError:
            self._fail(item, "read", "file vanished during the run", record=False)
            return
        except OSError as exc:
            self._fail(item, "read", f"cannot read file: {exc.strerror or exc}")
            return
        finally:
            self._timed("read", started)
        self.progress("read", 1)
        version = content_hash(data)
        if known is not None and known.version == version and known.state in ("stored", "skipped"):
            with self.store.transaction():  # touched but identical: remember the new stat key
                self.ledger.record_file(item.uri, item.stat_key, version, known.state)
            self._report_unchanged(item, known)
            return
        suffix = Path(item.uri).suffix.lower()
        if EXTENSIONS.get(suffix) == "jsonl" and not data.startswith(b"%PDF-"):
            self._ingest_jsonl(item, data, version)
        else:
            self._ingest_single(item, data, version)

    def _report_unchanged(self, item: SourceItem, known: Any) -> None:
        if known.state == "failed":
            self.report.fail(item.uri, known.stage or "parse", f"{known.error} (unchanged since last run)")
        elif known.state == "skipped":
            self.report.count(Outcome.SKIPPED)
            self.report.skipped.append(FailedItem(item.uri, known.stage or "detect", known.error or ""))
        else:
            n = max(1, len(self.ledger.documents_of_file(item.uri)))
            self.report.count(Outcome.UNCHANGED, n)
            self.progress("unchanged", n)

    def _ingest_single(self, item: SourceItem, data: bytes, version: str) -> None:
        started = time.perf_counter()
        try:
            parsed = parse_bytes(data, item.uri, max_bytes=self.settings.max_file_bytes)
        except SkippedInput as exc:
            self._fail(item, "detect", str(exc), skipped=True)
            self._drop_file_documents(item.uri)
            return
        except ParseError as exc:
            self._fail(item, "parse", str(exc))
            self._drop_file_documents(item.uri)
            return
        except (RecursionError, MemoryError, ValueError) as exc:
            self._fail(item, "parse", f"parser error: {type(exc).__name__}: {exc}")
            return
        finally:
            self._timed("parse", started)
        crashpoint("parse")
        self.progress("parsed", 1)
        metadata = {"uri": item.uri, "kind": parsed.kind, **item.metadata, **parsed.metadata}
        if parsed.title:
            metadata["title"] = parsed.title
        doc = Document(doc_id=make_doc_id(self.ledger.namespace, item.uri), uri=item.uri, version=version,
                       text=parsed.text, kind=parsed.kind, title=parsed.title, sections=parsed.sections,
                       metadata=metadata, warnings=tuple(parsed.warnings))
        for warning in parsed.warnings:
            self.report.warnings.append(FailedItem(item.uri, "parse", warning))
        if parsed.metadata.get("needs_ocr"):
            self.report.needs_ocr.append(item.uri)
        stale = [d for d in self.ledger.documents_of_file(item.uri) if d != doc.doc_id]
        self._add_document(doc, item.uri)
        self._complete_file(item, version, parsed.kind, stale)

    def _ingest_jsonl(self, item: SourceItem, data: bytes, version: str) -> None:
        started = time.perf_counter()
        # Batches flush (embed + write) from inside the record loop; keep that out of "parse".
        nested_before = sum(self.stage_seconds.get(s, 0.0) for s in ("chunk", "embed", "write"))
        previous = self.ledger.documents_of_file(item.uri)
        seen: set[str] = set()
        for record in iter_jsonl_records(data, item.uri):
            if record.error:
                self.report.fail(record.uri, "parse", record.error)
                continue
            try:
                # The title is text to search, not only metadata: BEIR-style records keep the
                # title apart from the body, and their retrieval protocol indexes title + text.
                blocks = ([Block(record.title)] if record.title else []) + [Block(record.text)]
                parsed: ParsedDoc = assemble("jsonl", blocks, title=record.title,
                                             metadata=record.metadata)
            except ParseError as exc:
                self.report.fail(record.uri, "parse", str(exc))
                continue
            doc_id = make_doc_id(self.ledger.namespace, record.uri)
            seen.add(doc_id)
            metadata = {"uri": record.uri, "kind": "jsonl", **item.metadata, **parsed.metadata}
            if parsed.title:
                metadata["title"] = parsed.title
            record_version = content_hash(f"{parsed.title}\x1f{parsed.text}\x1f{sorted(metadata.items())}")
            doc = Document(doc_id=doc_id, uri=record.uri, version=record_version, text=parsed.text,
                           kind="jsonl", title=parsed.title, metadata=metadata)
            self._add_document(doc, item.uri)
        nested = sum(self.stage_seconds.get(s, 0.0) for s in ("chunk", "embed", "write")) - nested_before
        self._timed("parse", started + nested)
        self.progress("parsed", 1)
        self._complete_file(item, version, "jsonl", [d for d in previous if d not in seen])

    def _drop_file_documents(self, file_uri: str) -> None:
        """A file that no longer parses must not keep serving its old chunks."""
        stale = list(self.ledger.documents_of_file(file_uri))
        if stale:
            self.batch.deleted_docs.extend(stale)
            self.flush()

    # ----- per document ------------------------------------------------------------------
    def _add_document(self, doc: Document, file_uri: str) -> None:
        known = self.ledger.document(doc.doc_id)
        if known is not None and known.version == doc.version:
            self.report.count(Outcome.UNCHANGED)
            return
        outcome = Outcome.CHANGED if known is not None else Outcome.NEW
        old_ids = known.chunk_ids if known else ()
        text_hash = dedup_hash(doc.text)
        original_id = self.batch.text_hashes.get(text_hash)
        if original_id is None:
            original = self.ledger.original_of(text_hash, doc.doc_id)
            original_id = original.doc_id if original else None
            if original is not None:
                self.report.duplicates[doc.uri] = original.uri
        else:
            self.report.duplicates[doc.uri] = next(p.doc.uri for p in self.batch.docs
                                                   if p.doc.doc_id == original_id)
        if original_id is not None and original_id != doc.doc_id:
            self.batch.docs.append(_PendingDoc(doc, text_hash, file_uri, [], old_ids, Outcome.DUPLICATE,
                                               duplicate_of=original_id))
            return
        started = time.perf_counter()
        chunks = self.chunker(doc)
        self._timed("chunk", started)
        self.batch.text_hashes[text_hash] = doc.doc_id
        self.batch.docs.append(_PendingDoc(doc, text_hash, file_uri, chunks, old_ids, outcome))
        self.batch.n_chunks += len(chunks)
        self.progress("chunks", len(chunks))
        if self.batch.n_chunks >= self.settings.batch_chunks:
            self.flush()

    def _complete_file(self, item: SourceItem, version: str, kind: str, stale_docs: list[str]) -> None:
        self.batch.files.append((item, version, kind))
        self.batch.deleted_docs.extend(stale_docs)
        if len(self.batch.files) >= 256:
            self.flush()

    # ----- embed + write -----------------------------------------------------------------
    def _vectors_for(self, chunks: list[Chunk]) -> np.ndarray:
        """Vectors for chunks: from the cache where the text was embedded before, else embedded."""
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        hashes = [c.content_hash for c in chunks]
        cached, missing = self.cache.lookup(hashes)
        self.report.cache_hits += len(cached)
        vectors: list[np.ndarray | None] = [cached.get(i) for i in range(len(chunks))]
        if missing:
            # Embed each distinct text once, even if it repeats within the batch.
            unique: dict[str, int] = {}
            for i in missing:
                unique.setdefault(hashes[i], i)
            order = list(unique.values())
            started = time.perf_counter()
            fresh = self.embedder.embed([chunks[i].text for i in order])
            self._timed("embed", started)
            crashpoint("embed")
            by_hash = {hashes[i]: fresh[row] for row, i in enumerate(order)}
            for i in missing:
                vectors[i] = by_hash[hashes[i]]
            self.cache.store([hashes[i] for i in order], fresh)
            self.report.chunks_embedded += len(order)
            self.report.tokens_embedded += sum(chunks[i].token_count for i in order)
            self.progress("embedded", len(order))
        return np.vstack(vectors).astype(np.float32)  # type: ignore[arg-type]

    def flush(self) -> None:
        batch, self.batch = self.batch, _Batch()
        if not (batch.docs or batch.files or batch.deleted_docs):
            return
        all_chunks = [c for p in batch.docs for c in p.chunks]
        try:
            vectors = self._vectors_for(all_chunks) if all_chunks else None
        except RaglineError as exc:
            for pending in batch.docs:
                self.report.fail(pending.doc.uri, "embed", str(exc))
            return
        started = time.perf_counter()
        with self.store.transaction():
            offset = 0
            for pending in batch.docs:
                doc, n = pending.doc, len(pending.chunks)
                new_ids = {c.chunk_id for c in pending.chunks}
                stale = [cid for cid in pending.old_chunk_ids if cid not in new_ids]
                if n:
                    self.report.chunks_written += self.store.upsert(pending.chunks, vectors[offset:offset + n])
                    offset += n
                if stale:
                    self.report.chunks_deleted += self.store.delete_chunks(stale)
                self.ledger.record_document(
                    doc_id=doc.doc_id, uri=doc.uri, file_uri=pending.file_uri, version=doc.version,
                    text_hash=pending.text_hash, title=doc.title, kind=doc.kind,
                    duplicate_of=pending.duplicate_of, chunk_ids=[c.chunk_id for c in pending.chunks],
                    metadata={k: v for k, v in doc.metadata.items() if k != "uri"})
                self.report.count(pending.outcome)
            if batch.deleted_docs:
                self.report.chunks_deleted += self.store.delete(batch.deleted_docs)
                self.ledger.remove_documents(batch.deleted_docs)
                self.report.count(Outcome.DELETED, len(batch.deleted_docs))
            for item, version, kind in batch.files:
                self.ledger.record_file(item.uri, item.stat_key, version, "stored", kind=kind)
        self._timed("write", started)
        self.progress("written", len(all_chunks))

    def delete_missing(self, listing: Listing) -> None:
        """Delete documents of files that were ingested from this root and no longer exist."""
        if not listing.complete:
            return  # an unlistable directory must not be mistaken for deleted files
        listed = {item.uri for item in listing.items}
        for record in self.ledger.files_under(listing.root_uri):
            if record.uri in listed or _uri_exists(record.uri):
                continue
            docs = list(self.ledger.documents_of_file(record.uri))
            with self.store.transaction():
                if docs:
                    self.report.chunks_deleted += self.store.delete(docs)
                    self.ledger.remove_documents(docs)
                    self.report.count(Outcome.DELETED, len(docs))
                self.ledger.forget_file(record.uri)

    def finish(self) -> None:
        self.flush()
        started = time.perf_counter()
        self.store.flush()
        self._timed("index", started)


def dedup_hash(text: str) -> str:
    """Hash of the text with whitespace collapsed: re-wrapped or re-indented copies are exact
    duplicates of each other, since they read the same and chunk to the same words."""
    return content_hash(" ".join(text.split()))


def _uri_exists(uri: str) -> bool:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(uri).path)).exists()
