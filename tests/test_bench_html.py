"""The generated HTML corpus of ``bench ingest --generate-html``: distinct, reproducible pages that
ingest without failures and leave their page chrome behind."""

from __future__ import annotations

import sqlite3

from ragline.bench_html import LAYOUTS, generate_html_corpus


def test_generated_site_ingests_without_its_chrome(tmp_path, engine_factory):
    site = generate_html_corpus(tmp_path / "site", 6)
    again = generate_html_corpus(tmp_path / "again", 6)
    pages = sorted(site.glob("*.html"))
    assert len(pages) == 6 and len(LAYOUTS) == 3
    assert [p.read_bytes() for p in pages] == [p.read_bytes() for p in sorted(again.glob("*.html"))]
    assert len({p.read_bytes() for p in pages}) == 6
    with engine_factory(store=tmp_path / "store") as engine:
        report = engine.ingest([site])
    assert report.counts["new"] == 6 and not report.failed
    with sqlite3.connect(tmp_path / "store" / "ragline.db") as db:
        texts = [row[0] for row in db.execute("SELECT text FROM chunks")]
    assert len(texts) > 12
    for chrome in ("We use cookies", "Related articles", "All rights reserved", "Subscribe"):
        assert not any(chrome in text for text in texts), chrome
