"""``ragline bench ingest``: a first run and a no-op re-run of the same folder, timed, with the
pipeline's per-stage breakdown, the embedder's busy fraction and the process tree's memory.

    result = bench_ingest(Path("corpus"))   # {"first": {...}, "rerun": {...}, "rerun_ratio": ...}
    generate_corpus(Path("big"), 200_000)   # sharded JSONL of small documents made of real sentences
``ragline bench embed`` (in ``ragline.bench_embed``): every runtime and precision against
sentence-transformers.

    result = bench_embed(chunks=300, rounds=3)   # {"systems": {"openvino-bf16": {...}, ...}, ...}
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class MemorySampler(threading.Thread):
    """Samples the RSS of this process and its children (parse workers) every ``interval`` s."""

    def __init__(self, interval: float = 0.5):
        super().__init__(name="ragline-rss", daemon=True)
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self.started = time.perf_counter()

    def rss(self) -> int:
        import psutil

        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.samples.append((time.perf_counter() - self.started, self.rss()))

    def stop(self) -> dict[str, Any]:
        self._halt.set()
        self.join()
        self.samples.append((time.perf_counter() - self.started, self.rss()))
        values = [rss for _, rss in self.samples]
        mib = 2**20
        # RSS at each tenth of the run: flat after warm-up means the later tenths stay level.
        tenths = [round(values[min(len(values) - 1, int(len(values) * i / 10))] / mib, 1) for i in range(1, 11)]
        return {"peak_rss_mib": round(max(values) / mib, 1), "rss_by_tenth_mib": tenths,
                "growth_after_first_quarter_mib": round((values[-1] - values[len(values) // 4]) / mib, 1),
                "samples": len(values)}


def bench_ingest(path: Path, *, store: str | None = None, embedder: str | None = None,
                 rerun: bool = True, **options: Any) -> dict[str, Any]:
    from ragline.engine import Engine

    with tempfile.TemporaryDirectory(prefix="ragline-bench-") as tmp:
        uri = store or f"local:{tmp}/store"
        runs = {}
        for name in ("first", "rerun") if rerun else ("first",):
            sampler = MemorySampler()
            sampler.start()
            with Engine.open(uri, embedder=embedder, **options) as engine:
                report = engine.ingest([path])
            runs[name] = {**report.to_dict(), "memory": sampler.stop()}
            for key in ("failed", "skipped", "warnings", "duplicates", "near_duplicates"):
                runs[name][f"{key}_count"] = len(runs[name].pop(key))
    result: dict[str, Any] = {"path": str(path), "embedder": embedder or "auto", **runs}
    if rerun:
        result["rerun_ratio"] = runs["rerun"]["elapsed_s"] / max(runs["first"]["elapsed_s"], 1e-9)
    return result


def print_bench(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"bench ingest {result['path']} ({result['embedder']})")
    for column in ("run", "seconds", "docs", "docs/s", "chunks written", "chunks/s", "embedded",
                   "cache hit rate", "dedup rate", "peak RSS MiB"):
        table.add_column(column, justify="right")
    runs = [name for name in ("first", "rerun") if name in result]
    for name in runs:
        r = result[name]
        table.add_row(name, f"{r['elapsed_s']:.2f}", str(sum(r["documents"].values())), str(r["docs_per_s"]),
                      str(r["chunks_written"]), str(r["chunks_per_s"]), str(r["chunks_embedded"]),
                      f"{r['cache_hit_rate']:.1%}", f"{r['dedup_rate']:.1%}",
                      str(r["memory"]["peak_rss_mib"]))
    console.print(table)
    if "rerun_ratio" in result:
        console.print(f"re-run took {result['rerun_ratio'] * 100:.2f}% of the first run's time")
    pipeline = result["first"].get("pipeline") or {}
    if pipeline:
        stages = Table(title="first run: busy time by stage (parse, chunk and signature summed over "
                             f"{pipeline.get('parse_workers') or 'no'} worker processes)")
        for column in ("stage", "busy s", "% of wall", "items", "items/s"):
            stages.add_column(column, justify="right")
        wall = pipeline["wall_s"]
        for name, stage in pipeline["stages"].items():
            stages.add_row(name, f"{stage['busy_s']:.2f}", f"{stage['busy_s'] / wall:.0%}", str(stage["items"] or ""),
                           "" if not stage["items"] else str(stage["items_per_s"]))
        console.print(stages)
        console.print(f"embedder busy {pipeline['embedder_busy_fraction']:.1%} of {wall:.1f} s wall time")
    memory = result["first"]["memory"]
    console.print(f"RSS by tenth of the first run (MiB): {memory['rss_by_tenth_mib']}; "
                  f"growth after the first quarter: {memory['growth_after_first_quarter_mib']} MiB")


def generate_corpus(target: Path, n_docs: int, *, source: Path | None = None, per_file: int = 1000,
                    seed: int = 7) -> Path:
    """Write ``n_docs`` small documents (3-8 sentences drawn from a real corpus) as JSONL shards.

    The default source is the bundled Cranfield collection; every document is distinct."""
    source = source or _default_sentences_source()
    sentences: list[str] = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            sentences += [s.strip() for s in _SENTENCE.split(record.get("text", "")) if len(s.split()) >= 5]
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    shard = 0
    while written < n_docs:
        count = min(per_file, n_docs - written)
        with (target / f"shard-{shard:05d}.jsonl").open("w", encoding="utf-8") as out:
            for i in range(count):
                body = " ".join(rng.sample(sentences, rng.randint(3, 8)))
                out.write(json.dumps({"_id": f"g{written + i}", "title": f"Generated note {written + i}",
                                      "text": body}) + "\n")
        written += count
        shard += 1
    return target


def _default_sentences_source() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "datasets" / "cranfield" / "corpus.jsonl",
                          parent / "samples" / "corpus" / "data" / "cranfield-40.jsonl"):
            if candidate.exists():
                return candidate
    raise FileNotFoundError("no sentence source found; pass source=PATH to a JSONL corpus")


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
    under the ragline cache dir (keyed by model id, revision and the data files' bytes)."""
    import hashlib
    import json

    import numpy as np

    from ragline.chunk import Chunker
    from ragline.embed import open_embedder
    from ragline.embed.export import cache_root
    from ragline.ids import make_doc_id
    from ragline.records import Document

    embedder = open_embedder(embedder_spec)
    digest = hashlib.sha256(f"{embedder.model_id}|{embedder.revision}".encode())
    for name in ("corpus.jsonl", "queries.jsonl"):
        digest.update((folder / name).read_bytes())
    key = digest.hexdigest()[:16]
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


def expand_vectors(real: Any, n: int, rng: Any) -> tuple[Any, Any, Any, Any]:
    """``n`` unit vectors, each a random mix of two real ones (weight 0.5-1 on the first) plus
    N(0, 0.02) noise, and the (first, second, weight) behind each, to write matching texts."""
    import numpy as np

    first, second = rng.integers(0, len(real), n), rng.integers(0, len(real), n)
    weight = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
    out = weight * real[first] + (1 - weight) * real[second]
    out += rng.normal(0, 0.02, out.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32), first, second, weight[:, 0]


def mixed_texts(chunk_texts: list[str], first: Any, second: Any, weight: Any, rng: Any,
                sentences_per_text: int = 4) -> list[str]:
    """Texts recombined from real Cranfield sentences, drawn from the same two chunks (and in
    the same proportion) as the vector they go with."""
    sentences = [[s.strip() + " ." for s in text.split(" . ") if s.strip()] for text in chunk_texts]
    texts = []
    for a, b, w in zip(first.tolist(), second.tolist(), weight.tolist()):
        from_first = max(1, round(sentences_per_text * w))
        picked = [sentences[a][i] for i in rng.integers(0, len(sentences[a]), from_first)]
        picked += [sentences[b][i] for i in rng.integers(0, len(sentences[b]), sentences_per_text - from_first)]
        texts.append(" ".join(picked))
    return texts


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    import numpy as np

    return float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 99) * 1000)


def _timed(fn: Any, items: Any) -> tuple[list[Any], list[float]]:
    results, times = [], []
    for item in items:
        start = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - start)
    return results, times


def _recall(found: list[list[int]], truth: Any) -> float:
    return float(sum(len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth)) / len(truth))


def bench_search(n: int = 200_000, queries: int = 225, *, dtypes: Sequence[str] | None = None,
                 cranfield: Path | None = None, log: Any = None) -> dict[str, Any]:
    """Build a real LocalStore of ``n`` chunks once, then for each ANN dtype: rebuild the index,
    measure memory, recall@10 vs exact search, latency through the store and through faiss."""
    import gc

    import faiss
    import numpy as np

    from ragline.engine import EngineConfig
    from ragline.ids import content_hash, make_chunk_id, make_doc_id
    from ragline.records import Chunk
    from ragline.search import hybrid_search
    from ragline.store.local import LocalStore
    from ragline.store.local.ann import DEFAULT_VECTOR_DTYPE, EF_SEARCH, VECTOR_DTYPES, check_dtype

    say = log or (lambda message: None)
    dtypes = [check_dtype(d) for d in (dtypes or VECTOR_DTYPES)]
    k = SEARCH_K
    data = real_embeddings(find_cranfield(cranfield))
    query_vectors, query_texts = data["queries"][:queries], data["query_texts"][:queries]
    rng = np.random.default_rng(0)
    vectors, first, second, weight = expand_vectors(data["chunks"], n, rng)
    vectors = vectors.astype(np.float16).astype(np.float32)  # exactly what SQLite holds
    texts = mixed_texts(data["chunk_texts"], first, second, weight, rng)
    say(f"{n} vectors expanded from {len(data['chunks'])} real chunk embeddings; {len(query_vectors)} queries")

    faiss.omp_set_num_threads(2)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth = exact.search(query_vectors, k)[1]
    del exact

    result: dict[str, Any] = {
        "vectors": (f"{n} x {vectors.shape[1]}: real all-MiniLM-L6-v2 embeddings of "
                    f"{len(data['chunks'])} Cranfield chunks, expanded by mixing random pairs "
                    f"(weights 0.5-1) + N(0, 0.02) noise, re-normalised; stored as float16"),
        "queries": f"{len(query_vectors)} real Cranfield queries embedded by the same model (held out)",
        "texts": "each chunk text recombines 4 real Cranfield sentences from the two chunks its vector mixes",
        "n": n, "k": k, "ef_search": EF_SEARCH, "cache": data["cache"], "dtypes": {},
    }
    hybrid_depth = max(k * EngineConfig.hybrid_depth, 40)
    with tempfile.TemporaryDirectory(prefix="ragline-bench-search-") as tmp:
        store = LocalStore(Path(tmp) / "store", vector_dtype=dtypes[0])
        start = time.perf_counter()
        position_of: dict[str, int] = {}
        for begin in range(0, n, 5000):
            batch = []
            for i in range(begin, min(begin + 5000, n)):
                doc_id = make_doc_id("bench", f"doc-{i // 8}")
                text_hash = content_hash(texts[i])
                chunk_id = make_chunk_id(doc_id, i % 8, text_hash)
                position_of[chunk_id] = i
                batch.append(Chunk(chunk_id, doc_id, i % 8, texts[i], 0, len(texts[i]), len(texts[i].split()),
                                   text_hash, {"uri": f"bench://doc-{i // 8}"}))
            with store.transaction():
                store.upsert(batch, vectors[begin:begin + len(batch)])
        result["sqlite_load_s"] = time.perf_counter() - start
        say(f"loaded {n} chunks into SQLite in {result['sqlite_load_s']:.1f} s")
        # The generated texts are in SQLite now. What the benchmark itself still holds (200k
        # ids for scoring recall) is moved out of the cyclic collector's sight, so its
        # collections do not land inside timed searches: a server holds no such heap.
        del texts, batch
        gc.collect()
        gc.freeze()
        ann_ready = False
        for dtype in dtypes:
            faiss.omp_set_num_threads(2)
            start = time.perf_counter()
            store.set_vector_dtype(dtype)
            ann = store.ann  # re-quantizes from SQLite
            build_s = time.perf_counter() - start
            if not ann_ready:
                start = time.perf_counter()
                store.flush()  # the BM25 index over every chunk text
                result["bm25_build_s"] = time.perf_counter() - start
                ann_ready = True
            row = _bench_dtype(store, ann, query_vectors, truth, position_of, k)
            row["build_s"] = build_s
            row["bytes_per_vector"] = ann.nbytes() / max(len(ann), 1)
            if dtype == DEFAULT_VECTOR_DTYPE:
                faiss.omp_set_num_threads(1)

                config = EngineConfig()

                def hybrid(i: int, feedback: int = config.feedback_chunks,
                           feedback_weight: float = config.feedback_weight) -> list:
                    # What Engine.search(mode="hybrid") runs, less the query embedding.
                    return hybrid_search(store, query_vectors[i], query_texts[i], k, depth=hybrid_depth,
                                         feedback_chunks=feedback, feedback_weight=feedback_weight)

                _timed(hybrid, range(min(20, len(query_vectors))))  # warm up
                _, times = _timed(hybrid, range(len(query_vectors)))
                row["hybrid_p50_ms"], row["hybrid_p99_ms"] = _percentiles(times)
                _, times = _timed(lambda i: hybrid(i, 0), range(len(query_vectors)))
                row["hybrid_no_feedback_p50_ms"], _ = _percentiles(times)
                _, times = _timed(lambda i: store.text_candidates(query_texts[i], hybrid_depth),
                                  range(len(query_vectors)))
                row["bm25_p50_ms"], _ = _percentiles(times)
                result["hybrid_depth"] = hybrid_depth
            result["dtypes"][dtype] = row
            say(f"{dtype}: " + ", ".join(f"{key} {value:.3f}" for key, value in row.items()))
        store.close()
    result["default_dtype"] = DEFAULT_VECTOR_DTYPE
    return result


def _bench_dtype(store: Any, ann: Any, query_vectors: Any, truth: Any, position_of: dict[str, int],
                 k: int) -> dict[str, float]:
    import faiss

    from ragline.store.local.ann import BINARY_PREFETCH, EF_SEARCH

    faiss.omp_set_num_threads(1)
    # The depth the store asks faiss for: binary prefetches more for its asymmetric stage.
    depth = k * ann.rescore_factor * (BINARY_PREFETCH if ann.dtype == "binary" else 1)
    params: Any = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    params.efSearch = max(EF_SEARCH, depth)
    codes = ann._query_codes(query_vectors)
    count = len(query_vectors)

    def raw(i: int) -> Any:
        return ann.index.search(codes[i:i + 1], depth, params=params)

    def through_store(i: int) -> list[int]:
        return [position_of[h.chunk.chunk_id] for h in store.search_vector(query_vectors[i], k)]

    def candidates(i: int) -> list:
        return store.vector_candidates(query_vectors[i], k)

    row: dict[str, float] = {}
    for _round in range(2):  # the first round warms caches; the second is measured
        _, raw_times = _timed(raw, range(count))
        _, candidate_times = _timed(candidates, range(count))
        found, store_times = _timed(through_store, range(count))
    row["recall_at_10"] = _recall(found, truth)
    unrescored = ann.search_batch(query_vectors, k)
    rowid_to_position = _rowid_positions(store, position_of)
    row["recall_at_10_no_rescore"] = _recall([[rowid_to_position[r] for r, _ in hits] for hits in unrescored],
                                             truth)
    row["p50_ms"], row["p99_ms"] = _percentiles(store_times)
    row["raw_faiss_p50_ms"], row["raw_faiss_p99_ms"] = _percentiles(raw_times)
    # Like for like: faiss returns ids and scores, so does vector_candidates (with the store's
    # change-log check, filter handling and rescoring); p50_ms adds reading the k chunks' rows.
    row["candidates_p50_ms"], _ = _percentiles(candidate_times)
    row["overhead_ratio"] = row["candidates_p50_ms"] / row["raw_faiss_p50_ms"]
    row["hits_overhead_ratio"] = row["p50_ms"] / row["raw_faiss_p50_ms"]
    faiss.omp_set_num_threads(2)
    rounds, start = 0, time.perf_counter()
    while rounds < 3 or time.perf_counter() - start < 1.0:
        ann.search_batch(query_vectors, k, None, store._fetch_vectors)
        rounds += 1
    row["batch_qps_2_threads"] = rounds * count / (time.perf_counter() - start)
    return row


def _rowid_positions(store: Any, position_of: dict[str, int]) -> dict[int, int]:
    return {rowid: position_of[chunk_id] for rowid, chunk_id in
            store.db.execute("SELECT id, chunk_id FROM chunks WHERE namespace = ?", (store.namespace,))}


def print_search_bench(console: Console, result: dict[str, Any]) -> None:
    console.print(f"vectors: {result['vectors']}")
    console.print(f"queries: {result['queries']}; k = {result['k']}, efSearch = {result['ef_search']}")
    console.print(f"texts: {result['texts']}")
    console.print(f"SQLite load {result['sqlite_load_s']:.1f} s, BM25 build {result.get('bm25_build_s', 0):.1f} s")
    table = Table(title=f"bench search, {result['n']} chunks (latency: 1 thread; batch: 2 threads)")
    columns = ("dtype", "bytes/vec", "build s", "recall@10", "no rescore", "p50 ms", "p99 ms",
               "faiss p50 ms", "ids p50 ms", "overhead", "batch QPS", "hybrid p50 ms")
    for column in columns:
        table.add_column(column, justify="right")
    for dtype, row in result["dtypes"].items():
        name = dtype + (" (default)" if dtype == result["default_dtype"] else "")
        table.add_row(name, f"{row['bytes_per_vector']:.0f}", f"{row['build_s']:.1f}",
                      f"{row['recall_at_10']:.3f}", f"{row['recall_at_10_no_rescore']:.3f}",
                      f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}", f"{row['raw_faiss_p50_ms']:.3f}",
                      f"{row['candidates_p50_ms']:.3f}", f"{row['overhead_ratio']:.2f}x",
                      f"{row['batch_qps_2_threads']:.0f}",
                      f"{row['hybrid_p50_ms']:.2f}" if "hybrid_p50_ms" in row else "")
    console.print(table)
    for dtype, row in result["dtypes"].items():
        if "hybrid_p50_ms" in row:
            console.print(f"hybrid ({dtype}, depth {result['hybrid_depth']}): p50 {row['hybrid_p50_ms']:.2f} ms, "
                          f"p99 {row['hybrid_p99_ms']:.2f} ms with query feedback; "
                          f"{row['hybrid_no_feedback_p50_ms']:.2f} ms without; BM25 alone {row['bm25_p50_ms']:.2f} ms")
    console.print("goals: default recall@10 >= 0.95, dense p50 <= 1 ms, hybrid p50 <= 5 ms (query "
                  "embedding excluded), store/faiss overhead <= 1.5x. 'faiss p50' is the bare index "
                  "search for the same candidate depth; 'ids p50' is the store's search to the same "
                  "output (row ids and scores, rescored); 'overhead' is their ratio. 'p50' adds reading "
                  "the k chunks from SQLite.")


# ----- bench embed: data ------------------------------------------------------------------

def cranfield_dir(explicit: Path | None = None) -> Path | None:
    """The Cranfield BEIR folder: ``explicit``, ``$RAGLINE_CRANFIELD``, ``./datasets/cranfield``, or
    ``shared/datasets/cranfield`` beside the checkout."""
    import os

    candidates = [explicit, Path(os.environ["RAGLINE_CRANFIELD"]) if os.environ.get("RAGLINE_CRANFIELD") else None,
                  Path("datasets/cranfield"), Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cranfield"]
    for candidate in candidates:
        if candidate is not None and (candidate / "corpus.jsonl").exists():
            return candidate
    return None


def cranfield_chunks(tokenizer: Any, max_tokens: int, limit: int, folder: Path | None = None) -> list[str]:
    """The first ``limit`` chunks of the Cranfield abstracts, cut by ragline's chunker (256 tokens)."""
    import json

    from ragline.chunk import Chunker, ChunkerConfig
    from ragline.ids import make_doc_id
    from ragline.records import Document

    folder = cranfield_dir(folder)
    if folder is None:
        raise FileNotFoundError("no Cranfield corpus found: pass --corpus DIR (a BEIR folder with corpus.jsonl) "
                                "or set RAGLINE_CRANFIELD")
    chunker = Chunker(tokenizer, max_tokens, ChunkerConfig(min(256, max_tokens), 32))
    texts: list[str] = []
    with (folder / "corpus.jsonl").open() as lines:
        for line in lines:
            row = json.loads(line)
            if not row.get("text", "").strip():
                continue
            doc = Document(make_doc_id("bench", row["_id"]), row["_id"], "v", row["text"], "text")
            texts += [chunk.text for chunk in chunker(doc)]
            if len(texts) >= limit:
                break
    return texts[:limit]


def cranfield_queries(limit: int, folder: Path | None = None) -> list[str]:
    import json

    folder = cranfield_dir(folder)
    if folder is None:
        return []
    with (folder / "queries.jsonl").open() as lines:
        return [json.loads(line)["text"] for _, line in zip(range(limit), lines)]


# ----- bench embed: speed, quality and efficiency of the embedders ---------------------------
# In ragline.bench_embed; re-exported here, where the CLI and the tests have always found them.
from ragline.bench_embed import (  # noqa: F401, E402
    bench_embed,
    model_flops_per_token,
    peak_gemm_flops,
    plot_bench_embed,
    print_bench_embed,
)
