"""Search latency of Milvus Lite beside the local store, on the same chunks, in one run.

    python benchmarks/milvus_search.py --rows 4000 --queries 225

Chunks: Cranfield's documents (datasets/cranfield) cut into ~60-word pieces, as many as
``--rows``; vectors: deterministic random unit vectors (384-d, the default model's size), since
latency does not depend on what the vectors mean. Queries: Cranfield's query texts and random
unit vectors. Both stores are filled, flushed and warmed up, then each query runs once per mode
and store (interleaved, so noise hits both alike); the figures are medians (p50) and p90 in ms.

Modes: dense (k=10), BM25 (k=10), a filtered dense search (kind = one of four values), hybrid
as ``ragline.search.hybrid_search`` (RRF of both candidate lists, depth 40, no feedback) on
either store, and Milvus' own ``hybrid_search`` with ``RRFRanker`` (depth 40).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk
from ragline.search import hybrid_search
from ragline.store import open_store

DATASET = Path(__file__).resolve().parent.parent / "datasets" / "cranfield"
KINDS = ("pdf", "html", "md", "txt")


def cranfield_chunks(rows: int, words_per_chunk: int = 60) -> list[Chunk]:
    chunks: list[Chunk] = []
    with open(DATASET / "corpus.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            record = json.loads(line)
            uri = f"cranfield://{record['_id']}"
            doc_id = make_doc_id("bench", uri)
            words = record["text"].split()
            for index, start in enumerate(range(0, max(len(words), 1), words_per_chunk)):
                text = " ".join(words[start:start + words_per_chunk]) or record["title"]
                digest = content_hash(text)
                chunks.append(Chunk(make_chunk_id(doc_id, index, digest), doc_id, index, text, 0, len(text),
                                    len(text.split()), digest,
                                    {"uri": uri, "kind": KINDS[len(chunks) % 4], "page": index + 1}))
                if len(chunks) == rows:
                    return chunks
    return chunks


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--queries", type=int, default=225)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()

    chunks = cranfield_chunks(args.rows)
    vectors = unit_vectors(len(chunks), args.dim, 1)
    with open(DATASET / "queries.jsonl", encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines][:args.queries]
    query_vectors = unit_vectors(len(texts), args.dim, 2)

    with tempfile.TemporaryDirectory() as tmp:
        stores = {"local": open_store(f"local:{tmp}/local"), "milvus-lite": open_store(f"milvus-lite:{tmp}/milvus")}
        for name, store in stores.items():
            started = time.perf_counter()
            for begin in range(0, len(chunks), 512):
                with store.transaction():
                    store.upsert(chunks[begin:begin + 512], vectors[begin:begin + 512])
            store.flush()
            print(f"{name}: {store.count()} chunks written in {time.perf_counter() - started:.1f} s")

        modes: dict[str, Callable[..., object]] = {
            "dense k=10": lambda s, v, q, i: s.search_vector(v, 10),
            "bm25 k=10": lambda s, v, q, i: s.search_text(q, 10),
            "dense k=10, kind filter": lambda s, v, q, i: s.search_vector(v, 10, {"kind": KINDS[i % 4]}),
            "hybrid (ragline RRF, depth 40)": lambda s, v, q, i: hybrid_search(s, v, q, 10, depth=40,
                                                                                feedback_chunks=0),
        }
        timings: dict[tuple[str, str], list[float]] = {}
        for i, (text, vector) in enumerate(zip(texts, query_vectors)):
            for mode, run in modes.items():
                for name, store in stores.items():
                    if i == 0:
                        run(store, vector, text, i)  # warm-up: loads, caches, first-call costs
                    started = time.perf_counter()
                    run(store, vector, text, i)
                    timings.setdefault((mode, name), []).append((time.perf_counter() - started) * 1000)
            milvus = stores["milvus-lite"]
            if i == 0:
                milvus.search_hybrid(vector, text, 10, depth=40)  # type: ignore[attr-defined]
            started = time.perf_counter()
            milvus.search_hybrid(vector, text, 10, depth=40)  # type: ignore[attr-defined]
            timings.setdefault(("hybrid (Milvus hybrid_search + RRFRanker, depth 40)", "milvus-lite"),
                               []).append((time.perf_counter() - started) * 1000)

        print(f"\n{len(chunks)} chunks, {args.dim}-d, {len(texts)} queries; p50 / p90 in ms")
        print(f"{'mode':55} {'local':>15} {'milvus-lite':>15} {'ratio p50':>10}")
        for mode in [*modes, "hybrid (Milvus hybrid_search + RRFRanker, depth 40)"]:
            cells, p50 = [], {}
            for name in stores:
                values = timings.get((mode, name))
                if values is None:
                    cells.append("-")
                    continue
                p50[name] = statistics.median(values)
                cells.append(f"{p50[name]:.2f} / {np.percentile(values, 90):.2f}")
            ratio = f"{p50['milvus-lite'] / p50['local']:.1f}x" if len(p50) == 2 else ""
            print(f"{mode:55} {cells[0]:>15} {cells[1]:>15} {ratio:>10}")
        for store in stores.values():
            store.close()


if __name__ == "__main__":
    main()
