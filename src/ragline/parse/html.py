"""HTML: boilerplate (navigation, headers, footers, scripts, cookie banners) removed, with
headings kept as Markdown so chunks know their heading path; ``<title>`` kept.

Two extractors. A page that marks its main content (one ``[role=main]``, ``<main>`` or
``<article>``: Sphinx, MkDocs, most sites built since HTML5) is read by a fast selectolax (lexbor)
pass over that element: block elements become paragraphs, headings Markdown headings, the
navigation and asides inside it go. Any other page goes to trafilatura's boilerplate classifier,
which costs ~10-30x more (it scores every node of the page). If trafilatura finds no main content
either (or cannot parse the tree, e.g. extreme nesting), a selectolax pass strips the usual
boilerplate elements and keeps the remaining text.
"""

from __future__ import annotations

import logging
import re

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

# Inside the main element: what is not content.
_MAIN_NOISE = ("nav, aside, footer, form, button, select, iframe, svg, noscript, template, "
               '[role="navigation"], [role="search"], [role="complementary"], [role="contentinfo"], '
               '[role="banner"], [aria-hidden="true"], [hidden]')
_BLOCKS = "p, li, dt, dd, tr, blockquote, figcaption, caption, div, section, ul, ol, dl, table, hr"
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BREAK, _LINE, _CODE = "\x1e", "\x1f", "\x1d"  # markers; no HTML text can hold them after decode
_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
# The main element must hold this share of the page's text, else it is not the main content (an
# empty shell filled by scripts, or one teaser among many) and trafilatura decides.
MAIN_MIN_SHARE = 0.2


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


def _main_element(tree):  # type: ignore[no-untyped-def]
    for selector in ('[role="main"]', "main", "article"):
        found = tree.css(selector)
        if len(found) == 1:
            return found[0]
        if found:
            return None  # several candidates: which one is content is trafilatura's question
    return None


def fast_main_markdown(tree) -> str | None:  # type: ignore[no-untyped-def]
    """Markdown of the page's marked main element, or None when the page marks none.

    One lexbor text pass: markers inserted around block elements (and before headings) become
    paragraph breaks after whitespace is collapsed; ``<pre>`` keeps its own lines. Mutates
    ``tree``.
    """
    main = _main_element(tree)
    if main is None:
        return None
    for node in main.css(_MAIN_NOISE):
        node.decompose()
    code: list[str] = []
    for node in main.css("pre"):
        code.append(node.text(deep=True, separator="", strip=False).strip("\n"))
        node.insert_before(f"{_BREAK}{_CODE}{len(code) - 1}{_CODE}{_BREAK}")
        node.decompose()
    for node in main.css(", ".join(_HEADINGS)):
        node.insert_before(f"{_BREAK}{'#' * int(node.tag[1])} ")
        node.insert_after(_BREAK)
    for node in main.css(_BLOCKS):
        node.insert_before(_BREAK)
        node.insert_after(_BREAK)
    for node in main.css("br"):
        node.insert_before(_LINE)
    for node in main.css("td, th"):
        node.insert_after(" | ")
    text = _WHITESPACE.sub(" ", main.text(deep=True, separator="", strip=False))
    blocks = []
    for block in text.split(_BREAK):
        block = block.replace(_LINE, "\n").strip(" |")
        if block.startswith(_CODE) and block.endswith(_CODE) and block[1:-1].isdigit():
            block = f"```\n{code[int(block[1:-1])]}\n```"
        if block and block.strip("#"):
            blocks.append(block)
    return "\n\n".join(blocks)


def _trafilatura_markdown(html: str) -> str | None:
    import trafilatura

    try:
        return trafilatura.extract(html, output_format="markdown", include_formatting=True,
                                   include_tables=True, include_comments=False,
                                   include_links=False, include_images=False, favor_recall=True,
                                   deduplicate=False)
    except (RecursionError, ValueError, TypeError, MemoryError):
        return None


def _page_tree(html: str):  # type: ignore[no-untyped-def]
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(html)
    # Permalink anchors (Sphinx's "¶") and scripts are noise to every extractor.
    for node in tree.css("a.headerlink, script, style, noscript, template"):
        node.decompose()
    return tree


def parse_html(data: bytes) -> ParsedDoc:
    html, warnings = decode(data)
    tree = _page_tree(html)
    title = _title(tree)
    page_chars = len(tree.body.text(separator=" ", strip=True)) if tree.body is not None else 0
    markdown = fast_main_markdown(tree)
    if markdown and len(markdown) >= MAIN_MIN_SHARE * page_chars:
        blocks, md_title = markdown_blocks(markdown)
        return assemble("html", blocks, title=title or md_title, warnings=warnings)
    if markdown is not None:
        tree = _page_tree(html)  # the fast pass changed the tree
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
