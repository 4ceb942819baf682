"""Metadata filters (ragline/store/filters.py) through the local store's two retrievers and hybrid.

Expected results come from a plain-Python predicate over each chunk's metadata, so a filter the
store gets wrong (or applies after truncation) fails here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from ragline.errors import QueryError
from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk
from ragline.store.filters import AnyOf, Not, Prefix, Range, parse_filter, parse_where
from ragline.store.local import LocalStore
from ragline.store.local.store import SMALL_ROWID_SET
from tests.store.contract import vectors_for

KINDS = ["pdf", "html", "md", "jsonl"]


def chunk(doc: str, index: int, text: str, **metadata) -> Chunk:
    doc_id = make_doc_id("test", doc)
    digest = content_hash(text)
    return Chunk(make_chunk_id(doc_id, index, digest), doc_id, index, text, 0, len(text), len(text.split()),
                 digest, {"uri": doc, **metadata})


def small_corpus() -> list[Chunk]:
    """60 chunks over 12 documents in 3 folders, with kinds, years (some as strings) and dates
    (some with a time zone, so string order and time order disagree)."""
    chunks = []
    for i in range(60):
        doc = f"file:///docs/{['a', 'ab', 'b'][i % 3]}/doc{i % 12}.txt"
        year = 1980 + i if i % 5 else str(1980 + i)
        when = datetime(2021, 3, 1, tzinfo=timezone.utc) + timedelta(hours=7 * i)
        stamp = when.astimezone(timezone(timedelta(hours=-5))).isoformat() if i % 2 else when.date().isoformat()
        chunks.append(chunk(doc, i, f"document {i} about filters and words w{i}", kind=KINDS[i % 4],
                            year=year, date=stamp, draft=i % 7 == 0))
    return chunks


def when(metadata) -> datetime:
    moment = datetime.fromisoformat(metadata["date"])
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


MARCH_3 = datetime(2021, 3, 3, tzinfo=timezone.utc)
# (filter, the same condition as a plain-Python predicate on metadata)
CASES = {
    "eq (dict form)": ({"kind": "pdf"}, lambda m: m["kind"] == "pdf"),
    "eq op": ({"kind": {"eq": "html"}}, lambda m: m["kind"] == "html"),
    "bool eq": ({"draft": True}, lambda m: m["draft"]),
    "ne": ({"kind": {"ne": "pdf"}}, lambda m: m["kind"] != "pdf"),
    "in": ({"kind": {"in": ["pdf", "html"]}}, lambda m: m["kind"] in ("pdf", "html")),
    "not_in": ({"kind": {"not_in": ["pdf", "html", "md"]}}, lambda m: m["kind"] == "jsonl"),
    "gte int": ({"year": {"gte": 2020}}, lambda m: int(m["year"]) >= 2020),
    "gt+lt": ({"year": {"gt": 1990, "lt": 2000}}, lambda m: 1990 < int(m["year"]) < 2000),
    "lte numeric string": ({"year": {"lte": "1985"}}, lambda m: int(m["year"]) <= 1985),
    "date gte": ({"date": {"gte": "2021-03-03"}}, lambda m: when(m) >= MARCH_3),
    "date lt with time": ({"date": {"lt": "2021-03-03T00:00:00Z"}}, lambda m: when(m) < MARCH_3),
    "prefix": ({"uri": {"prefix": "file:///docs/a/"}}, lambda m: m["uri"].startswith("file:///docs/a/")),
    "prefix no slash": ({"uri": {"prefix": "file:///docs/a"}}, lambda m: m["uri"].startswith("file:///docs/a")),
    "not": ({"not": {"kind": "jsonl"}}, lambda m: m["kind"] != "jsonl"),
    "not of AND": ({"not": {"kind": "pdf", "year": {"lt": 2000}}},
                   lambda m: not (m["kind"] == "pdf" and int(m["year"]) < 2000)),
    "not of range": ({"not": {"year": {"gte": 2000}}}, lambda m: int(m["year"]) < 2000),
    "not of prefix": ({"not": {"uri": {"prefix": "file:///docs/b/"}}},
                      lambda m: not m["uri"].startswith("file:///docs/b/")),
    "not of ne (double negation)": ({"not": {"kind": {"ne": "md"}}}, lambda m: m["kind"] == "md"),
    "not of not of range": ({"not": {"not": {"year": {"gte": 2000}}}}, lambda m: int(m["year"]) >= 2000),
    "broad range": ({"year": {"gte": 1985}}, lambda m: int(m["year"]) >= 1985),  # BM25 excludes the rest
    "list of nots": ({"not": [{"kind": "pdf"}, {"kind": "md"}]}, lambda m: m["kind"] in ("html", "jsonl")),
    "combined": ({"kind": {"in": ["pdf", "html"]}, "year": {"gte": 1990},
                  "uri": {"prefix": "file:///docs/a"}, "not": {"draft": True}},
                 lambda m: m["kind"] in ("pdf", "html") and int(m["year"]) >= 1990
                 and m["uri"].startswith("file:///docs/a") and not m["draft"]),
    "list form": ([{"year": {"gte": 1990}}, {"year": {"lt": 2010}}, {"kind": "md"}],
                  lambda m: 1990 <= int(m["year"]) < 2010 and m["kind"] == "md"),
    "nothing": ({"kind": "pdf", "year": {"gt": 3000}}, lambda m: False),
    "missing key ne": ({"colour": {"ne": "red"}}, lambda m: True),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from ragline.embed.hashing import HashingEmbedder
    from ragline.engine import Engine

    engine = Engine.open(f"local:{tmp_path_factory.mktemp('filters') / 'store'}", embedder=HashingEmbedder(32))
    chunks = small_corpus()
    engine.store.upsert(chunks, engine.embedder.embed([c.text for c in chunks]))
    engine.store.flush()
    yield engine, chunks
    engine.close()


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
@pytest.mark.parametrize("name", list(CASES))
def test_each_operator_in_each_mode(engine, name, mode):
    engine, chunks = engine
    filter, predicate = CASES[name]
    expected = {c.chunk_id for c in chunks if predicate(c.metadata)}
    hits = engine.search("document filters", 100, mode=mode, filter=filter, snippets=False)
    assert {h.chunk.chunk_id for h in hits} == expected
    if name != "missing key ne":
        assert 0 < len(expected) < len(chunks) or name == "nothing"


def test_plain_equality_dict_is_unchanged(engine):
    engine, chunks = engine
    old_style = engine.store.search_text("document", 100, filter={"kind": "md", "draft": False})
    assert {h.chunk.chunk_id for h in old_style} == \
        {c.chunk_id for c in chunks if c.metadata["kind"] == "md" and not c.metadata["draft"]}


@pytest.mark.parametrize("bad, message", [
    ({"kind": {"like": "p%"}}, "unknown operator 'like'"),
    ({"year": {"gte": "last year"}}, "needs a number or an ISO date"),
    ({"year": {"gte": [1990]}}, "needs a number or an ISO date"),
    ({"kind": {"in": "pdf"}}, "needs a list"),
    ({"kind": {"in": []}}, "at least one value"),
    ({"kind": {}}, "empty operator"),
    ({"kind": ["pdf"]}, "must be a string, number or boolean"),
    ({"uri": {"prefix": ""}}, "prefix needs a non-empty string"),
    ({"not": {}}, "'not' needs"),
    ({"": "x"}, "non-empty string"),
    ({"a=b": "x"}, "without '='"),
    ("kind=pdf", "a filter is a dict"),
])
def test_invalid_filters_raise_query_error(engine, bad, message):
    engine, _chunks = engine
    with pytest.raises(QueryError, match=message):
        engine.search("document", 5, filter=bad)
    with pytest.raises(QueryError, match=message):
        engine.store.search_vector(np.ones(32, dtype=np.float32), 5, filter=bad)
    with pytest.raises(QueryError, match=message):
        engine.store.search_text("document", 5, filter=bad)


def test_parse_filter_shapes():
    assert parse_filter({"kind": "pdf"}) == (AnyOf("kind", ("pdf",)),)
    assert parse_filter({"year": {"gte": 1990, "lt": "2000"}}) == (Range("year", "gte", 1990.0),
                                                                   Range("year", "lt", 2000.0))
    assert parse_filter({"d": {"gt": "1970-01-02"}}) == (Range("d", "gt", 86400.0),)
    assert parse_filter({"d": {"gt": "1970-01-01T01:00:00+01:00"}}) == (Range("d", "gt", 0.0),)
    assert parse_filter({"k": {"ne": 3}}) == (Not((AnyOf("k", (3,)),)),)
    assert parse_filter({"uri": {"prefix": "file:///x/"}}) == (Prefix("uri", "file:///x/"),)
    assert parse_filter(None) == parse_filter({}) == parse_filter([]) == ()


@pytest.mark.parametrize("expression, expected", [
    ("kind=pdf", {"kind": {"eq": "pdf"}}),
    ("kind == pdf", {"kind": {"eq": "pdf"}}),
    ("kind!=pdf", {"kind": {"ne": "pdf"}}),
    ("year>=1990", {"year": {"gte": "1990"}}),
    ("year > 1990", {"year": {"gt": "1990"}}),
    ("year<2000", {"year": {"lt": "2000"}}),
    ("date<=2021-06-01", {"date": {"lte": "2021-06-01"}}),
    ("kind in pdf,html", {"kind": {"in": ["pdf", "html"]}}),
    ("kind IN pdf, html", {"kind": {"in": ["pdf", "html"]}}),
    ("kind not in pdf,html", {"kind": {"not_in": ["pdf", "html"]}}),
    ("uri^=file:///docs/", {"uri": {"prefix": "file:///docs/"}}),
    ("not kind=pdf", {"not": {"kind": {"eq": "pdf"}}}),
    ("title=a=b", {"title": {"eq": "a=b"}}),
])
def test_parse_where(expression, expected):
    assert parse_where(expression) == expected
    parse_filter(expected)


@pytest.mark.parametrize("expression", ["kind", "kind=", ">=3", "kind ~ pdf", ""])
def test_parse_where_rejects(expression):
    with pytest.raises(QueryError, match="cannot read the filter"):
        parse_where(expression)


# ----- selectivity: 0.1% of 5,000 chunks ---------------------------------------------------------------
N = 5000


def big_corpus() -> list[Chunk]:
    start = date(2000, 1, 1)
    return [chunk(f"file:///docs/d{i % 1000}/f{i}.txt", 0, f"document number {i}",
                  kind="rare" if i % 1000 == 999 else "txt", year=1000 + i, code=f"c{i}",
                  day=(start + timedelta(days=i)).isoformat()) for i in range(N)]


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    store = LocalStore(tmp_path_factory.mktemp("big") / "s")
    chunks = big_corpus()
    store.upsert(chunks, vectors_for(chunks))
    store.flush()
    yield store, chunks
    store.close()


SELECTIVE = {
    "range": ({"year": {"gte": 1000 + N - 5}}, lambda m: m["year"] >= 1000 + N - 5),
    "date range": ({"day": {"lt": "2000-01-06"}}, lambda m: m["day"] < "2000-01-06"),
    "in": ({"code": {"in": ["c7", "c77", "c777", "c1777", "c4777"]}},
           lambda m: m["code"] in ("c7", "c77", "c777", "c1777", "c4777")),
    "prefix": ({"uri": {"prefix": "file:///docs/d7/"}}, lambda m: m["uri"].startswith("file:///docs/d7/")),
    "not": ({"not": {"kind": "txt"}}, lambda m: m["kind"] != "txt"),
    "not_in": ({"kind": {"not_in": ["txt"]}}, lambda m: m["kind"] != "txt"),
}


@pytest.mark.parametrize("name", list(SELECTIVE))
def test_selective_filters_still_return_k(big_store, name):
    store, chunks = big_store
    filter, predicate = SELECTIVE[name]
    expected = {c.chunk_id for c in chunks if predicate(c.metadata)}
    assert len(expected) == 5  # 0.1% of the corpus
    query = vectors_for(chunks[:1])[0]
    assert {h.chunk.chunk_id for h in store.search_vector(query, 5, filter=filter)} == expected
    assert {h.chunk.chunk_id for h in store.search_text("document", 5, filter=filter)} == expected


def test_broad_negation_keeps_bm25_ranking(big_store):
    """A filter passing almost everything (BM25 then excludes the complement) still ranks by BM25."""
    store, chunks = big_store
    plain = store.search_text("number 4242", 3)
    assert plain[0].chunk.text == "document number 4242"
    filtered = store.search_text("number 4242", 3, filter={"kind": {"ne": "rare"}})
    assert [h.chunk.chunk_id for h in filtered] == [h.chunk.chunk_id for h in plain]
    assert [h.score for h in filtered] == pytest.approx([h.score for h in plain])
    excluded = store.search_text("number 4242", 3, filter={"code": {"ne": "c4242"}})
    assert all(h.chunk.text != "document number 4242" for h in excluded) and len(excluded) == 3
    # Broad ranges (above SMALL_ROWID_SET rows and half the store) exclude the complement's rows.
    broad = {"year": {"gt": 1000}}
    assert len(store.allowed_rowids(broad)) > max(SMALL_ROWID_SET, N // 2)
    ranged = store.search_text("number 4242", 3, filter=broad)
    assert ranged[0].chunk.chunk_id == plain[0].chunk.chunk_id  # the rest tie on 'number'
    assert [h.score for h in ranged] == pytest.approx([h.score for h in plain])
    below = store.search_text("number 4242", 3, filter={"year": {"lt": 1000 + 4242}})
    assert len(below) == 3 and all(h.chunk.metadata["year"] < 1000 + 4242 for h in below)


# ----- deletes, reopen, rebuild, and stores written before range filters ------------------------------
def _ids(hits):
    return {h.chunk.chunk_id for h in hits}


def _check_all(store, chunks, filter, predicate):
    expected = {c.chunk_id for c in chunks if predicate(c.metadata)}
    query = vectors_for(chunks[:1])[0]
    assert _ids(store.search_vector(query, 100, filter=filter)) == expected
    assert _ids(store.search_text("document", 100, filter=filter)) == expected


FILTERS_AFTER_CHANGES = [CASES["gte int"], CASES["date gte"], CASES["prefix"], CASES["not"], CASES["in"],
                         CASES["combined"]]


def test_filters_after_deletes_reopen_and_rebuild(tmp_path):
    chunks = small_corpus()
    store = LocalStore(tmp_path / "s")
    store.upsert(chunks, vectors_for(chunks))
    store.flush()
    gone = {chunks[0].doc_id, chunks[1].doc_id}
    store.delete(sorted(gone))
    remaining = [c for c in chunks if c.doc_id not in gone]
    assert len(remaining) < len(chunks)
    for filter, predicate in FILTERS_AFTER_CHANGES:
        _check_all(store, remaining, filter, predicate)
    assert store.db.execute("SELECT count(*) FROM chunk_nums WHERE chunk NOT IN (SELECT id FROM chunks)"
                            ).fetchone()[0] == 0
    store.close()
    store = LocalStore(tmp_path / "s")
    for filter, predicate in FILTERS_AFTER_CHANGES:
        _check_all(store, remaining, filter, predicate)
    store.rebuild_indexes()
    for filter, predicate in FILTERS_AFTER_CHANGES:
        _check_all(store, remaining, filter, predicate)
    store.close()


def test_a_store_from_before_range_filters_is_migrated(tmp_path):
    chunks = small_corpus()
    store = LocalStore(tmp_path / "s")
    store.upsert(chunks, vectors_for(chunks))
    store.flush()
    # What an older ragline left behind: no chunk_nums rows and no migration mark.
    store.db.execute("DROP TABLE chunk_nums")
    store.db.execute("DELETE FROM meta WHERE key = 'chunk_nums'")
    store.close()
    store = LocalStore(tmp_path / "s")
    for filter, predicate in FILTERS_AFTER_CHANGES:
        _check_all(store, chunks, filter, predicate)
    store.close()


def test_prefix_with_regex_characters_and_newlines(tmp_path):
    """BM25 answers prefixes with a regex over tag terms: the prefix must be taken literally."""
    uris = ["file:///a-b/c+d(e)[f]{g}#h&i~j^k$l|m?n*o.p\\q/1.txt", "file:///a-b/c+d(e)[f]{g}#h&X.txt",
            "file:///a-bz/2.txt", "file:///a.b/3.txt", "file:///aXb/4.txt", "file:///日本/5.txt"]
    chunks = [chunk(uri, 0, f"document {i}", title=f"Line one\nline {i}") for i, uri in enumerate(uris)]
    store = LocalStore(tmp_path / "s")
    store.upsert(chunks, vectors_for(chunks))
    for field, prefix in [("uri", "file:///a-b/c+d(e)[f]{g}#h&i~j^k$l|m?n*o.p\\q/"), ("uri", "file:///a-b"),
                          ("uri", "file:///a.b/"), ("uri", "file:///日本/"), ("title", "Line one\nline 2")]:
        filter = {field: {"prefix": prefix}}
        _check_all(store, chunks, filter, lambda m: m[field].startswith(prefix))
        _check_all(store, chunks, {"not": filter}, lambda m: not m[field].startswith(prefix))
    store.close()


def test_filters_stay_inside_their_namespace(tmp_path):
    chunks = small_corpus()
    first, second = LocalStore(tmp_path / "s", "first"), LocalStore(tmp_path / "s", "second")
    first.upsert(chunks[:30], vectors_for(chunks[:30]))
    others = [chunk(c.metadata["uri"], c.index + 100, c.text + " other", **{k: v for k, v in c.metadata.items()
                                                                          if k != "uri"}) for c in chunks[30:]]
    second.upsert(others, vectors_for(others))
    for filter, predicate in FILTERS_AFTER_CHANGES + [CASES["broad range"], CASES["not of range"]]:
        _check_all(first, chunks[:30], filter, predicate)
        _check_all(second, others, filter, predicate)
    first.close()
    second.close()
