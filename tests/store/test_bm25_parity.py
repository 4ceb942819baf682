"""BM25 parity with bm25s on Cranfield: same analyzer, same k1/b, scores compared document by document.

Both sides see exactly the same tokens (the tantivy index's own analyzer: simple tokenizer,
lowercase, Snowball English stop list, Porter2 stemmer, feeds bm25s too), so what is left to
compare is the scoring. bm25s runs with method "lucene" and tantivy's constants (k1 = 1.2,
b = 0.75). What differs, and how much:

* tantivy multiplies every term by (k1 + 1) (Robertson's original form); bm25s's "lucene" method
  leaves it out. A constant factor: scores are compared as tantivy / ((k1 + 1) * bm25s).
* IDF: both use log(1 + (N - n + 0.5) / (n + 0.5)), N and n counted over the same documents.
* avgdl: both use total tokens / documents, exactly.
* Document length: tantivy stores it in one byte (fieldnorm; `FIELD_NORMS_TABLE` in tantivy's
  src/fieldnorm/code.rs), exact up to 40 tokens, then rounded *down* to the lower edge of a bucket
  at most 1/8 of that edge wide (40, 42, ..., 56, 60, ..., 88, 96, ..., 536, 600, ...). A shorter
  dl only lowers k1 * (1 - b + b * dl / avgdl), so tantivy's term score is never below bm25s's,
  and above it by at most the factor dl / dl_quantised < 1 + 1/8. Every term of a document sees
  the same dl, so the same bounds hold for the document's sum.

So for every (query, document) pair: 1 <= ratio < 1.125 (float32: 1e-5 slack), and exactly 1
for documents of at most 40 tokens. A query whose repeated terms counted once would fall below 1
on every document holding such a term (64 of the 225 queries repeat a term after analysis).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragline.store.local.bm25 import Bm25Index

bm25s = pytest.importorskip("bm25s")

CRANFIELD = Path(__file__).resolve().parents[2] / "datasets" / "cranfield"
K1, B = 1.2, 0.75  # tantivy's constants (src/query/bm25.rs), not configurable from Python
FLOAT32_SLACK = 1e-5
QUANTISATION_BOUND = 1.125


@pytest.fixture(scope="module")
def cranfield(tmp_path_factory):
    docs = [json.loads(line) for line in (CRANFIELD / "corpus.jsonl").open()]
    queries = [json.loads(line)["text"] for line in (CRANFIELD / "queries.jsonl").open()]
    texts = [f"{d['title']}\n\n{d['text']}" for d in docs]
    index = Bm25Index(tmp_path_factory.mktemp("bm25") / "bm25")
    index.add([(rowid, text, []) for rowid, text in enumerate(texts)])
    index.commit(1)
    tokens = [index._analyzer.analyze(text) for text in texts]
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index(tokens, show_progress=False)
    yield index, reference, queries, np.array([len(t) for t in tokens])
    index.close()


def test_scores_match_bm25s_within_fieldnorm_quantisation(cranfield):
    index, reference, queries, lengths = cranfield
    ratios, short_ratios, overlaps, repeating = [], [], [], 0
    for query in queries:
        query_tokens = index._analyzer.analyze(query)
        repeating += len(set(query_tokens)) < len(query_tokens)
        expected = reference.get_scores(query_tokens) * (K1 + 1)
        got = dict(index.search(query, len(lengths)))
        assert set(got) == set(np.flatnonzero(expected).tolist()), query   # the same documents match
        for rowid, score in got.items():
            ratio = score / expected[rowid]
            ratios.append(ratio)
            if lengths[rowid] <= 40:
                short_ratios.append(ratio)
        top_expected = set(np.argsort(-expected, kind="stable")[:10].tolist())
        top_got = sorted(got, key=lambda rowid: -got[rowid])[:10]
        overlaps.append(len(top_expected.intersection(top_got)) / 10)
    ratios_array = np.array(ratios)
    assert repeating == 64                   # the parity covers queries that repeat a term
    assert ratios_array.min() >= 1 - FLOAT32_SLACK
    assert ratios_array.max() < QUANTISATION_BOUND + FLOAT32_SLACK
    assert len(short_ratios) > 100 and np.allclose(short_ratios, 1.0, rtol=FLOAT32_SLACK, atol=0)
    # Rounding dl reorders near ties only: the top 10 agree almost everywhere.
    assert np.mean(overlaps) >= 0.95


def test_a_repeated_query_term_counts_once_per_occurrence(tmp_path):
    index = Bm25Index(tmp_path / "bm25")
    index.add([(1, "heat transfer in a slab", []), (2, "pressure on a slab", [])])
    index.commit(1)
    slab = dict(index.search("slab", 5))
    once = dict(index.search("heat slab", 5))
    twice = dict(index.search("heat slab, heat", 5))   # tantivy's parser kept one of the two
    stemmed = dict(index.search("heated slab heats", 5))
    index.close()
    assert twice[2] == pytest.approx(slab[2], rel=1e-6)   # no heat in document 2: unchanged
    assert twice[1] - slab[1] == pytest.approx(2 * (once[1] - slab[1]), rel=1e-5)
    assert stemmed == pytest.approx(twice, rel=1e-6)     # counted after analysis, like the index
