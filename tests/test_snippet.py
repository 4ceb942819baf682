from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.records import Snippet
from ragline.snippet import WINDOW, _analyzer, highlight, query_terms, term_matches


def marked_words(snippet: Snippet) -> list[str]:
    return [snippet.text[start:end] for start, end in snippet.highlights]


def test_terms_match_by_stem_and_stop_words_do_not_mark():
    snippet = highlight("Deletes propagate to both indexes; the propagation of deleted rows is logged.",
                        "how are deletes propagated?")
    assert marked_words(snippet) == ["Deletes", "propagate", "propagation", "deleted"]
    assert snippet.marked() == ("**Deletes** **propagate** to both indexes; the **propagation** of "
                                "**deleted** rows is logged.")
    assert snippet.marked("<mark>", "</mark>").startswith("<mark>Deletes</mark>")


def test_a_query_of_only_stop_words_still_marks():
    assert query_terms("the") == {"the"}
    assert marked_words(highlight("over the hills", "the")) == ["the"]


def test_the_window_is_where_the_query_terms_are():
    text = "filler words here. " * 50 + "Unicode normalisation happens before chunking. " + "more filler. " * 50
    snippet = highlight(text, "unicode normalisation chunking")
    assert len(snippet.text) <= WINDOW + 2
    assert snippet.text.startswith("…") and snippet.text.endswith("…")
    assert [w.lower() for w in marked_words(snippet)] == ["unicode", "normalisation", "chunking"]
    body = snippet.text.strip("…")
    assert body in " ".join(text.split(" "))  # a real window of the text, cut at word boundaries


def test_short_text_and_no_match():
    assert highlight("tiny\ntext", "absent") == Snippet("tiny text", ())
    long = "word " * 100
    snippet = highlight(long, "absent")
    assert snippet.highlights == () and snippet.text.endswith("…") and not snippet.text.startswith("…")


@pytest.mark.parametrize("query", ["cats", "CAT", "cat's"])
def test_highlight_spans_are_valid(query):
    snippet = highlight("A cat, two cats; CATS everywhere. Catalogue is not a cat.", query)
    assert [w.lower() for w in marked_words(snippet)] == ["cat", "cats", "cats", "cat"]


# ---- the cheap term finder agrees with stemming every word (tantivy's own tokens) ----------------
def _every_word(text: str, terms: frozenset[str]) -> list[tuple[int, int, str]]:
    """The plain way: stem every token of the text with tantivy, keep those in ``terms``."""
    return [(t.char_offset_from, t.char_offset_to, t.text)
            for t in _analyzer(False).pre_tokenize(text).tokens if t.text in terms]


def test_term_finder_matches_stemming_every_word_on_cranfield():
    corpus = Path(__file__).parent.parent / "datasets" / "cranfield"
    docs = [json.loads(line)["text"] for line in (corpus / "corpus.jsonl").open(encoding="utf-8")][:400]
    queries = [json.loads(line)["text"] for line in (corpus / "queries.jsonl").open(encoding="utf-8")]
    compared = marked = 0
    for i, query in enumerate(queries):
        terms = frozenset(query_terms(query))
        for text in docs[i % 40::40]:
            expected = _every_word(text, terms)
            assert term_matches(text, terms) == expected, (query, text)
            compared += 1
            marked += len(expected)
    assert compared >= 2000 and marked > 1000  # the comparison saw real matches


WORDS = ["dying", "Lying", "tying", "die", "skies", "sky", "propagated", "Propagation", "happy",
         "happiness", "news", "only", "early", "gently", "naïve", "café", "x²", "Über", "cat's", "CATS",
         "owing", "owe", "cry", "cries", "hoping", "hopping", "being", "ability", "relational", "sing",
         "spry", "ties", "idly", "ugly", "agreed", "generalization", "communism", "arsenal", "a", "as"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(st.characters(codec="latin-1"), max_size=8)),
                max_size=30),
       st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_term_finder_matches_stemming_every_word_on_any_text(pieces, query_words):
    text = " ".join(pieces)
    terms = frozenset(query_terms(" ".join(query_words)))
    assert term_matches(text, terms) == _every_word(text, terms)
