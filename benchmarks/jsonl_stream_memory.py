"""Peak Python heap (tracemalloc) and max-RSS growth while ingesting one 25 MB JSONL file (two
records around 400 lines of 64 KB blanks), after a warm-up ingest, with the hashing embedder.

    flock /tmp/ragline-bench.lock python benchmarks/jsonl_stream_memory.py

A streamed reader holds about one line; one that reads the whole file holds it (and its lines).
"""
import json
import resource
import tempfile
import tracemalloc
from pathlib import Path

from ragline.embed.hashing import HashingEmbedder
from ragline.engine import Engine

with tempfile.TemporaryDirectory() as tmp:
    corpus = Path(tmp) / "c"; corpus.mkdir()
    data = corpus / "big.jsonl"
    filler = " " * (64 * 2**10)
    with data.open("w") as h:
        h.write(json.dumps({"id": "a", "text": "the first record"}) + "\n")
        for _ in range(400):
            h.write(filler + "\n")
        h.write(json.dumps({"id": "z", "text": "the last record"}) + "\n")
    with Engine.open(f"local:{tmp}/store", embedder=HashingEmbedder(64), parse_workers=0) as engine:
        warm = Path(tmp) / "warm"; warm.mkdir()
        (warm / "w.jsonl").write_text(json.dumps({"id": "w", "text": "warm up the tokenizer and imports"}) + "\n")
        engine.ingest([warm])  # one-time costs (tokenizer tables, lazy imports) out of the figure
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        report = engine.ingest([corpus])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"file_mb": round(data.stat().st_size / 2**20, 1) if data.exists() else None,
                      "new": report.counts["new"], "tracemalloc_peak_mb": round(peak / 2**20, 2),
                      "maxrss_growth_mb": round((rss1 - rss0) / 1024, 1)}))
