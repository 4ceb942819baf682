"""HTML: boilerplate (navigation, headers, footers, scripts, cookie banners) removed by
trafilatura, with headings kept as Markdown so chunks know their heading path; ``<title>`` kept.

If trafilatura finds no main content (or cannot parse the tree, e.g. extreme nesting), a
selectolax pass strips the usual boilerplate elements and keeps the remaining text.
"""

from __future__ import annotations

import logging

from ragline.errors import ParseError
from ragline.parse.base import Block, ParsedDoc, assemble
from ragline.parse.markdown import markdown_blocks
from ragline.parse.text import decode

BOILERPLATE_TAGS = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside",
                    "form", "iframe", "svg", "button", "select")
BOILERPLATE_ROLES = ("navigation", "banner", "contentinfo", "search", "complementary")
BLOCK_TAGS = ("p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5",
              "h6", "pre", "blockquote", "dd", "dt", "table", "ul", "ol", "main")

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def _title(tree) -> str | None:  # type: ignore[no-untyped-def]
    node = tree.css_first("title")
    title = node.text(strip=True) if node is not None else ""
    return title or None


def _selectolax_text(tree) -> str:  # type: ignore[no-untyped-def]
    for tag in BOILERPLATE_TAGS:
        for node in tree.css(tag):
            node.decompose()
    for role in BOILERPLATE_ROLES:
        for node in tree.css(f'[role="{role}"]'):
            node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    if root is None:
        return ""
    return root.text(separator="\n", strip=True)


def _trafilatura_markdown(html: str) -> str | None:
    import trafilatura

    try:
        return trafilatura.extract(html, output_format="markdown", include_formatting=True,
                                   include_tables=True, include_comments=False,
                                   include_links=False, include_images=False, favor_recall=True,
                                   deduplicate=False)
    except (RecursionError, ValueError, TypeError, MemoryError):
        return None


def parse_html(data: bytes) -> ParsedDoc:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    html, warnings = decode(data)
    tree = HTMLParser(html)
    title = _title(tree)
    # Permalink anchors (Sphinx's "¶") and scripts are noise to every extractor.
    for node in tree.css("a.headerlink, script, style, noscript, template"):
        node.decompose()
    markdown = _trafilatura_markdown(tree.html or "")
    fallback = _selectolax_text(tree)
    # lxml (under trafilatura) stops at nesting depth 256 and silently loses the rest of the
    # page: trust trafilatura only when it kept at least half of the boilerplate-stripped text.
    if markdown and len(markdown) >= 0.5 * len(fallback):
        blocks, md_title = markdown_blocks(markdown)
        title = title or md_title
    elif fallback:
        blocks = [Block(fallback)]
    else:
        raise ParseError("no text content in HTML after removing boilerplate")
    return assemble("html", blocks, title=title, warnings=warnings)
