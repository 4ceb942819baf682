"""The derived full-text index: tantivy BM25 with English stop words and stemming.

Every add first deletes the row id's term, so replaying the change log after a crash is
idempotent. The applied change sequence, and the analyzer the index was built with, are written
beside the index after each commit; an index built with another analyzer refuses to open, so the
store rebuilds it from SQLite (the source of truth).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

from ragline.store.base import Filter, filter_tags, tag
from ragline.store.filters import AnyOf, Condition, Not, Prefix

_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def _regex_literal(text: str) -> str:
    """``text`` as a literal for tantivy's (Rust) regex syntax."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


# Analyzers by name, all: simple tokenizer, remove_long(40), lowercase, [stop words], Porter2 stemmer.
# "en_stem" is tantivy's built-in; "en_stem_lucene_stop" drops Lucene's 33 English stop words
# (Lucene's EnglishAnalyzer, Elasticsearch's _english_); "en_stem_snowball_stop" drops the Snowball
# project's English stop list, the companion of the stemmer used. The README's Tuning section
# gives the measurements behind the default.
ANALYZERS = ("en_stem", "en_stem_lucene_stop", "en_stem_snowball_stop")
DEFAULT_ANALYZER = "en_stem_snowball_stop"

# snowballstem.org/algorithms/english/stop.txt (BSD licence), less the forms with an apostrophe,
# which the simple tokenizer splits anyway ("don't" -> "don", "t").
SNOWBALL_ENGLISH_STOP_WORDS = tuple("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves what which who whom this that these
those am is are was were be been being have has had having do does did doing would should could
ought cannot a an the and but if or because as until while of at by for with about against between
into through during before after above below to from up down in out on off over under again further
then once here there when where why how all any both each few more most other some such no nor not
only own same so than too very
""".split())


class AnalyzerMismatch(ValueError):
    """The index on disk was built with another analyzer: its terms cannot be queried with this one."""


def _build_analyzer(name: str):  # type: ignore[no-untyped-def]
    import tantivy

    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
               .filter(tantivy.Filter.remove_long(40))
               .filter(tantivy.Filter.lowercase()))
    if name == "en_stem_lucene_stop":
        builder = builder.filter(tantivy.Filter.stopword("english"))
    elif name == "en_stem_snowball_stop":
        builder = builder.filter(tantivy.Filter.custom_stopword(list(SNOWBALL_ENGLISH_STOP_WORDS)))
    return builder.filter(tantivy.Filter.stemmer("english")).build()


class Bm25Index:
    def __init__(self, path: Path, analyzer: str = DEFAULT_ANALYZER):
        import tantivy

        if analyzer not in ANALYZERS:
            raise ValueError(f"unknown BM25 analyzer {analyzer!r}; use one of {', '.join(ANALYZERS)}")
        self.path = path
        self.analyzer = analyzer
        built_with = self._read_state().get("analyzer", "en_stem") if (path / "meta.json").exists() else analyzer
        if built_with != analyzer:
            raise AnalyzerMismatch(f"bm25 index was built with analyzer {built_with!r}, not {analyzer!r}")
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
        builder.add_text_field("body", stored=False, tokenizer_name=analyzer)
        builder.add_text_field("tags", stored=False, tokenizer_name="raw")
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        # Kept for queries too: a query of stop words only has no terms and must match nothing
        # (tantivy's parser would turn the empty query into "match all").
        self._analyzer = _build_analyzer(analyzer)
        if analyzer != "en_stem":  # the built-in keeps its own name
            self.index.register_tokenizer(analyzer, self._analyzer)
        self._writer = None
        self.applied_seq = self._read_seq()

    @property
    def _seq_file(self) -> Path:
        return self.path / "ragline-applied.json"

    def _read_state(self) -> dict:
        try:
            state = json.loads(self._seq_file.read_text())
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def _read_seq(self) -> int:
        try:
            return int(self._read_state()["applied_seq"])
        except (ValueError, KeyError, TypeError):
            return 0

    def _write_seq(self) -> None:
        partial = self._seq_file.with_suffix(".partial")
        try:
            partial.write_text(json.dumps({"applied_seq": self.applied_seq, "analyzer": self.analyzer}))
            os.replace(partial, self._seq_file)
        except OSError:
            partial.unlink(missing_ok=True)  # a full disk must not leave it behind
            raise

    def refresh(self) -> None:
        """See what another process committed since this one opened or last committed."""
        self.index.reload()
        self.applied_seq = max(self.applied_seq, self._read_seq())

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

    def clear(self) -> None:
        """Delete every document (takes effect at the next commit, atomically for readers)."""
        self.writer.delete_all_documents()

    def remove(self, rowids: list[int]) -> None:
        writer = self.writer
        for rowid in rowids:
            writer.delete_documents_by_term("rowid", rowid)

    def commit(self, applied_seq: int) -> None:
        if self._writer is not None:
            try:
                self._writer.commit()
                self._writer.wait_merging_threads()
            except BaseException:
                self.close()  # roll back what this writer held; the index keeps its last commit
                raise
            finally:
                self._writer = None
        self.index.reload()
        self.applied_seq = applied_seq
        self._write_seq()

    def condition_query(self, condition: Condition):  # type: ignore[no-untyped-def]
        """A tantivy query over the tag terms for an equality / IN / prefix / NOT condition."""
        import tantivy

        if isinstance(condition, AnyOf):
            return tantivy.Query.term_set_query(self.schema, "tags", [tag(condition.key, v) for v in condition.values])
        if isinstance(condition, Prefix):
            pattern = _regex_literal(tag(condition.key, condition.prefix)) + "(?s:.*)"  # values may hold newlines
            return tantivy.Query.regex_query(self.schema, "tags", pattern)
        if isinstance(condition, Not):
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, tantivy.Query.all_query())]
                + [(tantivy.Occur.MustNot, self._all_of(condition.conditions))])
        raise TypeError(f"no tag query for {condition!r}")  # ranges are resolved in SQLite

    def _all_of(self, conditions: tuple[Condition, ...]):  # type: ignore[no-untyped-def]
        import tantivy

        if len(conditions) == 1:
            return self.condition_query(conditions[0])
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, self.condition_query(c)) for c in conditions])

    def terms_query(self, query: str):  # type: ignore[no-untyped-def]
        """The BM25 query for ``query``: one clause per distinct analyzed token, boosted by its count.

        BM25 sums a query term's weight once per occurrence in the query (Robertson's qtf; bm25s
        and Lucene's classic parser do the same), but tantivy's query parser keeps each distinct
        word once, so "heat transfer ... heat" weighted "heat" like any other word (64 of
        Cranfield's 225 queries repeat a term). A boost of n
        equals n identical term clauses (the score is linear in the boost) and keeps one posting
        list per term, so block-max WAND still applies. The tokens come from the index's own
        analyzer, so the query holds exactly the terms the index holds, and no query syntax is
        interpreted. None when no token is left (a query of stop words only matches nothing).
        """
        import tantivy

        counts = Counter(self._analyzer.analyze(query))
        if not counts:
            return None
        clauses = []
        for token, count in counts.items():
            term = tantivy.Query.term_query(self.schema, "body", token, index_option="freq")
            clauses.append((tantivy.Occur.Should,
                            term if count == 1 else tantivy.Query.boost_query(term, float(count))))
        return tantivy.Query.boolean_query(clauses)

    def search(self, query: str, k: int, filter: Filter | None = None, *,
               conditions: tuple[Condition, ...] = (), allowed_rowids: list[int] | None = None,
               excluded_rowids: list[int] | None = None) -> list[tuple[int, float]]:
        """Top-k rows for ``query`` among those that pass every restriction given.

        ``filter`` (an equality dict) and ``conditions`` (parsed, without ranges) use the tag
        terms; ``allowed_rowids`` / ``excluded_rowids`` restrict by row id (conditions the store
        resolved in SQLite). Restrictions score 0, so BM25 scores are unchanged.
        """
        import tantivy

        if k <= 0:
            return []
        parsed = self.terms_query(query)
        if parsed is None:
            return []
        required = [tantivy.Query.term_query(self.schema, "tags", t) for t in filter_tags(filter)]
        required += [self.condition_query(c) for c in conditions]
        if allowed_rowids is not None:
            required.append(tantivy.Query.term_set_query(self.schema, "rowid", allowed_rowids))
        clauses = [(tantivy.Occur.Must, tantivy.Query.const_score_query(restriction, 0.0))
                   for restriction in required]
        if excluded_rowids:
            clauses.append((tantivy.Occur.MustNot,
                            tantivy.Query.term_set_query(self.schema, "rowid", excluded_rowids)))
        if clauses:
            parsed = tantivy.Query.boolean_query([(tantivy.Occur.Must, parsed), *clauses])
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
            writer, self._writer = self._writer, None
            try:
                writer.rollback()
            except ValueError:
                pass  # a writer whose commit failed (disk full) has nothing left to roll back

    @staticmethod
    def destroy(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
