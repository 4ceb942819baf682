"""The derived full-text index: tantivy BM25 with English stemming.

Every add first deletes the row id's term, so replaying the change log after a crash is
idempotent. The applied change sequence is written beside the index after each commit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ragline.store.base import Filter, filter_tags

_QUERY_SYNTAX = re.compile(r"[^\w\s]+", re.UNICODE)
_OPERATORS = re.compile(r"\b(AND|OR|NOT|IN|TO)\b")


# Function words dropped from queries (never from the index): their IDF is near zero, so they
# barely move the ranking, yet every one makes the OR query score most of the index — on the
# Cranfield questions at 20k chunks, dropping them made tantivy's search 2.8x faster.
_QUERY_STOPWORDS = frozenset("""a an and are as at be been being but by can could did do does for from
had has have how if in into is it its may might must of on or shall should so such than that the their
then there these they this those to was were what when where which while who whom why will with would
""".split())


def sanitise_query(query: str) -> str:
    """Plain words only: users type questions, not tantivy query syntax."""
    return _OPERATORS.sub(lambda m: m.group(0).lower(), _QUERY_SYNTAX.sub(" ", query)).strip()


def drop_stopwords(text: str) -> str:
    """The query without function words, unless that would leave nothing ("what is it")."""
    kept = [word for word in text.split() if word.lower() not in _QUERY_STOPWORDS]
    return " ".join(kept) if kept else text


class Bm25Index:
    def __init__(self, path: Path):
        import tantivy

        self.path = path
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
        builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
        builder.add_text_field("tags", stored=False, tokenizer_name="raw")
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self._writer = None
        self.applied_seq = self._read_seq()

    @property
    def _seq_file(self) -> Path:
        return self.path / "ragline-applied.json"

    def _read_seq(self) -> int:
        try:
            return int(json.loads(self._seq_file.read_text())["applied_seq"])
        except (OSError, ValueError, KeyError):
            return 0

    def _write_seq(self) -> None:
        partial = self._seq_file.with_suffix(".partial")
        partial.write_text(json.dumps({"applied_seq": self.applied_seq}))
        os.replace(partial, self._seq_file)

    @property
    def writer(self):  # type: ignore[no-untyped-def]
        if self._writer is None:
            self._writer = self.index.writer(heap_size=64 * 2**20, num_threads=1)
        return self._writer

    def add(self, rows: list[tuple[int, str, list[str]]]) -> None:
        import tantivy

        writer = self.writer
        for rowid, text, tags in rows:
            writer.delete_documents_by_term("rowid", rowid)
            document = tantivy.Document()
            document.add_integer("rowid", rowid)
            document.add_text("body", text)
            for value in tags:
                document.add_text("tags", value)
            writer.add_document(document)

    def remove(self, rowids: list[int]) -> None:
        writer = self.writer
        for rowid in rowids:
            writer.delete_documents_by_term("rowid", rowid)

    def commit(self, applied_seq: int) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.index.reload()
        self.applied_seq = applied_seq
        self._write_seq()

    def search(self, query: str, k: int, filter: Filter | None = None) -> list[tuple[int, float]]:
        import tantivy

        text = drop_stopwords(sanitise_query(query))
        if not text or k <= 0:
            return []
        parsed, _errors = self.index.parse_query_lenient(text, ["body"])
        tags = filter_tags(filter)
        if tags:
            clauses = [(tantivy.Occur.Must, parsed)]
            clauses += [(tantivy.Occur.Must,
                         tantivy.Query.const_score_query(
                             tantivy.Query.term_query(self.schema, "tags", t), 0.0)) for t in tags]
            parsed = tantivy.Query.boolean_query(clauses)
        searcher = self.index.searcher()
        # count=False: counting every match would stop tantivy from skipping blocks (block-max
        # WAND) that cannot reach the top k.
        result = searcher.search(parsed, k, count=False)
        return [(int(searcher.doc(address)["rowid"][0]), float(score)) for score, address in result.hits]

    def all_rowids(self) -> set[int]:
        import tantivy

        searcher = self.index.searcher()
        total = searcher.num_docs
        if total == 0:
            return set()
        result = searcher.search(tantivy.Query.all_query(), total)
        return {int(searcher.doc(address)["rowid"][0]) for _score, address in result.hits}

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    def close(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    @staticmethod
    def destroy(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
