"""Namespaces map to index folders injectively (issue 10 item 3); old layouts migrate on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragline.engine import Engine
from ragline.errors import ConfigError
from ragline.ids import make_doc_id
from ragline.store.local import LocalStore
from ragline.store.local._layout import legacy_dir_name, proposed_dir_name
from tests.store.contract import make_chunks, vectors_for

# Pairs the old mapping sent to one folder, and names a file system treats specially.
COLLIDING = [("a b", "a_b"), ("a.b", "a/b"), ("", "_"), ("..", "."), ("A", "a"), ("x" * 300, "x" * 301),
             ("a\x00", "a"), ("dé", "d_"), ("default", "default "), ("~", "_~")]


def _ingest(store: Path, namespace: str, folder: Path, embedder) -> Engine:
    engine = Engine.open(f"local:{store}", namespace=namespace, embedder=embedder, parse_workers=0)
    report = engine.ingest([folder])
    assert not report.failed, report.failed
    return engine


def _folder(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "doc.txt").write_text(text)
    return folder


def check_disjoint(tmp: Path, first: str, second: str, embedder) -> None:
    """Two namespaces of one store share no folder, file, index or row, and each verifies clean,
    also after the other is repaired (rebuilt)."""
    store = tmp / "store"
    folder_a = _folder(tmp, "a", "apples and pears grow in the orchard")
    folder_b = _folder(tmp, "b", "submarines dive under the cold ocean")
    engines = [_ingest(store, first, folder_a, embedder), _ingest(store, second, folder_b, embedder)]
    try:
        dirs = [e.store.index_dir for e in engines]
        assert dirs[0] != dirs[1] and dirs[0].parent == dirs[1].parent == store / "index"
        assert all(d.is_dir() and d.name not in ("", ".", "..") for d in dirs)
        files = [{p.resolve() for p in d.rglob("*") if p.is_file()} for d in dirs]
        assert files[0] and files[1] and not files[0] & files[1]
        rows = [{c for (c,) in e.store.db.execute("SELECT chunk_id FROM chunks WHERE namespace = ?",
                                                 (e.config.namespace,))} for e in engines]
        assert rows[0] and rows[1] and not rows[0] & rows[1]
        docs = [{d.doc_id for d in e.ledger.all_documents()} for e in engines]
        assert len(docs[0]) == len(docs[1]) == 1 and not docs[0] & docs[1]
        for engine, word in zip(engines, ("orchard", "submarines")):
            assert engine.verify()["drift"] == 0
            hits = engine.search(word, 5, mode="bm25")
            assert len(hits) == 1 and word in hits[0].chunk.text
        # A repair of one rebuilds its own indexes only: the other keeps its BM25 documents.
        engines[0].store.rebuild_indexes()
        assert engines[1].store.bm25.num_docs() == 1
        assert engines[1].search("submarines", 5, mode="bm25")
        assert engines[1].verify()["drift"] == 0 and engines[0].verify()["drift"] == 0
    finally:
        for engine in engines:
            engine.close()


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_names_the_old_layout_merged_get_folders_of_their_own(tmp_path, first, second, hashing_embedder):
    check_disjoint(tmp_path, first, second, hashing_embedder)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(max_size=40), min_size=2, max_size=2, unique=True))
@example(names=["a b", "a_b"])
def test_any_two_namespace_texts_never_share_storage(tmp_path_factory, hashing_embedder, names):
    check_disjoint(tmp_path_factory.mktemp("ns"), names[0], names[1], hashing_embedder)


@given(first=st.text(max_size=30), second=st.text(max_size=30), uri=st.text(max_size=30))
@example(first="a", second="b", uri="c")
def test_doc_ids_of_two_namespaces_never_meet(first, second, uri):
    """doc_id = hash(namespace, uri) with an unambiguous encoding: a separator inside a name or
    a uri (a JSONL record id may hold one) cannot make two namespaces' documents one row."""
    if first != second:
        assert make_doc_id(first, uri) != make_doc_id(second, uri)
    assert make_doc_id(first + "\x1f" + second, uri) != make_doc_id(first, second + "\x1f" + uri)


def test_doc_ids_of_ordinary_names_are_unchanged():
    import xxhash

    assert make_doc_id("default", "file:///a.txt") == xxhash.xxh3_128_hexdigest(b"doc\x1fdefault\x1ffile:///a.txt")


def test_plain_names_keep_their_folder_and_others_are_escaped():
    assert proposed_dir_name("default") == "default"
    assert proposed_dir_name("team-1_docs") == "team-1_docs"
    escaped = proposed_dir_name("my docs")
    assert escaped.startswith("my_docs~") and len(escaped) < 64
    assert proposed_dir_name("x" * 1000).startswith("x" * 32 + "~")
    assert proposed_dir_name("").startswith("~") and proposed_dir_name("..").startswith("~")


def test_a_namespace_that_is_not_unicode_text_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="namespace"):
        LocalStore(tmp_path / "s", namespace="bad\udcff")


def _old_layout_store(path: Path, namespaces: list[str]) -> None:
    """A store as ragline wrote it before namespace folders were recorded: folders named by the
    old lossy mapping, no ``namespace_dirs`` table, no migration mark."""
    for namespace in namespaces:
        with LocalStore(path, namespace) as store:
            chunks = make_chunks(f"file:///{legacy_dir_name(namespace)}-{len(namespace)}.txt",
                                 [f"text of {namespace!r}", "shared words"])
            store.upsert(chunks, vectors_for(chunks))
            store.flush()
    index = path / "index"
    with sqlite3.connect(path / "ragline.db") as db:
        recorded = dict(db.execute("SELECT namespace, dir FROM namespace_dirs"))
        db.execute("DROP TABLE namespace_dirs")
        db.execute("DELETE FROM meta WHERE key = 'namespace_dirs_migrated'")
    for namespace in namespaces:  # move each folder to the name the old code gave it
        old = index / legacy_dir_name(namespace)
        current = index / recorded[namespace]
        if current != old:
            if old.exists():
                import shutil

                shutil.rmtree(current)  # the collided pair: the old code kept one folder for both
            else:
                current.rename(old)


def test_a_store_laid_out_the_old_way_migrates_on_open(tmp_path):
    path = tmp_path / "s"
    _old_layout_store(path, ["default", "my docs", "a b", "a_b"])
    index = path / "index"
    assert sorted(p.name for p in index.iterdir()) == ["a_b", "default", "my_docs"]
    bm25_files = {p.name: p.stat().st_mtime_ns for p in (index / "default" / "bm25").iterdir()}
    with LocalStore(path, "default") as store:
        # Kept: the folder only 'default' used, its BM25 files as they were (nothing rebuilt).
        assert store.index_dir == index / "default"
        assert len(store.search_text("shared text", 5)) == 2 and store.problems == []
    assert {p.name: p.stat().st_mtime_ns for p in (index / "default" / "bm25").iterdir()} == bm25_files
    with LocalStore(path, "my docs") as store:
        assert store.index_dir == index / "my_docs"
        assert len(store.search_text("shared text", 5)) == 2 and store.problems == []
    # 'a b' and 'a_b' shared 'a_b': neither may keep it; each rebuilds its own from SQLite.
    dirs = set()
    for namespace in ("a b", "a_b"):
        with LocalStore(path, namespace) as store:
            dirs.add(store.index_dir)
            hits = store.search_text("text", 5)
            assert [h.chunk.text for h in hits] == [f"text of {namespace!r}"]
    assert len(dirs) == 2
    with sqlite3.connect(path / "ragline.db") as db:
        recorded = dict(db.execute("SELECT namespace, dir FROM namespace_dirs"))
    assert recorded["default"] == "default" and recorded["my docs"] == "my_docs"
    assert len(set(recorded.values())) == len(recorded) == 4


def test_read_only_commands_do_not_create_a_namespace(tmp_path):
    with LocalStore(tmp_path / "s", "default"):
        pass
    with pytest.raises(ConfigError, match="no namespace 'typo'.*'default'"):
        LocalStore(tmp_path / "s", "typo", create=False)
    with pytest.raises(ConfigError, match="no ragline store"):
        LocalStore(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()
