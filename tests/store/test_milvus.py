"""The Milvus store on Milvus Lite (a file under tmp_path): the shipped store contract, the filter
translation table, namespaces, write batches, and the server-side hybrid search against
ragline's own fusion."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import ConfigError, QueryError
from ragline.search import hybrid_search
from ragline.store import Store, open_store
from ragline.store._milvus_expr import Layout, scalar_fields, to_expression
from ragline.store.filters import parse_filter
from ragline.store.milvus import Capabilities, MilvusStore
from ragline.testing.store import StoreContract, make_chunks, vectors_for


@pytest.fixture(params=["IP", "COSINE"])
def metric(request):
    """The contract runs once per vector metric."""
    return request.param


class TestMilvusLiteStore(StoreContract):
    @pytest.fixture()
    def make_store(self, tmp_path, metric):
        return lambda: open_store(f"milvus-lite:{tmp_path / 'm'}?metric={metric}")

    @pytest.fixture()
    def reopen(self, tmp_path, metric):
        def reopen_and_check():
            store = open_store(f"milvus-lite:{tmp_path / 'm'}")  # the collection keeps its metric
            assert store.stats()["metric"] == metric
            return store
        return reopen_and_check


LAYOUT = Layout(strings=("uri", "kind"), numbers=("page",))

# (filter, the Milvus expression it becomes): typed fields where the key has one, guarded JSON
# paths otherwise, prefixes as LIKE only without metacharacters, quotes and backslashes escaped.
TRANSLATIONS = [
    ({"kind": "pdf"}, 's_kind == "pdf"'),
    ({"kind": {"in": ["pdf", "md"]}}, 's_kind in ["pdf", "md"]'),
    ({"kind": {"ne": "pdf"}}, 'not (s_kind == "pdf")'),
    ({"kind": {"not_in": ["a", "b"]}}, 'not (s_kind in ["a", "b"])'),
    ({"kind": ""}, '((exists tags["kind"]) and (tags["kind"] == ""))'),
    ({"kind": True}, 's_kind == "true"'),
    ({"doc_id": "d1"}, 'doc_id == "d1"'),
    ({"page": 3}, "n_page == 3.0"),
    ({"page": {"in": [3, "4"]}}, "n_page in [3.0, 4.0]"),
    ({"page": "iii"}, '((exists tags["page"]) and (tags["page"] == "iii"))'),
    ({"page": {"gte": 2, "lt": 5}}, "(n_page >= 2.0) and (n_page < 5.0)"),
    ({"year": {"gt": 1990}}, '((exists nums["year"]) and (nums["year"] > 1990.0))'),
    ({"date": {"gte": "2021-03-01"}}, '((exists nums["date"]) and (nums["date"] >= 1614556800.0))'),
    ({"lang": {"in": ["en", "de"]}}, '((exists tags["lang"]) and (tags["lang"] == "en" or tags["lang"] == "de"))'),
    ({"uri": {"prefix": "file:///docs/"}}, '(s_uri like "file:///docs/%")'),
    ({"uri": {"prefix": "file:///100%_x"}}, '(s_uri >= "file:///100%_x" and s_uri < "file:///100%_y")'),
    ({"path": {"prefix": "a\\b"}},
     '((exists tags["path"]) and (tags["path"] >= "a\\\\b" and tags["path"] < "a\\\\c"))'),
    ({"title": 'say "hi"'}, '((exists tags["title"]) and (tags["title"] == "say \\"hi\\""))'),
    ({'we"ird': "x"}, '((exists tags["we\\"ird"]) and (tags["we\\"ird"] == "x"))'),
    ({"not": {"kind": "md", "page": 3}}, 'not ((s_kind == "md") and (n_page == 3.0))'),
    ([{"kind": "md"}, {"not": {"lang": "de"}}],
     '(s_kind == "md") and (not (((exists tags["lang"]) and (tags["lang"] == "de"))))'),
]


@pytest.mark.parametrize(("where", "expected"), TRANSLATIONS, ids=[str(t[0]) for t in TRANSLATIONS])
def test_filter_translation(where, expected):
    assert to_expression(parse_filter(where), LAYOUT) == expected


def test_scalar_fields_of_a_chunk():
    row = scalar_fields({"uri": "file:///a", "page": 3, "date": "2021-03-01", "flag": True, "big": "x" * 600},
                        "d1", LAYOUT)
    assert row["doc_id"] == "d1" and row["s_uri"] == "file:///a" and row["s_kind"] == ""
    assert row["n_page"] == 3.0 and row["nums"] == {"page": 3.0, "date": 1614556800.0}
    assert row["tags"] == {"uri": "file:///a", "page": "3", "date": "2021-03-01", "flag": "true"}
    assert np.isnan(scalar_fields({}, "d2", LAYOUT)["n_page"])


def test_layout_refuses_unusable_keys():
    with pytest.raises(ConfigError, match="typed Milvus field"):
        Layout(strings=("bad key",))
    with pytest.raises(ConfigError, match="both"):
        Layout(strings=("page",), numbers=("page",))


@pytest.mark.parametrize(("version", "full_text", "hybrid"), [
    ("milvus_lite-3.2.2", True, True), ("v2.3.5-lite", False, False), ("v2.4.9", False, True),
    ("v2.5.4", True, True), ("v2.6.0", True, True)])
def test_capabilities_follow_the_server_version(version, full_text, hybrid):
    capabilities = Capabilities.from_version(version)
    assert (capabilities.full_text, capabilities.server_hybrid) == (full_text, hybrid)


def test_namespaces_share_a_collection_but_not_their_chunks(tmp_path):
    uri = f"milvus-lite:{tmp_path / 'm'}"
    a = make_chunks("file:///a.txt", ["cats and dogs"])
    b = make_chunks("file:///b.txt", ["cats and mice"])
    with open_store(uri, "one") as one:
        one.upsert(a, vectors_for(a))
    with open_store(uri, "two") as two:
        two.upsert(b, vectors_for(b))
        assert two.count() == 1 and [h.chunk.chunk_id for h in two.search_text("cats", 5)] == [b[0].chunk_id]
        assert two.get([a[0].chunk_id]) == [] and two.delete([a[0].doc_id]) == 0
    with open_store(uri, "one") as one:
        assert one.count() == 1 and [h.chunk for h in one.search_vector(vectors_for(b)[0], 5)] == a


def test_a_write_batch_counts_its_own_writes_and_sends_them_at_the_end(tmp_path):
    store = open_store(f"milvus-lite:{tmp_path / 'm.db'}")
    assert isinstance(store, Store)
    a = make_chunks("file:///a.txt", ["one text", "two text"])
    b = make_chunks("file:///b.txt", ["three text"])
    with store.transaction():
        assert store.upsert(a, vectors_for(a)) == 2
        assert store.upsert(a, vectors_for(a)) == 0        # already in this batch
        assert store.upsert(b, vectors_for(b)) == 1
        assert store.delete([a[0].doc_id]) == 2            # the batch's own chunks
        assert store.upsert(a[:1], vectors_for(a[:1])) == 1  # and back again
        assert store.count() == 0                          # nothing sent yet
    assert store.count() == 2 and {c.chunk_id for c in store.get([a[0].chunk_id, b[0].chunk_id])} == \
        {a[0].chunk_id, b[0].chunk_id}
    assert (tmp_path / "m.db").exists()
    store.close()


def test_server_hybrid_agrees_with_ragline_fusion(tmp_path):
    rng = np.random.default_rng(3)
    words = "shock wave boundary layer heat transfer flutter wing pressure supersonic nozzle jet".split()
    chunks = make_chunks("file:///c.txt", [" ".join(rng.choice(words, 6)) + f" item{i}" for i in range(200)])
    with open_store(f"milvus-lite:{tmp_path / 'm'}") as store:
        store.upsert(chunks, vectors_for(chunks))
        assert isinstance(store, MilvusStore)
        for trial in range(3):
            vector = vectors_for(chunks[trial * 7:trial * 7 + 1])[0]
            query = " ".join(rng.choice(words, 3))
            server = store.search_hybrid(vector, query, 10, depth=40)
            client = hybrid_search(store, vector, query, 10, depth=40, feedback_chunks=0)
            assert [round(h.score, 6) for h in server] == [round(h.score, 6) for h in client]
            assert {h.chunk.chunk_id for h in server} == {h.chunk.chunk_id for h in client} or \
                server[-1].score == client[-1].score  # (a tie at the cut may be broken either way)
            assert [h.ranks for h in server] == [{"rrf": n} for n in range(1, len(server) + 1)]
        filtered = store.search_hybrid(vector, "wing", 5, filter={"uri": {"prefix": "file:///d"}})
        assert filtered == []


def test_dense_only_server_says_so(tmp_path):
    store = open_store(f"milvus-lite:{tmp_path / 'm'}")
    assert isinstance(store, MilvusStore)
    store.full_text = False  # what a Milvus 2.3 server gives (its smoke test runs the real one)
    with pytest.raises(QueryError, match="no full-text search"):
        store.search_text("cats", 5)
    store.close()


def test_missing_server_is_a_store_error():
    from ragline.errors import StoreError

    with pytest.raises(StoreError, match="cannot open Milvus store"):
        MilvusStore("milvus://127.0.0.1:9", server="http://127.0.0.1:9", timeout=1)


def test_uri_options(tmp_path):
    store = open_store(f"milvus-lite:{tmp_path / 'm'}?collection=docs&metric=COSINE&strings=kind,lang&numbers=year")
    chunks = make_chunks("file:///a.txt", ["one"], lang="en", year=2001)
    store.upsert(chunks, vectors_for(chunks))
    stats = store.stats()
    assert (stats["collection"], stats["metric"], stats["typed_strings"], stats["typed_numbers"]) == \
        ("docs", "COSINE", ["kind", "lang"], ["year"])
    assert len(store.search_vector(vectors_for(chunks)[0], 3, {"lang": "en", "year": {"gt": 2000}})) == 1
    store.close()
    with pytest.raises(ConfigError, match="unknown Milvus store option"):
        open_store(f"milvus-lite:{tmp_path / 'n'}?colection=x")
    with pytest.raises(ConfigError, match="metric"):
        open_store(f"milvus-lite:{tmp_path / 'n'}?metric=L2")


def test_a_store_opened_before_the_collection_existed_sees_it(tmp_path):
    uri = f"milvus-lite:{tmp_path / 'm'}"
    reader = open_store(uri)
    assert reader.count() == 0 and reader.search_text("cats", 5) == []
    chunks = make_chunks("file:///a.txt", ["cats and dogs"])
    with open_store(uri) as writer:
        writer.upsert(chunks, vectors_for(chunks))
        assert reader.count() == 1 and [h.chunk for h in reader.search_text("cats", 5)] == chunks
        assert reader.upsert(chunks, vectors_for(chunks)) == 0
    reader.close()


def test_read_only_open_of_a_missing_lite_file_is_a_config_error(tmp_path):
    from ragline.errors import ConfigError
    from ragline.store import open_store

    with pytest.raises(ConfigError, match="read-only commands never create"):
        open_store(f"milvus-lite:{tmp_path / 'absent.db'}", create=False)
    assert not (tmp_path / "absent.db").exists()
