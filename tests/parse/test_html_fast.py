"""The fast main-content path of the HTML parser: same content as trafilatura where a page marks its
main element, trafilatura wherever it does not."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from ragline.bench import _default_sentences_source
from ragline.bench_html import _page, _sentences
from ragline.parse.html import (
    _page_tree,
    _trafilatura_markdown,
    fast_main_markdown,
    parse_html,
)
from tests.conftest import FIXTURES, SAMPLES

CHROME = ("We use cookies", "Accept all", "Related articles", "Subscribe to our newsletter",
          "All rights reserved", "Share this page", "Contents", "This page", "Home »", "Search")


def _words(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.lower()))


@pytest.fixture(scope="module")
def sentences():
    return _sentences(_default_sentences_source())


@pytest.mark.parametrize("path", [
    *sorted((SAMPLES / "docs" / "python").glob("*.html")), FIXTURES / "good" / "tutorial-whatnow.html"])
def test_fast_path_keeps_what_trafilatura_keeps(path):
    html = path.read_bytes().decode("utf-8")
    fast = fast_main_markdown(_page_tree(html))
    reference = _trafilatura_markdown(_page_tree(html).html or "")
    assert fast and reference
    fast_words, reference_words = _words(fast), _words(reference)
    shared = sum((fast_words & reference_words).values())
    # Measured: recall 0.972-1.000, precision 0.986-1.000 (trafilatura's Markdown escapes and
    # emphasis markers are the difference: "parse\_float", "*\**").
    assert shared / sum(reference_words.values()) >= 0.95
    assert shared / sum(fast_words.values()) >= 0.97


def test_fast_path_headings_code_and_tables():
    html = """<html><head><title>T</title></head><body><nav>Home Docs Blog</nav><main>
      <h1>Guide<a class="headerlink" href="#g">¶</a></h1><p>Intro   text
      across lines.</p><aside>Sponsored box</aside>
      <h2>Install</h2><ul><li><p>first step</p></li><li>second<br>line</li></ul>
      <pre>for x in range(3):
    print(x)</pre>
      <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
      <form><button>Send</button></form></main><footer>Copyright</footer></body></html>"""
    doc = parse_html(html.encode())
    assert doc.title == "T"
    assert "Intro text across lines." in doc.text
    assert "for x in range(3):\nprint(x)" in doc.text   # code keeps its lines (clean_text drops indents)
    assert "a | b" in doc.text and "1 | 2" in doc.text
    assert "second\nline" in doc.text
    for noise in ("Home Docs", "Sponsored", "Send", "Copyright", "¶"):
        assert noise not in doc.text
    assert [s.heading for s in doc.sections if s.heading][-1] == ("Guide", "Install")


@pytest.mark.parametrize("layout", ["html5", "sphinx", "divsoup"])
def test_page_chrome_is_removed_in_every_layout(layout, sentences):
    page = _page(random.Random(3), sentences, 1, layout)
    doc = parse_html(page.encode())
    for noise in CHROME:
        assert noise not in doc.text, (layout, noise)
    assert len(doc.text) > 2000 and len([s for s in doc.sections if s.heading]) >= 2


def test_a_main_element_without_the_content_goes_to_trafilatura(sentences):
    body = " ".join(sentences[:40])
    html = (f"<html><body><main><p>Loading...</p></main><div class='content'><h1>Real page</h1>"
            f"<p>{body}</p></div></body></html>")
    assert fast_main_markdown(_page_tree(html)) == "Loading..."
    doc = parse_html(html.encode())
    assert sentences[20] in doc.text


def test_two_articles_are_no_main_element(sentences):
    html = ("<html><body><article><p>first teaser</p></article><article><p>second teaser</p></article>"
            "</body></html>")
    assert fast_main_markdown(_page_tree(html)) is None
    assert "second teaser" in parse_html(html.encode()).text
