"""The records that travel between the ingest stages inside one run: a document waiting to be
written (``PendingDoc``) and a batch of them (``Batch``), which dedup fills, embed-with-cache
completes with vectors and commit writes.

    batch = Batch(seq=1, docs=[PendingDoc(doc, text_hash, file_uri, chunks, old_ids, Outcome.NEW)])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ragline.records import Chunk, Document, Outcome, SourceItem

__all__ = ["Batch", "FileDone", "PendingDoc"]


@dataclass
class PendingDoc:
    doc: Document
    text_hash: str
    file_uri: str
    chunks: list[Chunk]
    old_chunk_ids: tuple[str, ...]
    outcome: Outcome
    duplicate_of: str | None = None
    signature: np.ndarray | None = None


@dataclass(frozen=True)
class FileDone:
    """A listed item whose documents are all in the batch: its ledger row is written with them."""

    item: SourceItem
    version: str
    kind: str
    problems: str | None = None  # a container's bad records, reported again on unchanged re-runs


@dataclass
class Batch:
    seq: int = 0
    docs: list[PendingDoc] = field(default_factory=list)
    files: list[FileDone] = field(default_factory=list)
    deleted_docs: list[str] = field(default_factory=list)
    n_chunks: int = 0
    # Filled by embed-with-cache when the batch is dispatched, then by the embedder.
    chunks: list[Chunk] = field(default_factory=list)
    cached: dict[int, np.ndarray] = field(default_factory=dict)
    to_embed: list[int] = field(default_factory=list)   # positions whose text this batch embeds
    fresh: np.ndarray | None = None
    error: BaseException | None = None
    embed_seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.docs or self.files or self.deleted_docs)
