"""The shipped SourceContract on the three built-in sources: a folder, a JSONL file (records),
and the items given to ``Engine.ingest_items``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.records import SourceItem
from ragline.sources import FolderSource, ItemsSource, JsonlSource
from ragline.testing.source import SourceContract


class FolderWorld:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir()

    def put(self, name: str, text: str) -> None:
        (self.root / f"{name}.txt").write_text(text)

    def remove(self, name: str) -> None:
        (self.root / f"{name}.txt").unlink()

    def source(self) -> FolderSource:
        return FolderSource(self.root)


class JsonlWorld:
    def __init__(self, path: Path):
        self.path, self.records = path, {}

    def put(self, name: str, text: str) -> None:
        self.records[name] = text
        self._write()

    def remove(self, name: str) -> None:
        del self.records[name]
        self._write()

    def _write(self) -> None:
        lines = [json.dumps({"id": name, "text": text, "lang": "en"}) for name, text in self.records.items()]
        self.path.write_text("\n".join(lines) + "\n")

    def source(self) -> JsonlSource:
        return JsonlSource(self.path)


class ItemsWorld:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def put(self, name: str, text: str) -> None:
        self.items[name] = text.encode()

    def remove(self, name: str) -> None:
        del self.items[name]

    def source(self) -> ItemsSource:
        return ItemsSource(SourceItem(uri=f"upload://{name}.txt", data=data, stat_key=str(hash(data)))
                           for name, data in self.items.items())


class TestFolderSource(SourceContract):
    @pytest.fixture()
    def world(self, tmp_path):
        return FolderWorld(tmp_path / "corpus")


class TestJsonlSource(SourceContract):
    @pytest.fixture()
    def world(self, tmp_path):
        return JsonlWorld(tmp_path / "records.jsonl")


class TestItemsSource(SourceContract):
    @pytest.fixture()
    def world(self):
        return ItemsWorld()


def test_jsonl_bad_lines_and_repeated_ids_are_listing_errors_with_their_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "first"}\nnot json\n{"id": "a", "text": "again"}\n{"id": "b", "text": "x"}\n')
    listing = JsonlSource(path).list()
    assert [item.metadata["record_id"] for item in listing.items] == ["a", "b"]
    assert [(e.uri.rsplit("#", 1)[1], e.stage) for e in listing.errors] == [("line=2", "parse"), ("line=3", "parse")]
    assert "invalid JSON on line 2" in listing.errors[0].reason
    assert "duplicate id 'a' on line 3" in listing.errors[1].reason
    assert not listing.complete  # bad lines: the listing is not the whole file
    first = listing.items[0]
    assert JsonlSource(path).read(first) == b"first"
    assert JsonlSource(path).read(SourceItem(uri=first.uri)) == b"first"  # found again by uri


def test_folders_and_items_hand_jsonl_files_to_the_record_source(tmp_path):
    item = SourceItem(uri="upload://batch.jsonl", data=b'{"id": 1, "text": "t"}\n')
    assert isinstance(ItemsSource([item]).records_in(item), JsonlSource)
    assert FolderSource(tmp_path).records_in(SourceItem(uri="file:///x/notes.md")) is None
    pdf = SourceItem(uri="file:///x/fake.jsonl", data=b"%PDF-1.4 ...")
    container = FolderSource(tmp_path).records_in(pdf)
    assert container is not None
    container.version()
    assert not container.holds_records()  # a PDF named .jsonl is parsed as a PDF


def test_engine_ingests_a_jsonl_source_like_the_same_file_in_a_folder(tmp_path, engine_factory):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"id": i, "text": f"record {i} about wing flutter and {w}"})
             for i, w in enumerate(["gusts", "stall", "buffet"])]
    (corpus / "r.jsonl").write_text("\n".join(lines) + "\n")
    with engine_factory(tmp_path / "a") as folder_engine, engine_factory(tmp_path / "b") as jsonl_engine:
        by_folder = folder_engine.ingest([corpus])
        by_source = jsonl_engine.ingest_sources([JsonlSource(corpus / "r.jsonl")])
        assert by_folder.counts == by_source.counts and by_folder.counts["new"] == 3
        ids = [sorted(d.doc_id for d in e.ledger.all_documents()) for e in (folder_engine, jsonl_engine)]
        assert ids[0] == ids[1]
