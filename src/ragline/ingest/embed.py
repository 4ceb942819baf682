"""Embed-with-cache: a batch's chunk vectors from the embedding cache, embedding only the misses,
each distinct text once per run, and writing what was embedded back to the cache.

    embedding = CachedEmbedding(cache, embedder)
    embedding.prepare(batch)                       # cache lookups; batch.to_embed = the misses
    batch.fresh = embedder.embed(embedding.texts_to_embed(batch))   # anywhere: a thread, a GPU
    vectors = embedding.vectors(batch, report)     # (n_chunks, dim) float32; cache written

``prepare`` and ``vectors`` run on the runner's coordinating thread; only the embedder call in
between may run elsewhere (the local runner's embedder thread). A text missed by two batches in
flight is embedded by the first and read back from the cache by the second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ragline.embed.base import Embedder
from ragline.ingest.batch import Batch
from ragline.records import IngestReport
from ragline.state.base import EmbeddingCacheState

__all__ = ["CachedEmbedding"]


class CachedEmbedding:
    def __init__(self, cache: EmbeddingCacheState, embedder: Embedder):
        self.cache, self.embedder = cache, embedder
        self._embedding: dict[str, int] = {}  # text hash -> seq of the batch embedding it

    def prepare(self, batch: Batch) -> None:
        """Fill ``batch.chunks``, ``batch.cached`` (hits by position) and ``batch.to_embed``."""
        batch.chunks = [c for p in batch.docs for c in p.chunks]
        hashes = [c.content_hash for c in batch.chunks]
        if not hashes:
            return
        batch.cached, missing = self.cache.lookup(hashes)
        claimed: set[str] = set()
        for i in missing:  # each distinct text is embedded once in the whole run
            h = hashes[i]
            if h in claimed:
                continue
            if h not in self._embedding:  # else an earlier batch embeds it; read from the cache
                claimed.add(h)
                self._embedding[h] = batch.seq
                batch.to_embed.append(i)

    @staticmethod
    def texts_to_embed(batch: Batch) -> list[str]:
        return [batch.chunks[i].text for i in batch.to_embed]

    def vectors(self, batch: Batch, report: IngestReport,
                on_embedded: Callable[[int, float], None] | None = None) -> np.ndarray | None:
        """The batch's vectors in chunk order; raises the embedder's error if its call failed.
        ``on_embedded(n, seconds)`` is told what the embedder did for this batch."""
        if not batch.chunks:
            return None
        if batch.error is not None:
            raise batch.error
        hashes = [c.content_hash for c in batch.chunks]
        vectors: list[np.ndarray | None] = [batch.cached.get(i) for i in range(len(hashes))]
        if batch.to_embed:
            assert batch.fresh is not None
            if on_embedded is not None:
                on_embedded(len(batch.to_embed), batch.embed_seconds)
            by_hash = {hashes[i]: batch.fresh[row] for row, i in enumerate(batch.to_embed)}
            for i, h in enumerate(hashes):
                if vectors[i] is None and h in by_hash:
                    vectors[i] = by_hash[h]
            self.cache.store(list(by_hash), batch.fresh)
            report.chunks_embedded += len(batch.to_embed)
            report.tokens_embedded += sum(batch.chunks[i].token_count for i in batch.to_embed)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:  # embedded by an earlier batch (now in the cache), or that batch failed
            found, still = self.cache.lookup([hashes[i] for i in missing])
            for j, i in enumerate(missing):
                vectors[i] = found.get(j)
            if still:
                texts = {hashes[missing[j]]: batch.chunks[missing[j]].text for j in still}
                fresh = self.embedder.embed(list(texts.values()))
                self.cache.store(list(texts), fresh)
                by_hash = dict(zip(texts, fresh))
                for j in still:
                    vectors[missing[j]] = by_hash[hashes[missing[j]]]
                report.chunks_embedded += len(texts)
        return np.vstack(vectors).astype(np.float32)  # type: ignore[arg-type]

    def release(self, batch: Batch) -> None:
        """The batch is written (or failed): its claims on texts end."""
        for i in batch.to_embed:
            h = batch.chunks[i].content_hash
            if self._embedding.get(h) == batch.seq:
                del self._embedding[h]
