"""``ragline bench ingest``: a first run and a no-op re-run of the same folder, timed.
``ragline bench embed``: our fp32 and int8 ONNX embedders against sentence-transformers.

    result = bench_ingest(Path("corpus"))   # {"first": {...}, "rerun": {...}, "rerun_ratio": ...}
    result = bench_embed(chunks=300, rounds=3)   # {"systems": {"onnx-fp32": {...}, ...}, ...}
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
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

def model_flops_per_token(config: dict[str, Any], sequence: float) -> float:
    """Forward FLOPs per token of a BERT-style encoder at a given (unpadded) sequence length.

    Each layer's weight MatMuls cost 2 FLOPs (multiply + add) per weight per token: Q, K, V and the
    attention output are d x d each, the FFN is d x ff and ff x d, so 2 * (4 d^2 + 2 d ff). The
    attention itself (Q K^T, then scores x V) costs 2 * 2 * sequence * d per token. Embedding
    look-ups, LayerNorm, GELU and softmax are a few percent and left out.
    """
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    return layers * (2 * (4 * d * d + 2 * d * ff) + 4 * sequence * d)


def peak_gemm_flops(threads: int, size: int = 1536, repeats: int = 5) -> dict[str, float]:
    """This CPU's measured GEMM peak with ONNX Runtime's own kernels and thread count: a large fp32
    MatMul, and a u8 x s8 MatMulInteger (what the int8 model runs). Best of ``repeats``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def session(op: str, a_type: int, b_type: int, c_type: int) -> Any:
        graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["c"])], "peak",
                                  [helper.make_tensor_value_info("a", a_type, [size, size]),
                                   helper.make_tensor_value_info("b", b_type, [size, size])],
                                  [helper.make_tensor_value_info("c", c_type, [size, size])])
        # IR 8 is what opset 17 needs; the onnx package would stamp its newest, which ORT may not read.
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    result = {}
    for name, op, a, b, c_type in (
            ("fp32", "MatMul", rng.standard_normal((size, size), dtype=np.float32),
             rng.standard_normal((size, size), dtype=np.float32), TensorProto.FLOAT),
            ("int8", "MatMulInteger", rng.integers(0, 255, (size, size), dtype=np.uint8),
             rng.integers(-127, 127, (size, size), dtype=np.int8), TensorProto.INT32)):
        run = session(op, helper.np_dtype_to_tensor_dtype(a.dtype), helper.np_dtype_to_tensor_dtype(b.dtype), c_type)
        run.run(None, {"a": a, "b": b})
        best = min(_timed(lambda: run.run(None, {"a": a, "b": b})) for _ in range(repeats))
        result[name] = 2 * size ** 3 / best
    return result


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class _SentenceTransformers:
    """sentence-transformers on torch, as the baseline; same threads as ours."""

    name = "sentence-transformers"

    def __init__(self, path: Path, threads: int):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(path), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def bench_embed(*, chunks: int = 300, rounds: int = 3, corpus: Path | None = None, threads: int | None = None,
                baseline: bool = True, precisions: tuple[str, ...] = ("fp32", "int8")) -> dict[str, Any]:
    """Our ONNX embedders (one per precision) and sentence-transformers on the same real chunks,
    timed round-robin (A B C A B C ...) so a noisy neighbour slows all of them alike."""
    import json
    import platform

    from ragline.embed.onnx import OnnxEmbedder
    from ragline.embed.quality import mean_cosine_error, topk_overlap

    if rounds < 1 or chunks < 2:
        raise ValueError("bench embed needs --rounds >= 1 and --chunks >= 2")
    embedders: dict[str, Any] = {f"onnx-{p}": OnnxEmbedder(precision=p, threads=threads, device="cpu")
                                 for p in precisions}
    first = next(iter(embedders.values()))
    texts = cranfield_chunks(first, first.max_tokens, chunks, corpus)
    if len(texts) < 2:
        raise ValueError(f"the corpus gave {len(texts)} chunk(s); bench embed needs at least 2")
    threads = first.threads
    lengths = [min(n + 2, first.max_tokens) for n in first.count(texts)]  # + [CLS], [SEP]
    real_tokens = sum(lengths)
    skipped = None
    if baseline:
        try:
            embedders["sentence-transformers"] = _SentenceTransformers(first.spec.path, threads)
        except ImportError:
            skipped = "sentence-transformers is not installed (pip install 'ragline[torch]')"
    vectors = {name: embedder.embed(texts) for name, embedder in embedders.items()}  # warm-up + quality
    seconds: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            seconds[name].append(_timed(lambda: embedder.embed(texts)))
    peak = peak_gemm_flops(threads)
    config = json.loads((first.spec.path / "config.json").read_text())
    flops_token = model_flops_per_token(config, real_tokens / len(texts))
    reference = vectors.get("onnx-fp32")
    k = min(10, len(texts) - 1)
    systems = {}
    for name in embedders:
        best = min(seconds[name])
        row: dict[str, Any] = {"seconds": seconds[name], "chunks_per_s": len(texts) / best,
                               "tokens_per_s": real_tokens / best}
        row["gflops"] = row["tokens_per_s"] * flops_token / 1e9
        row["fraction_of_fp32_peak"] = row["gflops"] * 1e9 / peak["fp32"]
        if name.endswith("int8"):
            row["fraction_of_int8_peak"] = row["gflops"] * 1e9 / peak["int8"]
        if reference is not None:
            row["cosine_error_vs_fp32"] = mean_cosine_error(reference, vectors[name])
            row[f"top{k}_overlap_vs_fp32"] = topk_overlap(reference, reference, vectors[name], vectors[name], k,
                                                          exclude_self=True)
        systems[name] = row
    if "sentence-transformers" in systems:
        for row in systems.values():
            row["ratio_to_sentence_transformers"] = row["tokens_per_s"] / systems["sentence-transformers"]["tokens_per_s"]
    for embedder in embedders.values():
        if hasattr(embedder, "close"):
            embedder.close()
    return {"chunks": len(texts), "rounds": rounds, "threads": threads, "real_tokens": real_tokens,
            "mean_tokens_per_chunk": real_tokens / len(texts), "model_flops_per_token": flops_token,
            "peak_gflops": {key: value / 1e9 for key, value in peak.items()}, "cpu": platform.processor() or
            platform.machine(), "overlap_k": k, "baseline_skipped": skipped, "systems": systems}


def print_bench_embed(console: Console, result: dict[str, Any]) -> None:
    k = result["overlap_k"]
    table = Table(title=f"bench embed: {result['chunks']} Cranfield chunks ({result['mean_tokens_per_chunk']:.0f} "
                        f"tokens mean), {result['threads']} threads, best of {result['rounds']} interleaved rounds")
    for column in ("embedder", "chunks/s", "tokens/s", "x sentence-tr.", "GFLOP/s", "% fp32 peak",
                   "cos err vs fp32", f"top-{k} overlap"):
        table.add_column(column, justify="right")
    for name, row in result["systems"].items():
        ratio = row.get("ratio_to_sentence_transformers")
        table.add_row(name, f"{row['chunks_per_s']:.1f}", f"{row['tokens_per_s']:.0f}",
                      "-" if ratio is None else f"{ratio:.2f}", f"{row['gflops']:.1f}",
                      f"{100 * row['fraction_of_fp32_peak']:.1f}",
                      f"{row.get('cosine_error_vs_fp32', float('nan')):.5f}",
                      f"{row.get(f'top{k}_overlap_vs_fp32', float('nan')):.3f}")
    console.print(table)
    peak = result["peak_gflops"]
    console.print(f"measured peak GEMM ({result['threads']} threads, ONNX Runtime): fp32 {peak['fp32']:.0f} GFLOP/s, "
                  f"int8 {peak['int8']:.0f} GOP/s; model cost {result['model_flops_per_token'] / 1e6:.1f} "
                  "MFLOP/token (weight MatMuls + attention at the mean chunk length)")
    if result.get("baseline_skipped"):
        console.print(f"baseline skipped: {result['baseline_skipped']}")


def plot_bench_embed(result: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        from ragline.errors import ConfigError
        raise ConfigError("--plot needs matplotlib: pip install 'ragline[plot]'") from exc
    names = list(result["systems"])
    rates = [result["systems"][n]["tokens_per_s"] for n in names]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    bars = axis.bar(names, rates, color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"][:len(names)])
    for bar, name in zip(bars, names):
        ratio = result["systems"][name].get("ratio_to_sentence_transformers")
        if ratio is not None:
            axis.annotate(f"{ratio:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom")
    axis.set_ylabel("real tokens / s")
    axis.set_title(f"{result['chunks']} chunks, {result['threads']} threads")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
