"""The int8 acceptance check on Cranfield: drift vs fp32, and dense-only nDCG@10 per precision.

    PYTHONPATH=src python benchmarks/cranfield_ndcg.py [--precisions fp32,int8] [--variant NAME=PATH ...]
                                                       [--embedder openvino-bf16 ...]

Every abstract is cut by ragline's chunker (256 tokens, overlap 32) and embedded; a document's
score for a query is its best chunk's cosine (exact search, so no ANN noise enters the
comparison). nDCG@10 uses the graded test qrels with linear gains (as pytrec_eval / BEIR do) and
counts every query that has judgements. Vectors are kept in .bench/ so re-runs are cheap.

Drift vs fp32 (the acceptance figures) on the first 1,000 chunks (corpus order) and the first 200
queries: mean cosine error over the chunks, and top-10 overlap = mean over the queries of
|top10_fp32 ∩ top10_candidate| / 10 among those chunks, each side with its own vectors.
Acceptance for an int8 default: overlap >= 0.97, cosine error <= 0.01, |nDCG delta| <= 0.005.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ragline.bench import cranfield_dir  # noqa: E402
from ragline.chunk import Chunker, ChunkerConfig  # noqa: E402
from ragline.embed import open_embedder  # noqa: E402
from ragline.embed.onnx import OnnxEmbedder  # noqa: E402
from ragline.embed.quality import mean_cosine_error, topk_overlap  # noqa: E402
from ragline.ids import make_doc_id  # noqa: E402
from ragline.records import Document  # noqa: E402


def ndcg_at_k(ranked: list[str], gains: dict[str, int], k: int = 10) -> float:
    dcg = sum(gains.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def load(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    for line in (folder / "corpus.jsonl").open():
        row = json.loads(line)
        if row.get("text", "").strip():
            corpus[row["_id"]] = row["text"]
    queries = {row["_id"]: row["text"] for row in map(json.loads, (folder / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    for line in list((folder / "qrels" / "test.tsv").open())[1:]:
        query, doc, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query, {})[doc] = int(score)
    return corpus, queries, qrels


def evaluate(embedder: OnnxEmbedder, label: str, corpus: dict[str, str], queries: dict[str, str],
             qrels: dict[str, dict[str, int]], cache: Path) -> dict[str, float]:
    chunker = Chunker(embedder, embedder.max_tokens, ChunkerConfig(256, 32))
    texts, owners = [], []
    for doc_id, text in corpus.items():
        for chunk in chunker(Document(make_doc_id("cran", doc_id), doc_id, "v", text, "text")):
            texts.append(chunk.text)
            owners.append(doc_id)
    query_ids = [q for q in queries if q in qrels]
    stored = cache / f"cranfield-{label}.npz"
    if stored.exists():
        saved = np.load(stored)
        doc_vectors, query_vectors = saved["docs"], saved["queries"]
    else:
        doc_vectors = embedder.embed(texts)
        query_vectors = embedder.embed([queries[q] for q in query_ids])
        np.savez(stored, docs=doc_vectors, queries=query_vectors)
    owner_index = {doc: i for i, doc in enumerate(dict.fromkeys(owners))}
    owner_of_chunk = np.array([owner_index[o] for o in owners])
    doc_names = list(owner_index)
    scores = query_vectors @ doc_vectors.T
    per_query = []
    for row, query in zip(scores, query_ids):
        best = np.full(len(doc_names), -np.inf)
        np.maximum.at(best, owner_of_chunk, row)
        ranked = [doc_names[i] for i in np.argsort(-best, kind="stable")[:10]]
        per_query.append(ndcg_at_k(ranked, qrels[query]))
    return {"ndcg@10": float(np.mean(per_query)), "queries": len(per_query), "chunks": len(texts),
            "_docs": doc_vectors, "_queries": query_vectors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--variant", action="append", default=[], help="NAME=PATH of an experimental ONNX file")
    parser.add_argument("--embedder", action="append", default=[], help="an embedder spec, e.g. openvino-bf16")
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()
    folder = cranfield_dir(args.corpus)
    if folder is None:
        sys.exit("no Cranfield corpus: pass --corpus DIR")
    corpus, queries, qrels = load(folder)
    cache = Path(".bench")
    cache.mkdir(exist_ok=True)
    runs = {p: OnnxEmbedder(precision=p, device="cpu") for p in args.precisions.split(",") if p}
    for item in args.variant:
        name, _, path = item.partition("=")
        runs[name] = OnnxEmbedder(onnx_path=path, device="cpu")
    for spec in args.embedder:
        runs[spec] = open_embedder(spec, device="cpu")
    results = {}
    for label, embedder in runs.items():
        results[label] = evaluate(embedder, f"{label}-{embedder.revision.replace(':', '_')}", corpus, queries,
                                  qrels, cache)
        print(label, {k: v for k, v in results[label].items() if not k.startswith("_")}, flush=True)
    if "fp32" in results:
        ref_docs, ref_queries = results["fp32"]["_docs"][:1000], results["fp32"]["_queries"][:200]
        for label, row in results.items():
            docs, qs = row["_docs"][:1000], row["_queries"][:200]
            row["delta_vs_fp32"] = row["ndcg@10"] - results["fp32"]["ndcg@10"]
            row["cosine_error_vs_fp32"] = mean_cosine_error(ref_docs, docs)
            row["top10_overlap_vs_fp32"] = topk_overlap(ref_queries, ref_docs, qs, docs, 10)
            row["accepted_as_default"] = bool(row["top10_overlap_vs_fp32"] >= 0.97
                                              and row["cosine_error_vs_fp32"] <= 0.01
                                              and abs(row["delta_vs_fp32"]) <= 0.005)
    for row in results.values():
        row.pop("_docs"), row.pop("_queries")
    print(json.dumps(results, indent=1))
    (cache / "cranfield_ndcg.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
