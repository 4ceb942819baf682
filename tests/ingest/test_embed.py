"""Embed-with-cache as a unit: hits from the cache, each missing text embedded once per run,
vectors equal to the embedder's, what was embedded written back."""

from __future__ import annotations

import numpy as np

from ragline.ingest.batch import Batch, PendingDoc
from ragline.ingest.embed import CachedEmbedding
from ragline.records import IngestReport, Outcome


def batch_of(seq, *units):
    return Batch(seq=seq, docs=[PendingDoc(u.doc, u.text_hash, u.doc.uri, u.chunks, (), Outcome.NEW) for u in units])


def run_embedder(embedding, batch):
    if batch.to_embed:
        batch.fresh = embedding.embedder.embed(embedding.texts_to_embed(batch))


def test_misses_embedded_once_hits_from_cache(units):
    engine, make = units
    a, b = make("a", "Wing flutter at transonic speed."), make("b", "Buffet onset on a swept wing.")
    embedding = CachedEmbedding(engine.cache, engine.embedder)
    first, second = batch_of(1, a, b), batch_of(2, make("a2", "Wing flutter at transonic speed."))
    embedding.prepare(first)
    embedding.prepare(second)  # the same text, still in flight: not embedded twice
    assert len(first.to_embed) == len(first.chunks) == 2 and second.to_embed == []
    report = IngestReport(namespace="default")
    run_embedder(embedding, first)
    vectors = embedding.vectors(first, report)
    embedding.release(first)
    expected = engine.embedder.embed([c.text for c in first.chunks])
    assert np.allclose(vectors, expected, atol=1e-6) and report.chunks_embedded == 2
    assert np.allclose(embedding.vectors(second, report), expected[:1], atol=1e-6)  # read back from the cache
    assert report.chunks_embedded == 2
    third = batch_of(3, b)
    embedding.prepare(third)
    assert third.to_embed == [] and set(third.cached) == {0}  # a hit


def test_an_embedder_error_is_raised_when_the_batch_is_collected(units):
    engine, make = units
    embedding = CachedEmbedding(engine.cache, engine.embedder)
    batch = batch_of(1, make("a", "Nozzle flow separation."))
    embedding.prepare(batch)
    batch.error = RuntimeError("model lost")
    try:
        embedding.vectors(batch, IngestReport(namespace="default"))
    except RuntimeError as exc:
        assert "model lost" in str(exc)
    else:
        raise AssertionError("the embedder's error was swallowed")
    assert engine.cache.lookup([batch.chunks[0].content_hash])[1] == [0]  # nothing cached
