"""SourceContract: the behaviour every source must have, shipped so that a third-party source
(S3, a database table, a message stream) runs the same tests as the built-in ones.

    class TestMySource(SourceContract):
        @pytest.fixture()
        def world(self, tmp_path):
            return MyWorld(tmp_path)     # put(name, text), remove(name), source() -> Source

A *world* is the outside the source reads: ``put`` creates or changes one item's content,
``remove`` takes it away, ``source()`` opens a source over the world as it is now. The suite
checks that ``list()`` is deterministic and in uri order (unless ``ordered``), that every item
has a fingerprint (``stat_key`` and/or ``version``) that changes iff its content changes, that
``read`` returns what ``list`` promised, that a removed item is reported as vanished by a
complete listing, and that the Engine ingests the source incrementally (new, unchanged, changed,
deleted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pytest

from ragline.ingest.plan import vanished
from ragline.records import SourceItem
from ragline.sources.base import Listing, Source
from ragline.state.base import FileRecord

__all__ = ["SourceContract", "SourceWorld"]

_TEXTS = {
    "alpha": "Boundary layer transition on a flat plate at high Reynolds number.",
    "beta": "Shock wave interaction with a laminar boundary layer on a compression ramp.",
    "gamma": "Heat transfer to a blunt body in hypersonic flow, measured with thin-film gauges.",
}


class SourceWorld(Protocol):
    def put(self, name: str, text: str) -> None: ...

    def remove(self, name: str) -> None: ...

    def source(self) -> Source: ...


def _content(source: Source, item: SourceItem) -> bytes:
    content = source.read(item)
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    with content as stream:
        return stream.read()


def _fingerprint(item: SourceItem) -> tuple[str, str | None]:
    return item.stat_key, item.version


def _by_text(source: Source, listing: Listing) -> dict[str, SourceItem]:
    """Listed items keyed by which of the world's texts they hold."""
    found: dict[str, SourceItem] = {}
    for item in listing.items:
        data = _content(source, item).decode("utf-8")
        for name, text in _TEXTS.items():
            if text in data:
                found[name] = item
    return found


class SourceContract:
    @pytest.fixture()
    def world(self) -> SourceWorld:
        raise NotImplementedError("a source's test class provides world")

    @pytest.fixture()
    def filled(self, world: SourceWorld) -> SourceWorld:
        for name, text in _TEXTS.items():
            world.put(name, text)
        return world

    def test_implements_the_protocol(self, filled: SourceWorld) -> None:
        assert isinstance(filled.source(), Source)

    def test_list_is_deterministic_and_in_uri_order(self, filled: SourceWorld) -> None:
        first, second = filled.source().list(), filled.source().list()
        uris = [item.uri for item in first.items]
        # (an ``ordered`` listing, a sequence such as ItemsSource's, keeps the order it was given)
        assert (first.ordered or uris == sorted(uris)) and len(set(uris)) == len(uris) == len(_TEXTS)
        assert [(i.uri, _fingerprint(i)) for i in first.items] == [(i.uri, _fingerprint(i)) for i in second.items]
        assert not first.errors

    def test_every_item_has_a_fingerprint(self, filled: SourceWorld) -> None:
        for item in filled.source().list().items:
            assert item.stat_key or item.version, f"{item.uri} has neither stat_key nor version"

    def test_read_returns_what_list_promised(self, filled: SourceWorld) -> None:
        source = filled.source()
        listing = source.list()
        assert set(_by_text(source, listing)) == set(_TEXTS)
        for item in listing.items:
            data = _content(source, item)
            assert data == _content(source, item), "two reads of one item differ"
            if item.size:
                assert item.size == len(data)

    def test_fingerprint_changes_iff_content_changes(self, filled: SourceWorld) -> None:
        source = filled.source()
        before = {name: _fingerprint(item) for name, item in _by_text(source, source.list()).items()}
        filled.put("beta", _TEXTS["beta"] + " Revised: the ramp angle was 24 degrees.")
        source = filled.source()
        after = {name: _fingerprint(item) for name, item in _by_text(source, source.list()).items()}
        assert after["beta"] != before["beta"]
        assert {n: f for n, f in after.items() if n != "beta"} == {n: f for n, f in before.items() if n != "beta"}

    def test_removed_items_vanish_from_a_complete_listing(self, filled: SourceWorld) -> None:
        source = filled.source()
        before = source.list()
        gone = _by_text(source, before)["gamma"].uri
        filled.remove("gamma")
        after = filled.source().list()
        assert gone not in {item.uri for item in after.items}
        rows = [FileRecord(item.uri, item.stat_key, item.version, "stored", None, None, 1) for item in before.items]
        expected = [gone] if after.complete else []  # a partial listing never deletes
        assert vanished(after, rows, lambda uri: False) == expected

    def test_engine_ingests_it_incrementally(self, filled: SourceWorld, tmp_path: Path) -> None:
        from ragline.engine import Engine

        with Engine.open(f"local:{tmp_path / 'contract-store'}", embedder="hashing:64", parse_workers=0) as engine:
            first = engine.ingest_sources([filled.source()])
            assert first.counts.get("new") == len(_TEXTS) and not first.failed, first.to_dict()
            again = engine.ingest_sources([filled.source()])
            assert again.counts.get("unchanged") == len(_TEXTS) and not again.counts.get("new")
            filled.put("alpha", _TEXTS["alpha"] + " A second paragraph on trip wires.")
            filled.remove("gamma")
            listing = filled.source().list()
            changed = engine.ingest_sources([filled.source()])
            assert changed.counts.get("changed") == 1, changed.to_dict()
            assert changed.counts.get("deleted", 0) == (1 if listing.complete else 0)
            hits: list[Any] = engine.search("trip wires", k=1, mode="bm25")
            assert hits and "trip wires" in hits[0].chunk.text
