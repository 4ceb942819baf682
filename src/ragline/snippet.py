"""Query-term highlighting: the window of a chunk that best shows why it matched.

    snippet = highlight("Deletes propagate to both indexes ...", "how are deletes propagated?")
    snippet.marked()   # '**Deletes** **propagate** to both indexes ...'

Terms match by their English stem (tantivy's own stemmer, as the BM25 index uses), so
'propagated' in the query marks 'propagate' and 'propagation' in the text; stop words do not mark.

Every hit of every search gets a snippet, so finding the terms is kept cheap: rather than stem
every word of the chunk (tantivy's ``pre_tokenize``, one Python object per token: ~60% of a
search's CPU once its query vector is known), one regular expression finds the words that can
stem to a query term, and only those are stemmed (each distinct word once, cached). A word can
stem to ``t`` only if it starts with ``t``'s first three letters (two for a stem of three, one
for a stem of two): the English (Porter2) stemmer rewrites endings only, in the word's R1 region
(never before its third letter), and outside it changes at most a stem's last letter (hop(e),
cr(i)); its exceptions that change a word's start (dying, lying, tying) are listed. Words are
runs of letters and digits, as tantivy's simple tokenizer cuts them.
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


# Porter2's exceptional forms whose stem does not start as the word does.
_RESTARTED = {"die": "dying", "lie": "lying", "tie": "tying"}


def query_terms(query: str) -> set[str]:
    """The stems of the query's words, without stop words (unless it has nothing else)."""
    return set(_query_terms(query))


@lru_cache(maxsize=1024)
def _query_terms(query: str) -> frozenset[str]:
    terms = frozenset(_analyzer(True).analyze(query))
    return terms or frozenset(_analyzer(False).analyze(query))


@lru_cache(maxsize=1024)
def _candidates(terms: frozenset[str]) -> re.Pattern[str] | None:
    """The words that may stem to one of ``terms``: whole words starting as a term does (see the
    module docstring), or an exception's own spelling, in any case."""
    starts = {term[:3 if len(term) >= 4 else max(1, len(term) - 1)] for term in terms}
    starts |= {_RESTARTED[term] for term in terms if term in _RESTARTED}
    if not starts:
        return None
    alternatives = "|".join(sorted(map(re.escape, starts), key=lambda a: (-len(a), a)))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*", re.IGNORECASE)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str | None:
    stems = _analyzer(False).analyze(word)
    return stems[0] if len(stems) == 1 else None


def term_matches(text: str, terms: frozenset[str]) -> list[tuple[int, int, str]]:
    """(start, end, stem) of each word of ``text`` whose stem is one of ``terms``, in order."""
    pattern = _candidates(terms)
    if pattern is None:
        return []
    matches = []
    for found in pattern.finditer(text):
        stem = _stem(found.group())
        if stem in terms:
            matches.append((found.start(), found.end(), stem))
    return matches


def highlight(text: str, query: str, window: int = WINDOW) -> Snippet:
    """The ``window``-char part of ``text`` with the most distinct query terms, terms marked."""
    matches = term_matches(text, _query_terms(query))
    if len(text) <= window:
        lo, hi = 0, len(text)
    elif not matches:
        lo, hi = 0, window
    else:
        best, best_key = 0, (-1, -1)
        for i, (start, _end, _term) in enumerate(matches):
            inside = []
            for match in matches[i:]:  # (in text order: the first past the window ends the run)
                if match[1] > start + window:
                    break
                inside.append(match)
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


__all__ = ["WINDOW", "highlight", "query_terms", "term_matches"]
