"""Query-term highlighting: the window of a chunk that best shows why it matched.

    snippet = highlight("Deletes propagate to both indexes ...", "how are deletes propagated?")
    snippet.marked()   # '**Deletes** **propagate** to both indexes ...'

Terms match by their English stem (tantivy's own stemmer, as the BM25 index uses), so
'propagated' in the query marks 'propagate' and 'propagation' in the text; stop words do not mark.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ragline.records import Snippet

WINDOW = 240
_WHITESPACE = re.compile(r"\s")


@lru_cache(maxsize=2)
def _analyzer(stop_words: bool):  # type: ignore[no-untyped-def]
    import tantivy

    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
    if stop_words:
        builder = builder.filter(tantivy.Filter.stopword("english"))
    return builder.filter(tantivy.Filter.stemmer("english")).build()


def query_terms(query: str) -> set[str]:
    """The stems of the query's words, without stop words (unless it has nothing else)."""
    terms = set(_analyzer(True).analyze(query))
    return terms or set(_analyzer(False).analyze(query))


def highlight(text: str, query: str, window: int = WINDOW) -> Snippet:
    """The ``window``-char part of ``text`` with the most distinct query terms, terms marked."""
    terms = query_terms(query)
    matches = [(t.char_offset_from, t.char_offset_to, t.text)
               for t in _analyzer(False).pre_tokenize(text).tokens if t.text in terms]
    if len(text) <= window:
        lo, hi = 0, len(text)
    elif not matches:
        lo, hi = 0, window
    else:
        best, best_key = 0, (-1, -1)
        for i, (start, _end, _term) in enumerate(matches):
            inside = [m for m in matches[i:] if m[1] <= start + window]
            key = (len({m[2] for m in inside}), len(inside))
            if key > best_key:
                best, best_key = i, key
        # Start a little before the first term of the best run, at a word boundary.
        lo = max(0, matches[best][0] - window // 8)
        if lo <= window // 8:
            lo = 0
        else:
            space = max(text.rfind(" ", lo - 20, lo), text.rfind("\n", lo - 20, lo))
            lo = space + 1 if space >= 0 else lo
        hi = min(len(text), lo + window)
        if hi < len(text):
            space = max(text.rfind(" ", lo + window // 2, hi), text.rfind("\n", lo + window // 2, hi))
            hi = space if space > 0 else hi
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(text) else ""
    spans = tuple((start - lo + len(prefix), end - lo + len(prefix))
                  for start, end, _term in matches if start >= lo and end <= hi)
    # Whitespace becomes plain spaces one for one, so the spans stay valid.
    body = _WHITESPACE.sub(" ", text[lo:hi])
    return Snippet(prefix + body + suffix, spans)


__all__ = ["WINDOW", "highlight", "query_terms"]
