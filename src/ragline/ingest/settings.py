"""The knobs of one ingest run (any runner): limits, batch sizes, parallelism, near-dup.

    settings = IngestSettings(max_file_bytes=2**20, batch_chunks=128, parse_workers=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragline.neardup import NearDupConfig
from ragline.settings import default

__all__ = ["IngestSettings"]


@dataclass(frozen=True)
class IngestSettings:
    """One run's knobs; every default (and what it is for) is in ``ragline.settings.IngestSection``."""

    max_file_bytes: int = default("ingest.max_file_bytes")
    batch_chunks: int = default("ingest.batch_chunks")
    retry_failed_reads: bool = default("ingest.retry_failed_reads")
    parse_workers: int | None = default("ingest.parse_workers")
    pool_after: int = default("ingest.pool_after")
    records_per_task: int = default("ingest.records_per_task")
    embed_queue: int = default("ingest.embed_queue")
    near_dup: NearDupConfig = field(default_factory=NearDupConfig)
    max_doc_chars: int = default("ingest.max_doc_chars")
    index_every_chunks: int = default("ingest.index_every_chunks")
    index_every_s: float = default("ingest.index_every_s")
