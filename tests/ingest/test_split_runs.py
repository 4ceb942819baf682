"""Near-duplicate decisions do not depend on how an ordered sequence of documents is split into
ingest runs (or re-run after an interruption): the same documents kept, the same original named
for every duplicate, the same chunks stored."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.engine import Engine
from ragline.serve.uploads import upload_item

VOCABULARY = [f"{stem}{n}" for stem in ("owl", "heron", "finch", "wren", "lark", "kite", "crow", "tern")
              for n in range(40)]


def outcome(root: Path, runs: list[list[tuple[str, str]]], threshold: float,
            **options: Any) -> tuple[set[str], dict[str, str], int]:
    """(uris kept as originals, duplicate uri -> its original's uri, chunks in the store)."""
    with Engine.open(f"local:{root}", embedder="hashing:384", parse_workers=0, batch_chunks=8,
                     near_dup_threshold=threshold, **options) as engine:
        for run in runs:
            report = engine.ingest_items([upload_item("default", name, text.encode())
                                          for name, text in run])
            assert not report.failed
        docs = {d.doc_id: d for d in engine.ledger.all_documents()}
        kept = {d.uri for d in docs.values() if d.duplicate_of is None}
        copies = {d.uri: docs[d.duplicate_of].uri for d in docs.values() if d.duplicate_of is not None}
        return kept, copies, engine.store.count()


@st.composite
def sequences(draw: st.DrawFn) -> list[tuple[str, str]]:
    """30-80 documents of 40 words in families: each member is the family's base with up to two
    words changed, so members one edit apart are near copies and two edits apart are not: chains
    (a ~ b ~ c with a !~ c), and documents near several originals at once (ties included). A few
    exact copies. Names are not in sequence order, so uri order and the sequence differ."""
    rnd: random.Random = draw(st.randoms(use_true_random=False))
    n = draw(st.integers(30, 80))
    bases: list[list[str]] = []
    texts: list[list[str]] = []
    for _ in range(n):
        roll = rnd.random()
        if texts and roll < 0.05:
            texts.append(list(rnd.choice(texts)))  # an exact copy
            continue
        if not bases or roll < 0.2:
            bases.append([rnd.choice(VOCABULARY) for _ in range(40)])
        words = list(rnd.choice(bases[-4:]))
        for _ in range(rnd.choice((0, 1, 1, 2))):
            words[rnd.randrange(len(words))] = rnd.choice(VOCABULARY)
        texts.append(words)
    names = [f"doc-{k}" for k in rnd.sample(range(1000), n)]
    return [(name, " ".join(words) + ".") for name, words in zip(names, texts, strict=True)]


@pytest.mark.slow  # ~16 s
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=sequences(), data=st.data())
def test_any_split_into_runs_decides_as_one_run(sequence, data):
    n = len(sequence)
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=4), label="cuts"))
    runs, start = [], 0
    for end in [*cuts, n]:
        # A run may begin before the previous one ended: a re-run after an interruption.
        overlap = data.draw(st.integers(0, start), label="re-run from") if start else 0
        runs.append(sequence[start - overlap:end])
        start = end
    with tempfile.TemporaryDirectory() as tmp:
        one = outcome(Path(tmp) / "one", [sequence], threshold=0.7)
        split = outcome(Path(tmp) / "split", runs, threshold=0.7)
    kept, copies, chunks = one
    assert copies, "the sequence has near-duplicates"  # (the property is not vacuous)
    assert split[0] == kept
    assert split[1] == copies
    assert split[2] == chunks


def reproduction(n: int) -> list[tuple[str, str]]:
    """The reported case: records named rec-0 .. rec-N in that order (not uri order), of 120 words
    in a period of 13, so each is a near copy of several before it."""
    words = "owl heron finch wren lark kite crow swift rook tern gull dove hawk".split()
    return [(f"rec-{i}", " ".join(words[(i * 7 + j) % len(words)] + str(j % 13) for j in range(120))
             + f" record {i}.") for i in range(n)]


def test_reproduction_one_run_three_runs_and_a_rerun_agree(tmp_path):
    """The reported case, scaled down: one call, three calls of 100, and 70 then a re-run of the
    first 100 then the rest."""
    records = reproduction(300)
    splits = {"one": [records], "three": [records[:100], records[100:200], records[200:]],
              "rerun": [records[:70], records[:100], records[100:200], records[200:]]}
    results = {name: outcome(tmp_path / name, runs, threshold=0.9) for name, runs in splits.items()}
    kept, copies, chunks = results["one"]
    assert len(copies) > 50 and len(kept) + len(copies) == 300
    assert results["three"] == results["one"] and results["rerun"] == results["one"]
