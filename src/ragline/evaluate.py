"""Retrieval quality on BEIR-format collections, scored with trec_eval's definitions.

    dataset = load_beir(Path("datasets/cranfield"))
    result = evaluate_engine(engine, dataset, modes=("bm25", "hybrid"))   # {"bm25": ModeResult, ...}

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``,
``text``) and ``qrels/<split>.tsv`` (a header, then ``query-id corpus-id score``). The corpus is
ingested through the ordinary JSONL path, so each chunk's metadata carries its record's ``_id``
(``record_id``), and a chunk ranking becomes a document ranking by each document's best chunk.

Metrics (as trec_eval / pytrec_eval compute them over a ranked list):
- nDCG@10: gain = the judged grade (grades <= 0 give nothing), discount 1/log2(rank + 1), ideal
  DCG from all the query's judged documents sorted by grade, both cut at 10.
- Recall@100: relevant documents in the top 100 / all relevant documents of the query.
- MAP: mean over queries of AP = sum of precision@r at each relevant rank r / all relevant documents
  (relevant documents never retrieved count as zero precision).
- MRR@10: 1 / rank of the first relevant document within the top 10, else 0.
Only queries with at least one relevant (grade > 0) judged document are scored; a scored query with
no results scores 0 on everything (trec_eval ``-c``).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ragline.errors import ConfigError
from ragline.records import Hit

Qrels = Mapping[str, Mapping[str, int]]          # query id -> doc id -> grade
Run = Mapping[str, Sequence[tuple[str, float]]]  # query id -> ranked (doc id, score), best first

METRICS = ("nDCG@10", "Recall@100", "MAP", "MRR@10")
DEFAULT_DEPTH = 1000


# ----- dataset -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BeirDataset:
    root: Path
    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str = "test"

    @property
    def name(self) -> str:
        return self.root.name

    def scored_query_ids(self) -> list[str]:
        """Queries that count: judged, with at least one relevant document, and with a text."""
        return [q for q, judged in self.qrels.items()
                if q in self.queries and any(g > 0 for g in judged.values())]


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    root = Path(root)
    corpus = root / "corpus.jsonl"
    queries_path = root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for path in (corpus, queries_path, qrels_path):
        if not path.is_file():
            raise ConfigError(f"{path} is missing: a BEIR folder holds corpus.jsonl, queries.jsonl "
                              f"and qrels/{split}.tsv")
    queries: dict[str, str] = {}
    with queries_path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                queries[str(record["_id"])] = str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{queries_path}:{line_no}: not a BEIR query ({exc})") from exc
    return BeirDataset(root=root, corpus_path=corpus, queries=queries,
                       qrels=read_qrels(qrels_path), split=split)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["query-id", "corpus-id"]:
            raise ConfigError(f"{path}: expected the BEIR header 'query-id<TAB>corpus-id<TAB>score'")
        for line_no, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                query_id, doc_id, grade = row[0].strip(), row[1].strip(), int(float(row[2]))
            except (IndexError, ValueError) as exc:
                raise ConfigError(f"{path}:{line_no}: expected query-id, corpus-id, score") from exc
            qrels.setdefault(query_id, {})[doc_id] = grade
    return qrels


# ----- metrics (pure functions over one query) ------------------------------------------------
def ndcg_at(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    ideal_gains = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    if ideal == 0:
        return 0.0
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranking[:k], start=1))
    return dcg / ideal


def recall_at(ranking: Sequence[str], judged: Mapping[str, int], k: int = 100) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def average_precision(ranking: Sequence[str], judged: Mapping[str, int]) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def reciprocal_rank_at(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def score_query(ranking: Sequence[str], judged: Mapping[str, int]) -> dict[str, float]:
    return {"nDCG@10": ndcg_at(ranking, judged, 10), "Recall@100": recall_at(ranking, judged, 100),
            "MAP": average_precision(ranking, judged), "MRR@10": reciprocal_rank_at(ranking, judged, 10)}


def score_run(run: Run, qrels: Qrels) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean of each metric over the queries with a relevant judgement, and the per-query values."""
    per_query: dict[str, dict[str, float]] = {}
    for query_id, judged in qrels.items():
        if not any(g > 0 for g in judged.values()):
            continue  # nothing to find: such a query would only drag every system down alike
        ranking = [doc for doc, _score in run.get(query_id, ())]
        per_query[query_id] = score_query(ranking, judged)
    if not per_query:
        return {m: 0.0 for m in METRICS}, per_query
    means = {m: sum(q[m] for q in per_query.values()) / len(per_query) for m in METRICS}
    return means, per_query


# ----- chunk hits -> document ranking ---------------------------------------------------------
def record_id_of(hit: Hit) -> str:
    """The BEIR ``_id`` of a hit: JSONL ingestion stores it as ``record_id`` (and after '#' in the uri)."""
    record_id = hit.chunk.metadata.get("record_id")
    if record_id is not None:
        return str(record_id)
    return hit.uri.rpartition("#")[2] or hit.chunk.doc_id


def document_ranking(hits: Iterable[Hit], key: Callable[[Hit], str] = record_id_of,
                     depth: int | None = None) -> list[tuple[str, float]]:
    """A document's place is its best chunk's place; later chunks of a ranked document are dropped."""
    seen: set[str] = set()
    ranking: list[tuple[str, float]] = []
    for hit in hits:
        doc = key(hit)
        if doc in seen:
            continue
        seen.add(doc)
        ranking.append((doc, float(hit.score)))
        if depth is not None and len(ranking) >= depth:
            break
    return ranking


def write_trec_run(handle: IO[str], run: Run, tag: str) -> None:
    """TREC run format, one line per (query, document): ``qid Q0 docid rank score tag``.

    trec_eval re-sorts by score (ties by docid), so the scores written are the system's own, and
    the rank column is the order ragline returned.
    """
    if not tag or any(c.isspace() for c in tag):
        raise ConfigError(f"a TREC run tag must be one word, got {tag!r}")
    for query_id, ranking in run.items():
        for rank, (doc, score) in enumerate(ranking, start=1):
            # 10 significant digits: rounding must not invent ties that trec_eval would re-order.
            handle.write(f"{query_id} Q0 {doc} {rank} {score:.10g} {tag}\n")


# ----- driving an engine ------------------------------------------------------------------------
@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    queries: int
    latency_ms_p50: float
    latency_ms_p95: float
    # The same queries at k=10, what an application typically asks for (depth 1000 costs more).
    latency_k10_ms_p50: float = 0.0
    latency_k10_ms_p95: float = 0.0
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    run: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "queries": self.queries,
                "metrics": {m: round(v, 4) for m, v in self.metrics.items()},
                "latency_ms_p50": round(self.latency_ms_p50, 3),
                "latency_ms_p95": round(self.latency_ms_p95, 3),
                "latency_k10_ms_p50": round(self.latency_k10_ms_p50, 3),
                "latency_k10_ms_p95": round(self.latency_k10_ms_p95, 3)}


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def forget_cached_queries(engine: Any) -> None:
    """Empty the engine's query-vector and result caches, so the next search is timed cold:
    query embedding included. Called before every measured query (an earlier pass, another mode
    or a repeated query text would otherwise answer from a cache)."""
    engine.query_vectors.clear()
    engine.results.clear()


def evaluate_engine(engine: Any, dataset: BeirDataset, modes: Sequence[str],
                    depth: int = DEFAULT_DEPTH) -> dict[str, ModeResult]:
    """Run every scored query through ``engine.search`` in each mode and score the rankings.

    Every timed search starts with empty query caches, so both latencies include embedding the
    query (dense and hybrid), as a first-time query would."""
    query_ids = dataset.scored_query_ids()
    results: dict[str, ModeResult] = {}
    for mode in modes:
        run: dict[str, list[tuple[str, float]]] = {}
        latencies: list[float] = []
        for query_id in query_ids:
            forget_cached_queries(engine)
            started = time.perf_counter()
            hits = engine.search(dataset.queries[query_id], depth, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            run[query_id] = document_ranking(hits, depth=depth)
        at_10: list[float] = []
        for query_id in query_ids:
            forget_cached_queries(engine)
            started = time.perf_counter()
            engine.search(dataset.queries[query_id], 10, mode=mode)
            at_10.append((time.perf_counter() - started) * 1000)
        means, per_query = score_run(run, {q: dataset.qrels[q] for q in query_ids})
        results[mode] = ModeResult(mode, means, len(query_ids), _percentile(latencies, 50),
                                   _percentile(latencies, 95), _percentile(at_10, 50),
                                   _percentile(at_10, 95), per_query, run)
    return results


def run_eval(root: Path, *, store: str | None = None, modes: Sequence[str] = ("dense", "bm25", "hybrid"),
             split: str = "test", embedder: str | None = None, depth: int = DEFAULT_DEPTH,
             run_file: str | None = None, feedback_chunks: int | None = None) -> dict[str, Any]:
    """Ingest the corpus (incremental: a reused store costs only a check), then evaluate each mode."""
    from ragline.engine import MODES, Engine

    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ConfigError(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    dataset = load_beir(root, split)
    with tempfile.TemporaryDirectory(prefix="ragline-eval-") as tmp:
        uri = store or f"local:{tmp}/store"
        options: dict[str, Any] = {} if feedback_chunks is None else {"feedback_chunks": feedback_chunks}
        with Engine.open(uri, embedder=embedder, **options) as engine:
            report = engine.ingest([dataset.corpus_path])
            results = evaluate_engine(engine, dataset, modes, depth)
            model_id = engine.embedder.model_id
            feedback = engine.config.feedback_chunks
    written = []
    if run_file:
        for mode, result in results.items():
            path = Path(f"{run_file}.{mode}.trec")
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as handle:
                write_trec_run(handle, result.run, f"ragline-{mode}")
            written.append(str(path))
    return {"dataset": str(root), "split": split, "store": store or "(temporary)", "embedder": model_id,
            "depth": depth, "queries": len(dataset.scored_query_ids()), "feedback_chunks": feedback,
            "ingest": {"elapsed_s": round(report.elapsed_s, 3), "documents": dict(report.counts),
                       "chunks_written": report.chunks_written, "failed": len(report.failed)},
            "modes": {m: r.to_dict() for m, r in results.items()}, "run_files": written}


def print_eval(console: Any, result: dict[str, Any]) -> None:
    from rich.table import Table

    from ragline.progress import shown

    table = Table(title=f"ragline eval {shown(result['dataset'])} ({result['split']}, "
                        f"{result['queries']} queries, depth {result['depth']}, "
                        f"hybrid feedback chunks {result.get('feedback_chunks')})")
    table.add_column("mode")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column(f"p50/p95 ms @{result['depth']}", justify="right")
    table.add_column("p50/p95 ms @10", justify="right")
    table.caption = "latencies include embedding the query: query caches are emptied before each one"
    for mode, r in result["modes"].items():
        table.add_row(shown(mode), *(f"{r['metrics'][m]:.4f}" for m in METRICS),
                      f"{r['latency_ms_p50']:.1f} / {r['latency_ms_p95']:.1f}",
                      f"{r['latency_k10_ms_p50']:.1f} / {r['latency_k10_ms_p95']:.1f}")
    console.print(table)
    ingest = result["ingest"]
    console.print(f"ingest: {ingest['elapsed_s']:.1f} s, {ingest['chunks_written']} chunks written, "
                  f"documents {ingest['documents']}, failed {ingest['failed']}; embedder {shown(result['embedder'])}")
    for path in result["run_files"]:
        console.print(f"run file: {shown(path)}")


__all__ = ["METRICS", "BeirDataset", "ModeResult", "average_precision", "document_ranking",
           "evaluate_engine", "forget_cached_queries", "load_beir", "ndcg_at", "print_eval", "read_qrels", "recall_at",
           "reciprocal_rank_at", "record_id_of", "run_eval", "score_query", "score_run",
           "write_trec_run"]
