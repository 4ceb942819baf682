"""The knobs of one ingest run (any runner): limits, batch sizes, parallelism, near-dup.

    settings = IngestSettings(max_file_bytes=2**20, batch_chunks=128, parse_workers=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragline.neardup import NearDupConfig
from ragline.parse.base import DEFAULT_MAX_DOC_CHARS

__all__ = ["IngestSettings"]


@dataclass(frozen=True)
class IngestSettings:
    max_file_bytes: int = 20 * 2**20
    batch_chunks: int = 256
    retry_failed_reads: bool = True
    # Parse processes: None = automatic (half the cores, at least one); 0 = parse on the
    # coordinator thread. The pool starts only once a run has `pool_after` parse tasks, so small
    # runs do not pay its start-up.
    parse_workers: int | None = None
    pool_after: int = 16
    records_per_task: int = 256
    embed_queue: int = 2
    near_dup: NearDupConfig = field(default_factory=NearDupConfig)
    # Characters of text one document (file or JSONL record) may yield; more fails as too_large.
    max_doc_chars: int = DEFAULT_MAX_DOC_CHARS
    # Derived indexes (ANN, BM25) are brought up to date after this many written chunks or
    # seconds, whichever comes first, not only at the end: a 200k-document run that indexed
    # everything at the end peaked at 3x the RSS it streamed with (README, streaming engine).
    # A catch-up's transient memory grows with its step (50k documents, hashing embedder: peak
    # 629 / 577 / 552 MiB at 16k / 8k / 4k steps, 635 MiB all at the end).
    index_every_chunks: int = 4096
    index_every_s: float = 120.0
