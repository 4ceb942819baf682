from __future__ import annotations

import pytest

from ragline.records import Snippet
from ragline.snippet import WINDOW, highlight, query_terms


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
