"""``ragline bench ingest``: a first run and a no-op re-run of the same folder, timed.

    result = bench_ingest(Path("corpus"))   # {"first": {...}, "rerun": {...}, "rerun_ratio": ...}
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def bench_ingest(path: Path, *, store: str | None = None, embedder: str | None = None) -> dict[str, Any]:
    from ragline.engine import Engine

    with tempfile.TemporaryDirectory(prefix="ragline-bench-") as tmp:
        uri = store or f"local:{tmp}/store"
        runs = {}
        for name in ("first", "rerun"):
            with Engine.open(uri, embedder=embedder) as engine:
                report = engine.ingest([path])
            runs[name] = report.to_dict()
    first, rerun = runs["first"], runs["rerun"]
    return {"path": str(path), "first": first, "rerun": rerun,
            "rerun_ratio": rerun["elapsed_s"] / max(first["elapsed_s"], 1e-9)}


def print_bench(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"bench ingest {result['path']}")
    for column in ("run", "seconds", "docs", "docs/s", "chunks written", "chunks/s", "embedded", "cache hits"):
        table.add_column(column, justify="right")
    for name in ("first", "rerun"):
        r = result[name]
        table.add_row(name, f"{r['elapsed_s']:.2f}", str(sum(r["documents"].values())), str(r["docs_per_s"]),
                      str(r["chunks_written"]), str(r["chunks_per_s"]), str(r["chunks_embedded"]),
                      str(r["cache_hits"]))
    console.print(table)
    console.print(f"re-run took {result['rerun_ratio'] * 100:.2f}% of the first run's time")
    stages = result["first"].get("stage_seconds", {})
    if stages:
        console.print("first run, seconds by stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


# ----- ``ragline bench search`` ------------------------------------------------------------------
# Vectors: real all-MiniLM-L6-v2 embeddings of the Cranfield corpus chunks (1400 aeronautics
# abstracts), expanded to --n by mixing two real vectors (random weights) plus small noise and
# re-normalising, so the set keeps the clustered, anisotropic shape of real text embeddings
# (uniform random vectors would flatter every index). Queries are the 225 real Cranfield queries,
# embedded by the same model and never part of the base set.

SEARCH_K = 10


def find_cranfield(explicit: Path | None = None) -> Path:
    from ragline.errors import ConfigError

    candidates = [explicit] if explicit else [
        Path("datasets/cranfield"), Path("../shared/datasets/cranfield"),
        Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cranfield"]
    for folder in candidates:
        if folder is not None and (folder / "corpus.jsonl").exists():
            return folder
    raise ConfigError("no Cranfield data (corpus.jsonl, queries.jsonl) found; pass --cranfield FOLDER")


def load_cranfield(folder: Path) -> tuple[list[dict[str, str]], list[str]]:
    import json

    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines() if line.strip()]
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").read_text().splitlines()
               if line.strip()]
    return docs, queries


def real_embeddings(folder: Path, embedder_spec: str = "onnx") -> dict[str, Any]:
    """Chunk texts, chunk vectors and query vectors of Cranfield, embedded once and cached as .npy
    under the ragline cache dir (keyed by model id and revision)."""
    import hashlib
    import json

    import numpy as np

    from ragline.chunk import Chunker
    from ragline.embed import open_embedder
    from ragline.embed.export import cache_root
    from ragline.ids import make_doc_id
    from ragline.records import Document

    embedder = open_embedder(embedder_spec)
    key = hashlib.sha256(f"{embedder.model_id}|{embedder.revision}".encode()).hexdigest()[:16]
    target = cache_root() / "bench" / f"cranfield-{key}"
    names = ("chunks.npy", "queries.npy", "texts.json")
    if not all((target / name).exists() for name in names):
        docs, query_texts = load_cranfield(folder)
        chunker = Chunker(embedder, embedder.max_tokens)
        texts = []
        for doc in docs:
            document = Document(doc_id=make_doc_id("bench", doc["_id"]), uri=f"cranfield:{doc['_id']}",
                                version="1", text=doc["text"], kind="txt", title=doc["title"])
            texts += [chunk.text for chunk in chunker(document)]
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / "chunks.npy", embedder.embed(texts).astype(np.float32))
        np.save(target / "queries.npy", embedder.embed(query_texts).astype(np.float32))
        (target / "texts.json").write_text(json.dumps({"chunks": texts, "queries": query_texts}))
    embedder.close()
    texts = json.loads((target / "texts.json").read_text())
    return {"chunks": np.load(target / "chunks.npy"), "queries": np.load(target / "queries.npy"),
            "chunk_texts": texts["chunks"], "query_texts": texts["queries"], "cache": str(target)}
