"""The one registry: lazy built-ins, run-time entries, third-party entry points, and the
message for an unknown scheme."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragline import registry
from ragline.embed import open_embedder
from ragline.errors import ConfigError
from ragline.queues import open_queue
from ragline.state import open_state
from ragline.store import open_store

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str, *, path: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": ":".join([SRC, *(path or [])]), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_opening_a_local_store_imports_no_other_backend(tmp_path: Path) -> None:
    result = _python(f"""
        import json, sys
        from ragline.store import open_store
        from ragline.state import open_state
        store = open_store("local:{tmp_path / 'store'}")
        state = open_state(None, store)
        state.close(); store.close()
        heavy = ("pymilvus", "milvus_lite", "psycopg", "redis", "ragline.store.milvus",
                 "ragline.state.postgres", "ragline.queues.redis", "ragline.engine")
        print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_every_builtin_entry_that_exists_resolves_to_its_module() -> None:
    for kind, table in registry.BUILTIN.items():
        for scheme, reference in table.items():
            module_name, _, attr = reference.partition(":")
            module = __import__(module_name, fromlist=[attr])
            assert registry.resolve(kind, scheme) is getattr(module, attr), (kind, scheme)


@pytest.mark.parametrize("opener, uri, kind", [
    (lambda uri: open_store(uri), "qdrant://h:6333", "store"),
    (lambda uri: open_state(uri, None), "mysql://h/db", "state"),
    (lambda uri: open_queue(uri), "kafka://h:9092", "queue"),
])
def test_unknown_scheme_lists_the_known_ones(opener, uri: str, kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        opener(uri)
    message = str(caught.value)
    scheme = uri.partition(":")[0]
    assert f"unknown {kind} scheme {scheme!r} in {uri!r}" in message
    assert "known: " + ", ".join(registry.known(kind)) in message
    with pytest.raises(ConfigError, match="unknown embedder 'bert:x'.*backends: auto, hashing"):
        open_embedder("bert:x")
    with pytest.raises(ConfigError, match="unknown source scheme 's3'; known: .*folder"):
        registry.resolve("source", "s3")


def test_register_at_run_time_wins_and_takes_a_reference(tmp_path: Path) -> None:
    from ragline.embed.hashing import HashingEmbedder

    registry.register("embedder", "tiny", "ragline.embed.specs:open_hashing")
    try:
        assert isinstance(open_embedder("tiny:8"), HashingEmbedder)
        assert open_embedder("tiny:8").dim == 8
        assert "tiny" in registry.known("embedder")
    finally:
        registry.unregister("embedder", "tiny")
    assert "tiny" not in registry.known("embedder")
    with pytest.raises(ConfigError, match="non-empty name without ':'"):
        registry.register("store", "a:b", "x:y")
    with pytest.raises(ConfigError, match="unknown registry kind 'index'"):
        registry.register("index", "x", "x:y")


def test_a_broken_reference_says_what_is_missing() -> None:
    registry.register("store", "ghost", "ragline_no_such_pkg.store:open")
    try:
        with pytest.raises(ConfigError, match="'ragline_no_such_pkg.store', which is not installed"):
            open_store("ghost:/x")
    finally:
        registry.unregister("store", "ghost")


def _plugin(tmp_path: Path) -> Path:
    """A tiny third-party package that registers the store scheme ``memo`` through an entry point,
    installed the way pip lays it out (a ``*.dist-info`` with ``entry_points.txt``)."""
    site = tmp_path / "site"
    (site / "ragline_memo").mkdir(parents=True)
    (site / "ragline_memo" / "__init__.py").write_text(textwrap.dedent('''
        from ragline.store.local.store import LocalStore

        class MemoStore(LocalStore):
            """A local store under another scheme, as a plugin would ship one."""

        def open_memo(rest, namespace, *, create=True):
            from pathlib import Path
            return MemoStore(Path(rest), namespace, create=create)
    '''))
    info = site / "ragline_memo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ragline-memo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ragline.stores]\nmemo = ragline_memo:open_memo\n"
                                           "local = ragline_memo:open_memo\n")
    (info / "RECORD").write_text("")
    return site


def test_a_third_party_store_opens_by_uri_through_its_entry_point(tmp_path: Path) -> None:
    site = _plugin(tmp_path)
    result = _python(f"""
        import json, sys
        import numpy as np
        from ragline import registry
        from ragline.records import Chunk
        from ragline.store import open_store
        known_before_use = registry.known("store")
        imported_before_use = "ragline_memo" in sys.modules
        with open_store("memo:{tmp_path / 'memo-store'}", "ns") as store:
            chunk = Chunk(chunk_id="c1", doc_id="d1", index=0, text="a plugin stored this",
                          start=0, end=20, token_count=4, content_hash="h", metadata={{}})
            vector = np.ones((1, 8), dtype=np.float32) / np.sqrt(8)
            store.upsert([chunk], vector)
            store.flush()
            found = [hit.chunk.text for hit in store.search_text("plugin", 1)]
            kind = type(store).__name__
        # a plugin cannot silently take over a built-in scheme
        local = type(registry.resolve("store", "local")).__name__, registry.resolve("store", "local").__module__
        print(json.dumps({{"known": known_before_use, "imported": imported_before_use, "found": found,
                          "kind": kind, "local": local}}))
    """, path=[str(site)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "memo" in report["known"] and not report["imported"]
    assert report["kind"] == "MemoStore" and report["found"] == ["a plugin stored this"]
    assert report["local"] == ["function", "ragline.store.local.store"]
    assert "is ignored: 'local' is a built-in store scheme" in result.stderr
