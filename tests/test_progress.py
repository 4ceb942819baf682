"""What the CLI prints: user-controlled text cannot drive the terminal."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ragline.progress import print_hits, print_report, shown, terminal_safe
from ragline.records import Chunk, FailedItem, Hit, IngestReport, Snippet

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\x08\x9b31m\u202eexe.txt [bold red]x[/bold red]"


def rendered(draw, terminal: bool = True) -> str:
    """What ``draw`` writes: to a colour terminal (rich adds its own styles), or as plain text."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, no_color=not terminal,
                      color_system="truecolor" if terminal else None, width=400)
    draw(console)
    return buffer.getvalue()


def test_controls_become_visible_escapes():
    assert terminal_safe("a\x1b[31mb\x07c\rd\u202ee\x9b") == "a\\x1b[31mb\\x07c\\x0dd\\u202ee\\x9b"
    assert terminal_safe("line\nnext\tcol") == "line\\x0anext\tcol"
    assert terminal_safe("line\nnext", newlines=True) == "line\nnext"
    assert terminal_safe("naïve 日本語 — ✓") == "naïve 日本語 — ✓"
    assert shown("[bold]x[/bold]") == "\\[bold]x\\[/bold]"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_control_character_survives(text):
    safe = terminal_safe(text)
    assert not any(ord(c) < 32 and c != "\t" or 0x7f <= ord(c) <= 0x9f for c in safe)
    assert not any(c in safe for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_report_prints_hostile_names_and_reasons_inertly():
    report = IngestReport(namespace=HOSTILE)
    report.fail("file:///" + HOSTILE, "parse", "too_large: " + HOSTILE)
    report.skipped.append(FailedItem("file:///" + HOSTILE, "detect", HOSTILE))
    report.duplicates["file:///" + HOSTILE] = "file:///orig" + HOSTILE
    text = rendered(lambda console: print_report(console, report))
    for sequence in ("\x1b]0;", "\x1b[2J", "\x07", "\r", "\x08", "\x9b", "\u202e"):
        assert sequence not in text
    plain = rendered(lambda console: print_report(console, report), terminal=False)
    assert "\\x1b]0;pwned\\x07" in plain and "[bold red]x[/bold red]" in plain  # shown, not obeyed


def test_hits_print_hostile_uris_headings_and_snippets_inertly():
    chunk = Chunk(chunk_id="c", doc_id="d", index=0, text="lava " + HOSTILE, start=0, end=10, token_count=3,
                  content_hash="h", metadata={"heading": HOSTILE, "page": 2})
    snippet = Snippet("lava " + HOSTILE + "\nmore lava", highlights=((0, 4), (len(HOSTILE) + 11, len(HOSTILE) + 15)))
    hits = [Hit(chunk, 0.5, "file:///" + HOSTILE, snippet=snippet), Hit(chunk, 0.4, "file:///" + HOSTILE)]
    text = rendered(lambda console: print_hits(console, HOSTILE, hits, "hybrid", 0.01))
    for sequence in ("\x1b]0;", "\x1b[2J", "\x07", "\r", "\x08", "\x9b", "\u202e"):
        assert sequence not in text
    plain = rendered(lambda console: print_hits(console, HOSTILE, hits, "hybrid", 0.01), terminal=False)
    assert "more lava" in plain and "\\u202eexe.txt [bold red]x[/bold red]" in plain


@pytest.mark.integration
def test_cli_neutralises_terminal_output_but_json_stays_exact(tmp_path):
    import json
    import os
    import subprocess
    import sys

    record_id = "id\x1b]0;pwned\x07\x1b[2J[red]x[/red]"
    title = "Lava flows"
    source = tmp_path / "docs" / "records.jsonl"
    source.parent.mkdir()
    source.write_text(json.dumps({"id": record_id, "title": title, "text": "Basalt lava flows quietly."}) + "\n"
                      + "{not json \x1b[2J}\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}

    def ragline(*args: str, store: str = "human") -> str:
        result = subprocess.run([sys.executable, "-m", "ragline.cli", *args, "--store",
                                 f"local:{tmp_path / store}", "--embedder", "hashing:64"],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    human = ragline("ingest", str(source.parent)) + ragline("search", "basalt lava", "--mode", "bm25")
    assert "\x1b" not in human and "\x07" not in human   # not a terminal: every ESC would be the data's
    assert "%1B]0;pwned%07%1B[2J[red]x[/red]" in human                  # the uri, percent-encoded
    report = json.loads(ragline("ingest", str(source.parent), "--json", store="json"))
    assert report["failed"][0]["uri"].endswith("#line=2")
    hits = json.loads(ragline("search", "basalt lava", "--mode", "bm25", "--json", store="json"))
    # exact: the uri as stored (the id's control characters percent-encoded), nothing added
    assert hits[0]["uri"].endswith("#id%1B]0;pwned%07%1B[2J[red]x[/red]")
