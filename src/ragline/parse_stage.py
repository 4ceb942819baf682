"""The parse stage of an ingest: parse -> clean -> chunk -> MinHash signature, one task at a time.

    stage = ParseStage(chunker, namespace, max_bytes, near_dup)
    result = stage(FileTask(uri, data, version, metadata))    # TaskResult: units and errors

It is picklable and knows nothing about queues or processes, so the local engine runs it in a
process pool (``_init_worker`` / ``_run_in_worker``) and any other runner can call it directly.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragline.chunk import Chunker
from ragline.errors import ParseError
from ragline.ids import content_hash, make_doc_id
from ragline.neardup import NearDupConfig, minhash_signature
from ragline.parse import SkippedInput, parse_bytes
from ragline.parse.base import DEFAULT_MAX_DOC_CHARS, Block, assemble, check_doc_chars
from ragline.records import Chunk, Document
from ragline.sources.jsonl import JsonlRecord


@dataclass
class DocUnit:
    """One document out of the parse stage: cleaned text, its chunks, its dedup keys."""

    doc: Document
    chunks: list[Chunk]
    text_hash: str
    signature: np.ndarray | None


@dataclass
class TaskError:
    uri: str
    stage: str
    reason: str
    skipped: bool = False       # not ingestible (binary, unknown type), not an error in it
    drop_documents: bool = True  # a file that no longer parses must not keep serving old chunks


@dataclass
class TaskResult:
    units: list[DocUnit] = field(default_factory=list)
    errors: list[TaskError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    needs_ocr: bool = False
    kind: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FileTask:
    uri: str
    data: bytes
    version: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class RecordsTask:
    records: list[tuple[JsonlRecord, str]]  # (record, record version)
    metadata: dict[str, Any]


class ParseStage:
    """parse -> clean -> chunk -> signature, for one task; picklable, so it runs in a pool."""

    def __init__(self, chunker: Chunker, namespace: str, max_bytes: int, near_dup: NearDupConfig,
                 max_chars: int | None = DEFAULT_MAX_DOC_CHARS):
        self.chunker, self.namespace, self.max_bytes, self.near_dup = chunker, namespace, max_bytes, near_dup
        self.max_chars = max_chars

    def __call__(self, task: FileTask | RecordsTask) -> TaskResult:
        result = TaskResult()
        if isinstance(task, FileTask):
            self._file(task, result)
        else:
            self._records(task, result)
        return result

    def _file(self, task: FileTask, result: TaskResult) -> None:
        started = time.perf_counter()
        try:
            parsed = parse_bytes(task.data, task.uri, max_bytes=self.max_bytes, max_chars=self.max_chars)
        except SkippedInput as exc:
            result.errors.append(TaskError(task.uri, "detect", str(exc), skipped=True))
            return
        except ParseError as exc:
            result.errors.append(TaskError(task.uri, "parse", str(exc)))
            return
        except (RecursionError, MemoryError, ValueError) as exc:
            result.errors.append(TaskError(task.uri, "parse", f"parser error: {type(exc).__name__}: {exc}",
                                           drop_documents=False))
            return
        finally:
            _add_time(result.seconds, "parse", started)
        metadata = {"uri": task.uri, "kind": parsed.kind, **task.metadata, **parsed.metadata}
        if parsed.title:
            metadata["title"] = parsed.title
        result.kind, result.warnings = parsed.kind, list(parsed.warnings)
        result.needs_ocr = bool(parsed.metadata.get("needs_ocr"))
        doc = Document(doc_id=make_doc_id(self.namespace, task.uri), uri=task.uri, version=task.version,
                       text=parsed.text, kind=parsed.kind, title=parsed.title, sections=parsed.sections,
                       metadata=metadata, warnings=tuple(parsed.warnings))
        result.units.append(self._unit(doc, result))

    def _records(self, task: RecordsTask, result: TaskResult) -> None:
        result.kind = "jsonl"
        for record, version in task.records:
            started = time.perf_counter()
            try:
                # The title is text to search, not only metadata: BEIR-style records keep the
                # title apart from the body, and their retrieval protocol indexes title + text.
                blocks = ([Block(record.title)] if record.title else []) + [Block(record.text)]
                parsed = check_doc_chars(assemble("jsonl", blocks, title=record.title, metadata=record.metadata),
                                         self.max_chars)
            except ParseError as exc:
                result.errors.append(TaskError(record.uri, "parse", f"line {record.line}: {exc}",
                                               drop_documents=False))
                continue
            finally:
                _add_time(result.seconds, "parse", started)
            metadata = {**task.metadata, **parsed.metadata, "uri": record.uri, "kind": "jsonl"}
            if parsed.title:
                metadata["title"] = parsed.title
            doc = Document(doc_id=make_doc_id(self.namespace, record.uri), uri=record.uri, version=version,
                           text=parsed.text, kind="jsonl", title=parsed.title, metadata=metadata)
            result.units.append(self._unit(doc, result))

    def _unit(self, doc: Document, result: TaskResult) -> DocUnit:
        started = time.perf_counter()
        chunks = self.chunker(doc)
        _add_time(result.seconds, "chunk", started)
        started = time.perf_counter()
        signature = minhash_signature(doc.text, self.near_dup) if self.near_dup.enabled else None
        _add_time(result.seconds, "signature", started)
        return DocUnit(doc, chunks, dedup_hash(doc.text), signature)


_WORKER_STAGE: ParseStage | None = None


def _init_worker(stage: ParseStage) -> None:
    global _WORKER_STAGE
    _WORKER_STAGE = stage
    _die_with_parent()
    try:
        os.nice(5)  # the embedder owns the cores; parsing fills the gaps
    except OSError:
        pass


def _die_with_parent() -> None:
    """A killed coordinator must not leave parse workers behind (holding its pipes open)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the call above
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _run_in_worker(task: FileTask | RecordsTask) -> TaskResult:
    assert _WORKER_STAGE is not None
    return _WORKER_STAGE(task)


def _add_time(seconds: dict[str, float], stage: str, started: float) -> None:
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started


def dedup_hash(text: str) -> str:
    """Hash of the text with whitespace collapsed: re-wrapped or re-indented copies are exact
    duplicates of each other, since they read the same and chunk to the same words."""
    return content_hash(" ".join(text.split()))


