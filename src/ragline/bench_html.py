"""A generated HTML corpus for ``ragline bench ingest --generate-html N``: real Cranfield sentences
in documentation pages with real page chrome (header, navigation, breadcrumbs, sidebars, footer,
cookie banner, scripts), so the benchmark measures main-content extraction as a web crawl or a
documentation site makes it work, not plain text.

    generate_html_corpus(Path("site"), 300)   # site/page-00000.html ... in three page layouts

Three layouts, in turn: HTML5 (``<main>``/``<article>``), Sphinx (``div[role=main]``, headerlink
anchors, as the Python documentation) and a "div soup" with no main-content marker at all (the
layout that needs a real boilerplate classifier). Pages hold 600-3,000 words of content in
sections with headings, lists, a table and a code block, and ~120 links of chrome.
"""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

from ragline.bench import _SENTENCE, _default_sentences_source

LAYOUTS = ("html5", "sphinx", "divsoup")
_TOPICS = ("Aerodynamics", "Heat transfer", "Boundary layers", "Shock waves", "Structures", "Propulsion",
           "Hypersonic flow", "Wind tunnels", "Stability", "Slender bodies", "Plates and shells")


def _sentences(source: Path) -> list[str]:
    sentences: list[str] = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("text", "")
            sentences += [s.strip() for s in _SENTENCE.split(text) if len(s.split()) >= 5]
    return sentences


def _links(rng: random.Random, n: int, prefix: str) -> str:
    return "".join(f'<li><a href="/{prefix}/{rng.randrange(10**6)}.html">{rng.choice(_TOPICS)} '
                   f"{rng.randrange(1, 400)}</a></li>" for _ in range(n))


def _section_body(rng: random.Random, sentences: list[str], words: int) -> str:
    parts: list[str] = []
    count = 0
    while count < words:
        kind = rng.random()
        if kind < 0.72:
            paragraph = " ".join(rng.sample(sentences, rng.randint(2, 6)))
            parts.append(f"<p>{html.escape(paragraph)} <a href='#ref{rng.randrange(99)}'>[{rng.randrange(1, 40)}]"
                         f"</a></p>")
            count += len(paragraph.split())
        elif kind < 0.84:
            items = rng.sample(sentences, rng.randint(3, 5))
            parts.append("<ul>" + "".join(f"<li><p>{html.escape(s)}</p></li>" for s in items) + "</ul>")
            count += sum(len(s.split()) for s in items)
        elif kind < 0.92:
            rows = "".join(f"<tr><td>{rng.choice(_TOPICS)}</td><td>{rng.uniform(0, 9):.3f}</td>"
                           f"<td>{rng.randrange(1, 99)}</td></tr>" for _ in range(rng.randint(3, 6)))
            parts.append(f"<table><thead><tr><th>case</th><th>coefficient</th><th>runs</th></tr></thead>"
                         f"<tbody>{rows}</tbody></table>")
            count += 20
        else:
            code = "\n".join(f"    result_{i} = solve(mach={rng.uniform(1, 9):.1f}, alpha={rng.randrange(20)})"
                             for i in range(rng.randint(2, 5)))
            parts.append(f'<div class="highlight"><pre><span class="n">{code}</span></pre></div>')
            count += 10
    return "\n".join(parts)


def _content(rng: random.Random, sentences: list[str], title: str, layout: str) -> str:
    sections = []
    for _ in range(rng.randint(2, 6)):
        heading = html.escape(" ".join(rng.choice(sentences).split()[:rng.randint(3, 7)]).rstrip(".,;:"))
        anchor = f"s{rng.randrange(10**6)}"
        link = f'<a class="headerlink" href="#{anchor}" title="Link to this heading">¶</a>' \
            if layout == "sphinx" else ""
        body = _section_body(rng, sentences, rng.randint(150, 550))
        if layout == "divsoup":
            sections.append(f'<div class="sec" id="{anchor}"><h2>{heading}</h2>{body}</div>')
        else:
            sections.append(f'<section id="{anchor}"><h2>{heading}{link}</h2>{body}</section>')
    intro = html.escape(" ".join(rng.sample(sentences, 3)))
    return f"<h1>{html.escape(title)}</h1><p>{intro}</p>" + "\n".join(sections)


def _page(rng: random.Random, sentences: list[str], number: int, layout: str) -> str:
    title = f"{rng.choice(_TOPICS)}: note {number}"
    content = _content(rng, sentences, title, layout)
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - '
            f'Aero Notes</title><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/site.css"><script>window.dataLayer=[];'
            f'function gtag(){{dataLayer.push(arguments)}};gtag("js",new Date());</script></head><body>')
    header_nav = f'<ul class="menu">{_links(rng, 12, "topics")}</ul>'
    sidebar = f'<h3>Contents</h3><ul>{_links(rng, 40, "toc")}</ul><h3>This page</h3><ul>{_links(rng, 8, "p")}</ul>'
    related = (f'<h3>Related articles</h3><ul>{_links(rng, 10, "related")}</ul>'
               f'<div class="ad">Subscribe to our newsletter for weekly updates.</div>')
    footer = (f'<ul>{_links(rng, 20, "footer")}</ul><p>&copy; 2026 Aero Notes. All rights reserved. '
              f'Privacy policy. Terms of use.</p>')
    cookie = ('<div id="cookie-banner" class="cookie">We use cookies to improve your experience. '
              '<button>Accept all</button><button>Settings</button></div>')
    crumbs = f'<a href="/">Home</a> &raquo; <a href="/topics/">Topics</a> &raquo; {html.escape(title)}'
    scripts = '<script src="/static/app.js"></script><script>initSearch({"index": "/search.json"});</script>'
    if layout == "html5":
        body = (f'<header class="site-header"><a class="logo" href="/">Aero Notes</a><nav>{header_nav}</nav>'
                f'<form role="search"><input name="q"><button>Search</button></form></header>'
                f'<div class="layout"><aside class="left">{sidebar}</aside>'
                f'<main><nav class="breadcrumbs">{crumbs}</nav><article>{content}</article></main>'
                f'<aside class="right">{related}</aside></div><footer>{footer}</footer>')
    elif layout == "sphinx":
        body = (f'<div class="related" role="navigation" aria-label="Related"><h3>Navigation</h3>'
                f'<ul>{_links(rng, 6, "genindex")}</ul></div>'
                f'<div class="document"><div class="documentwrapper"><div class="bodywrapper">'
                f'<div class="body" role="main">{content}</div></div></div>'
                f'<div class="sphinxsidebar" role="navigation" aria-label="Main"><div class="sphinxsidebarwrapper">'
                f'{sidebar}<h3>Previous topic</h3><p><a href="/prev.html">Previous</a></p>'
                f'<div role="note"><h3>This page</h3><ul><li><a href="/bugs.html">Report a Bug</a></li>'
                f'<li><a href="/_sources/x.txt">Show Source</a></li></ul></div></div></div></div>'
                f'<div class="footer">{footer}</div>')
    else:
        body = (f'<div id="top"><div class="logo"><a href="/">Aero Notes</a></div><div class="menu"><ul>{header_nav}'
                f'</ul></div></div><div id="wrap"><div class="col-left">{sidebar}</div>'
                f'<div class="col-main"><div class="crumbs">{crumbs}</div><div class="post-body">{content}</div>'
                f'<div class="share">Share this page: Twitter Facebook LinkedIn Email</div></div>'
                f'<div class="col-right">{related}</div></div><div id="bottom">{footer}</div>')
    return head + body + cookie + scripts + "</body></html>"


def generate_html_corpus(target: Path, n_pages: int, *, source: Path | None = None, seed: int = 11) -> Path:
    """Write ``n_pages`` distinct HTML pages into ``target``, cycling through ``LAYOUTS``."""
    sentences = _sentences(source or _default_sentences_source())
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    for number in range(n_pages):
        layout = LAYOUTS[number % len(LAYOUTS)]
        (target / f"page-{number:05d}.html").write_text(_page(rng, sentences, number, layout), encoding="utf-8")
    return target
