"""Every numeric CLI option has a range, checked before anything is opened or created."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ragline.cli import app


@pytest.mark.parametrize("args, option", [
    (["ingest", "x", "--max-tokens", "4"], "--max-tokens"),
    (["ingest", "x", "--overlap", "-1"], "--overlap"),
    (["ingest", "x", "--max-file-size", "0"], "--max-file-size"),
    (["ingest", "x", "--max-doc-chars", "10"], "--max-doc-chars"),
    (["ingest", "x", "--batch-chunks", "0"], "--batch-chunks"),
    (["ingest", "x", "--near-dup-threshold", "1.5"], "--near-dup-threshold"),
    (["ingest", "x", "--near-dup-threshold", "-0.1"], "--near-dup-threshold"),
    (["ingest", "x", "--parse-workers", "-2"], "--parse-workers"),
    (["search", "q", "-k", "0"], "-k"),
    (["search", "q", "--rerank-depth", "0"], "--rerank-depth"),
    (["search", "q", "--feedback-chunks", "-1"], "--feedback-chunks"),
    (["eval", "x", "--depth", "0"], "--depth"),
    (["bench", "ingest", "--generate", "-5"], "--generate"),
    (["bench", "search", "--n", "0"], "--n"),
    (["bench", "search", "--queries", "226"], "--queries"),
    (["bench", "embed", "--chunks", "0"], "--chunks"),
    (["bench", "embed", "--rounds", "0"], "--rounds"),
    (["bench", "embed", "--threads", "0"], "--threads"),
])
def test_out_of_range_numbers_are_usage_errors_naming_the_option(tmp_path, args, option):
    store = tmp_path / "store"
    extra = ["--store", f"local:{store}"] if args[0] in ("ingest", "search") else []
    result = CliRunner().invoke(app, args + extra, env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "greater than or equal to" in result.output or "less than or equal to" in result.output
    assert not store.exists()  # refused before any store was opened


def test_overlap_must_stay_below_half_the_chunk(tmp_path):
    import subprocess
    import sys

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("some text to ingest")
    result = subprocess.run([sys.executable, "-m", "ragline.cli", "ingest", str(docs), "--store",
                             f"local:{tmp_path / 'store'}", "--embedder", "hashing:64", "--max-tokens", "64",
                             "--overlap", "40"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "lower --overlap" in " ".join(result.stderr.split())  # one line, exit 2
