"""Query-side stop words: dropped unless nothing else is left."""

from __future__ import annotations

import pytest

from ragline.store.local.bm25 import drop_stopwords


@pytest.mark.parametrize(("query", "expected"), [
    ("what similarity laws must be obeyed when constructing aeroelastic models",
     "similarity laws obeyed constructing aeroelastic models"),
    ("The Boundary Layer", "Boundary Layer"),
    ("what is it", "what is it"),   # only function words: keep them all
    ("", ""),
])
def test_drop_stopwords(query, expected):
    assert drop_stopwords(query) == expected
