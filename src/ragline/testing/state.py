"""StateContract: the behaviour every state backend must have (ledger, dead letters, embedding
cache, near-duplicate index, meta, transactions), shipped so that a third-party backend runs the
same tests as the built-in ones.

    class TestMyState(StateContract):
        @pytest.fixture()
        def open_state(self, tmp_path):
            # each call opens the same state (empty at the first call); the suite closes them
            return lambda: MyState(tmp_path / "state")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import xxhash

from ragline.neardup import NearDupConfig, minhash_signature
from ragline.state.base import (
    EmbeddingCacheState,
    LedgerState,
    NearDupState,
    PrefetchingLedger,
    PrefetchingNearDup,
    RemovalJournal,
    State,
)

__all__ = ["StateContract"]

_WORDS = ("wing pressure shock laminar flow boundary layer turbulent drag lift airfoil chord span "
          "vortex mach reynolds nozzle jet stream heat transfer").split()


def _text(seed: int, n: int = 60) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), n))


def _doc(ledger: LedgerState, doc_id: str, file_uri: str, *, uri: str | None = None, text_hash: str = "h",
         duplicate_of: str | None = None, chunks: tuple[str, ...] = ("c1", "c2")) -> None:
    ledger.record_document(doc_id=doc_id, uri=uri or file_uri, file_uri=file_uri, version="v1",
                           text_hash=text_hash, title="T\x00itle", kind="md", duplicate_of=duplicate_of,
                           chunk_ids=chunks, metadata={"page": 3, "lang": "en"})


class StateContract:
    @pytest.fixture()
    def open_state(self) -> Callable[[], State]:
        raise NotImplementedError("a backend's test class provides open_state")

    @pytest.fixture()
    def state(self, open_state: Callable[[], State]) -> Iterator[Any]:
        opened: list[State] = []

        def make() -> State:
            opened.append(open_state())
            return opened[-1]

        make.first = make()  # type: ignore[attr-defined]
        yield make
        for s in reversed(opened):
            s.close()

    # ----- the protocols -----------------------------------------------------------------
    def test_implements_the_protocols(self, state: Any) -> None:
        s = state.first
        assert isinstance(s, State)
        assert isinstance(s.ledger("a"), LedgerState)
        assert isinstance(s.embedding_cache("m", "r"), EmbeddingCacheState)
        assert isinstance(s.near_dup("a", NearDupConfig()), NearDupState)

    # ----- ledger: files -----------------------------------------------------------------
    def test_file_records(self, state: Any) -> None:
        ledger = state.first.ledger("ns")
        assert ledger.file("file:///d/a.md") is None
        ledger.record_file("file:///d/a.md", "k1", "v1", "stored", kind="md")
        record = ledger.file("file:///d/a.md")
        assert (record.uri, record.stat_key, record.version, record.state, record.attempts) == \
            ("file:///d/a.md", "k1", "v1", "stored", 0)
        for expected in (1, 2):  # consecutive failures count up ...
            ledger.record_file("file:///d/a.md", "k2", None, "failed", stage="parse", error="bad\x00byte")
            assert ledger.file("file:///d/a.md").attempts == expected
        assert ledger.file("file:///d/a.md").stage == "parse"
        ledger.record_file("file:///d/a.md", "k3", "v3", "stored")  # ... and a success resets them
        assert ledger.file("file:///d/a.md").attempts == 0
        ledger.record_file("file:///d/b/c.md", "k", "v", "skipped")
        ledger.record_file("file:///dx/e.md", "k", "v", "stored")
        assert sorted(f.uri for f in ledger.files_under("file:///d/")) == ["file:///d/a.md", "file:///d/b/c.md"]
        assert [f.uri for f in ledger.files_under("file:///d/a.md")] == ["file:///d/a.md"]
        assert ledger.counts()["files_stored"] == 2 and ledger.counts()["files_skipped"] == 1
        ledger.reread_file("file:///d/a.md")
        assert (ledger.file("file:///d/a.md").stat_key, ledger.file("file:///d/a.md").version) == ("", None)
        ledger.forget_file("file:///d/a.md")
        assert ledger.file("file:///d/a.md") is None
        assert state.first.ledger("other").files_under("file:///") == []

    # ----- ledger: documents -------------------------------------------------------------
    def test_document_records(self, state: Any) -> None:
        ledger = state.first.ledger("ns")
        _doc(ledger, "d1", "file:///d/a.jsonl", uri="file:///d/a.jsonl#1", text_hash="h1")
        _doc(ledger, "d2", "file:///d/a.jsonl", uri="file:///d/a.jsonl#2", text_hash="h2", chunks=("c3",))
        _doc(ledger, "d3", "file:///e/b.md", text_hash="h3")
        doc = ledger.document("d1")
        assert doc is not None
        assert (doc.uri, doc.file_uri, doc.version, doc.text_hash, doc.duplicate_of, doc.chunk_ids) == \
            ("file:///d/a.jsonl#1", "file:///d/a.jsonl", "v1", "h1", None, ("c1", "c2"))
        assert set(ledger.documents_of_file("file:///d/a.jsonl")) == {"d1", "d2"}
        assert ledger.doc_ids_of_file("file:///d/a.jsonl") == {"d1", "d2"}
        assert ledger.count_documents_of_file("file:///d/a.jsonl") == 2
        assert sorted(d.doc_id for d in ledger.documents_by_uri_prefix("file:///d/")) == ["d1", "d2"]
        assert sorted(d.doc_id for d in ledger.all_documents()) == ["d1", "d2", "d3"]
        _doc(ledger, "d1", "file:///d/a.jsonl", uri="file:///d/a.jsonl#1", text_hash="h1b", chunks=("c9",))
        assert ledger.document("d1").chunk_ids == ("c9",) and ledger.document("d1").text_hash == "h1b"
        # (Document ids are made from the namespace, so they never meet across namespaces.)
        assert state.first.ledger("other").all_documents() == []

    def test_a_namespace_cannot_see_or_remove_anothers_documents(self, state: Any) -> None:
        # A server looks documents up by an id its caller sent: the ledger is the last guard.
        mine, theirs = state.first.ledger("tenant-a"), state.first.ledger("tenant-b")
        _doc(mine, "da", "file:///a.md", text_hash="ha")
        _doc(mine, "copy-a", "file:///a2.md", text_hash="ha", duplicate_of="da", chunks=())
        _doc(theirs, "db", "file:///b.md", text_hash="hb")
        assert theirs.document("da") is None and mine.document("db") is None
        assert theirs.remove_documents(["da", "copy-a"]) == []
        assert mine.document("da") is not None and mine.document("copy-a") is not None
        assert mine.remove_documents(["db"]) == []
        assert theirs.document("db") is not None
        assert [d.doc_id for d in theirs.all_documents()] == ["db"]
        assert mine.remove_documents(["da"]) == ["file:///a2.md"]
        assert mine.document("da") is None and theirs.document("db") is not None

    def test_duplicates_and_their_removal(self, state: Any) -> None:
        ledger = state.first.ledger("ns")
        _doc(ledger, "orig", "file:///o.md", text_hash="same")
        _doc(ledger, "copy", "file:///c.md", text_hash="same", duplicate_of="orig", chunks=())
        ledger.record_file("file:///c.md", "k", "v", "stored")
        assert ledger.original_of("same", "copy").doc_id == "orig"
        assert ledger.original_of("same", "orig") is None  # the copy is a duplicate, not an original
        assert ledger.counts()["documents"] == 2 and ledger.counts()["duplicates"] == 1
        orphaned = ledger.remove_documents(["orig"])
        assert orphaned == ["file:///c.md"]
        assert ledger.document("orig") is None and ledger.document("copy") is None
        assert ledger.file("file:///c.md").stat_key == ""  # so the next run reads the copy again
        assert ledger.remove_documents([]) == []

    # ----- dead letters ------------------------------------------------------------------
    def test_dead_letters(self, state: Any) -> None:
        ledger = state.first.ledger("ns")
        assert ledger.last_dead_letter("file:///x") is None
        ledger.dead_letter("file:///x", "parse", "first")
        ledger.dead_letter("file:///y", "embed", "other")
        ledger.dead_letter("file:///x", "parse", "second\x00")
        stage, reason = ledger.last_dead_letter("file:///x")
        assert stage == "parse" and reason.startswith("second")
        assert [u for u, _, _ in ledger.dead_letters()] == ["file:///x", "file:///y", "file:///x"]
        assert len(ledger.dead_letters(limit=1)) == 1
        assert state.first.ledger("other").dead_letters() == []

    # ----- embedding cache ---------------------------------------------------------------
    def test_embedding_cache(self, state: Any) -> None:
        s = state.first
        cache, other = s.embedding_cache("m", "r1"), s.embedding_cache("m", "r2")
        assert cache.key("abc") == xxhash.xxh3_128_digest(b"m\x1fr1\x1fabc")  # the same key in every backend
        vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
        assert cache.lookup(["a", "b"]) == ({}, [0, 1])
        with s.transaction():
            cache.store(["a", "b", "c"], vectors)
        cache.store(["a"], vectors[1:2])  # already cached: kept as it was
        found, missing = cache.lookup(["b", "x", "a", "a"])
        assert missing == [1]
        np.testing.assert_array_equal(found[0], vectors[1])
        np.testing.assert_array_equal(found[2], vectors[0])
        np.testing.assert_array_equal(found[3], vectors[0])
        assert (cache.hits, cache.misses) == (3, 3)
        assert other.lookup(["a"])[1] == [0]  # another revision never reuses a vector
        other.store(["a"], vectors[:1])
        assert cache.size() == 4
        with s.transaction():
            cache.record_counts(3, 1)
        cache.record_counts(1, 3)
        stats = s.embedding_cache("m", "r1").stats()
        assert stats["entries"] == 4 and (stats["lifetime_hits"], stats["lifetime_misses"]) == (4, 4)
        assert stats["lifetime_hit_rate"] == 0.5
        assert {m["model"]: m["entries"] for m in stats["models"]} == {"m@r1": 3, "m@r2": 1}
        assert cache.clear("m@r2") == 1
        assert cache.lookup(["a"])[1] == [] and other.lookup(["a"])[1] == [0]
        assert cache.clear() == 3
        assert cache.size() == 0 and cache.stats()["lifetime_hits"] == 0

    # ----- near-duplicate index ----------------------------------------------------------
    def test_near_dup_index(self, state: Any) -> None:
        config = NearDupConfig(threshold=0.8)
        index = state.first.near_dup("ns", config)
        base = _text(1, 200)
        near = base.replace("wing", "wings", 1)
        far = _text(2, 200)
        sig_base, sig_near, sig_far = (minhash_signature(t, config) for t in (base, near, far))
        assert index.query("n", sig_near) is None
        index.add("base", sig_base)
        index.add("base", sig_base)  # re-adding replaces
        index.add("far", sig_far)
        assert index.size() == 2
        match = index.query("n", sig_near)
        assert match is not None and match[0] == "base" and match[1] >= 0.8
        assert index.query("base", sig_base) is None  # never itself
        assert [d for d, _ in index.candidates(sig_base)] == ["base"]
        assert len(index.band_keys(sig_base)) == index.b
        assert state.first.near_dup("other", config).query("n", sig_near) is None
        index.remove(["base"])
        assert index.query("n", sig_near) is None and index.size() == 1
        index.add("base", sig_base)
        # Another threshold re-bands the stored signatures.
        rebanded = state.first.near_dup("ns", NearDupConfig(threshold=0.5))
        assert (rebanded.b, rebanded.r) != (index.b, index.r)
        assert rebanded.query("n", sig_near)[0] == "base"
        assert state.first.near_dup("ns", config).query("n", sig_near)[0] == "base"

    def test_near_dup_candidates_are_complete_and_ties_go_to_the_smallest_id(self, state: Any) -> None:
        """Dedup ranks the stored candidates together with the originals of a run still in flight
        (similarity, then the smallest doc id), so the index must give every stored signature that
        shares a band, in doc id order whatever the order they were added in, and ``query`` must
        break ties the same way: then one run and any split of it into runs name the same original."""
        config = NearDupConfig(threshold=0.8)
        index = state.first.near_dup("ns", config)
        base: Any = minhash_signature(_text(1, 200), config)
        left, right = base.copy(), base.copy()
        left[:10] += 1
        right[-10:] += 1  # each as like the base as the other, less like each other
        for doc_id, signature in (("m-right", right), ("b-left", left), ("z-base", base)):
            index.add(doc_id, signature)
        assert [d for d, _ in index.candidates(base)] == ["b-left", "m-right", "z-base"]
        assert index.query("z-base", base) == ("b-left", 118 / 128)
        index.remove(["b-left"])
        assert index.query("z-base", base) == ("m-right", 118 / 128)

    def test_batched_lookups_answer_as_single_ones(self, state: Any) -> None:
        """A ledger or near-dup index that prefetches (a round trip per file, not per document)
        answers exactly as without, also after a write between the prefetch and the question."""
        ledger = state.first.ledger("ns")
        _doc(ledger, "d1", "file:///a.md", text_hash="h1")
        _doc(ledger, "d2", "file:///b.md", text_hash="h2")
        if isinstance(ledger, PrefetchingLedger):
            ledger.prefetch_documents(["d1", "d2", "d3"], ["h1", "h2", "h3"])
        assert ledger.document("d1").text_hash == "h1" and ledger.document("d3") is None
        assert ledger.original_of("h3", "d3") is None and ledger.original_of("h1", "d1") is None
        _doc(ledger, "d2", "file:///b.md", text_hash="h2b", chunks=("c7",))  # a write in between
        _doc(ledger, "d4", "file:///c.md", text_hash="h3")
        assert ledger.document("d2").chunk_ids == ("c7",)
        assert ledger.original_of("h2", "d9") is None and ledger.original_of("h2b", "d9").doc_id == "d2"
        assert ledger.document("d4").text_hash == "h3"
        config = NearDupConfig(threshold=0.8)
        index = state.first.near_dup("ns", config)
        base: Any = minhash_signature(_text(1, 200), config)
        near: Any = minhash_signature(_text(1, 200).replace("wing", "wings", 1), config)
        index.add("base", base)
        if isinstance(index, PrefetchingNearDup):
            index.prefetch_candidates([near, base])
        assert [d for d, _ in index.candidates(near)] == ["base"]
        index.remove(["base"])
        assert index.candidates(base) == []

    def test_removal_journal(self, state: Any) -> None:
        """The commit protocol's journal: entries kept in order until cleared, per namespace, and
        written inside the state's transaction (a rolled-back one leaves none)."""
        s: Any = state.first
        assert isinstance(state.first, RemovalJournal), "without it a crash while removing leaves orphans"
        with s.transaction():
            s.journal_removal("ns", "0001-a", '{"chunks": {"d": ["c1"]}, "documents": []}')
            s.journal_removal("ns", "0002-b", '{"chunks": {}, "documents": ["d9"]}')
        with pytest.raises(RuntimeError):
            with s.transaction():
                s.journal_removal("ns", "0003-c", "{}")
                raise RuntimeError("boom")
        assert [token for token, _ in s.pending_removals("ns")] == ["0001-a", "0002-b"]
        assert s.pending_removals("other") == []
        with s.transaction():
            s.clear_removal("ns", "0001-a")
        assert state().pending_removals("ns") == [("0002-b", '{"chunks": {}, "documents": ["d9"]}')]

    # ----- meta, transactions, persistence -----------------------------------------------
    def test_meta(self, state: Any) -> None:
        s = state.first
        assert s.get_meta("ns", "config") is None
        with s.transaction():
            s.set_meta("ns", "config", '{"a": 1}')
        s.set_meta("ns", "config", '{"a": 2}')
        assert s.get_meta("ns", "config") == '{"a": 2}'
        assert s.get_meta("other", "config") is None

    def test_meta_prefix_listing_and_delete(self, state: Any) -> None:
        s = state.first
        with s.transaction():
            for key in ("job:b", "job:a", "job:c", "jobs", "job%x", "other:job:z"):
                s.set_meta("ns", key, key.upper())
            s.set_meta("ns2", "job:a", "elsewhere")
        assert s.meta_items("ns", "job:") == [("job:a", "JOB:A"), ("job:b", "JOB:B"), ("job:c", "JOB:C")]
        assert [k for k, _ in s.meta_items("ns", "job%")] == ["job%x"]  # no LIKE wildcards
        assert s.meta_items("ns", "nothing:") == []
        assert s.delete_meta("ns", "job:b") is True and s.delete_meta("ns", "job:b") is False
        with s.transaction():
            assert s.delete_meta("ns", "job:a") is True
        assert [k for k, _ in s.meta_items("ns", "job:")] == ["job:c"]
        assert s.get_meta("ns", "job:a") is None and s.get_meta("ns2", "job:a") == "elsewhere"
        assert s.get_meta("ns", "other:job:z") == "OTHER:JOB:Z"

    def test_failed_transaction_leaves_nothing(self, state: Any) -> None:
        s = state.first
        ledger = s.ledger("ns")
        with pytest.raises(RuntimeError):
            with s.transaction():
                ledger.record_file("file:///a", "k", "v", "stored")
                with s.transaction():  # nested: joins the outer one
                    s.set_meta("ns", "k", "v")
                raise RuntimeError("boom")
        assert ledger.file("file:///a") is None and s.get_meta("ns", "k") is None
        with s.transaction():
            ledger.record_file("file:///a", "k", "v", "stored")
        assert ledger.file("file:///a") is not None

    def test_persists_across_reopen(self, state: Any) -> None:
        s = state.first
        ledger = s.ledger("ns")
        with s.transaction():
            ledger.record_file("file:///a", "k", "v", "stored")
            _doc(ledger, "d", "file:///a")
            s.set_meta("ns", "config", "x")
            s.embedding_cache("m", "r").store(["h"], np.ones((1, 4), dtype=np.float32))
        again = state()
        assert again.ledger("ns").file("file:///a").version == "v"
        assert again.ledger("ns").document("d").chunk_ids == ("c1", "c2")
        assert again.get_meta("ns", "config") == "x"
        assert again.embedding_cache("m", "r").lookup(["h"])[1] == []
