"""``ragline bench embed``: every runtime and precision of our embedder against sentence-transformers,
in one interleaved run on the same real chunks.

    result = bench_embed(chunks=300, rounds=3)   # {"systems": {"openvino-bf16": {...}, ...}, ...}

For each system: chunks/s and real tokens/s (best of ``rounds``, timed round-robin A B C A B C ...
so a noisy neighbour slows all of them alike), the ratio to sentence-transformers, the drift from
fp32 (mean cosine error over the chunks; top-k overlap with every chunk as a query, and with the
real Cranfield queries), and the fraction of this CPU's measured GEMM peak at its precision.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

REFERENCE = "onnx-fp32"


def default_systems() -> list[str]:
    """Every embedder spec this machine can run on its CPU: ONNX Runtime fp32/int8, and OpenVINO
    fp32, bf16 (where the CPU has bf16 kernels) and int8 (where NNCF is installed)."""
    from ragline.embed.openvino import openvino_installed

    systems = ["onnx-fp32", "onnx-int8"]
    if openvino_installed():
        from importlib.util import find_spec

        from ragline.embed.device import BF16_CAPABILITY, openvino_capabilities

        systems.append("openvino-fp32")
        if BF16_CAPABILITY in openvino_capabilities():
            systems.append("openvino-bf16")
        if find_spec("nncf") is not None:
            systems.append("openvino-int8")
    return systems


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
    """This CPU's measured GEMM peak, best of ``repeats``: a large fp32 MatMul and a u8 x s8
    MatMulInteger (the int8 kernels) with ONNX Runtime's own kernels and thread count, and, where
    OpenVINO is installed, its fp32 and bf16 MatMul (``fp32_openvino``; ``bf16`` only on a CPU
    with bf16 kernels)."""
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
        best = min(_seconds(partial(run.run, None, {"a": a, "b": b})) for _ in range(repeats))
        result[name] = 2 * size ** 3 / best
    result.update(_openvino_peaks(threads, size, repeats, rng))
    return result


def _openvino_peaks(threads: int, size: int, repeats: int, rng: Any) -> dict[str, float]:
    """An activation x constant-weight MatMul (what the model runs) compiled by OpenVINO per precision."""
    from ragline.embed.openvino import openvino_installed

    if not openvino_installed():
        return {}
    import openvino as ov
    from openvino import opset13 as ops

    from ragline.embed.device import BF16_CAPABILITY, openvino_capabilities

    core = ov.Core()
    activations = rng.standard_normal((size, size), dtype=np.float32)
    weights = rng.standard_normal((size, size), dtype=np.float32)
    hints = {"fp32_openvino": "f32"}
    if BF16_CAPABILITY in openvino_capabilities():
        hints["bf16"] = "bf16"
    result = {}
    for name, hint in hints.items():
        a = ops.parameter([size, size], ov.Type.f32, name="a")
        model = ov.Model([ops.matmul(a, ops.constant(weights), False, False)], [a], "peak")
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                     "INFERENCE_PRECISION_HINT": hint})
        request = compiled.create_infer_request()
        request.infer({0: activations})
        best = min(_seconds(partial(request.infer, {0: activations})) for _ in range(repeats))
        result[name] = 2 * size ** 3 / best
    return result


def _seconds(call: Any) -> float:
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


def _precision(name: str) -> str:
    return name.rpartition("-")[2] if name.rpartition("-")[2] in ("fp32", "bf16", "int8") else "fp32"


def _default_system(threads: int | None) -> str | None:
    """The spec the engine's default (``auto``) embedder resolves to on this machine."""
    from ragline.embed import open_embedder

    embedder = open_embedder("auto", device="cpu", threads=threads)
    backend = "openvino" if "openvino" in embedder.revision else "onnx"
    return f"{backend}-{getattr(embedder, 'precision', 'fp32')}"


def bench_embed(*, chunks: int = 300, rounds: int = 3, corpus: Path | None = None, threads: int | None = None,
                baseline: bool = True, systems: Sequence[str] | None = None) -> dict[str, Any]:
    """Our embedders (``systems``: specs such as ``onnx-fp32``, ``openvino-bf16``; default: every one
    this machine runs, ``default_systems()``) and sentence-transformers on the same real chunks."""
    import json
    import platform

    from ragline.bench import cranfield_chunks, cranfield_queries
    from ragline.embed import open_embedder
    from ragline.embed.quality import mean_cosine_error, topk_overlap

    if rounds < 1 or chunks < 2:
        raise ValueError("bench embed needs --rounds >= 1 and --chunks >= 2")
    names = list(systems or default_systems())
    if REFERENCE not in names:
        names.insert(0, REFERENCE)  # every drift figure is measured against it
    embedders: dict[str, Any] = {name: open_embedder(name, device="cpu", threads=threads) for name in names}
    first = embedders[REFERENCE]
    texts = cranfield_chunks(first, first.max_tokens, chunks, corpus)
    if len(texts) < 2:
        raise ValueError(f"the corpus gave {len(texts)} chunk(s); bench embed needs at least 2")
    queries = cranfield_queries(225, corpus)
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
    query_vectors = {name: embedder.embed(queries) for name, embedder in embedders.items()} if queries else {}
    seconds: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            seconds[name].append(_seconds(partial(embedder.embed, texts)))
    peak = peak_gemm_flops(threads)
    fp32_peak = max(peak["fp32"], peak.get("fp32_openvino", 0.0))
    config = json.loads((first.spec.path / "config.json").read_text())
    flops_token = model_flops_per_token(config, real_tokens / len(texts))
    reference, reference_queries = vectors[REFERENCE], query_vectors.get(REFERENCE)
    k = min(10, len(texts) - 1)
    rows = {}
    for name in embedders:
        best = min(seconds[name])
        row: dict[str, Any] = {"seconds": seconds[name], "chunks_per_s": len(texts) / best,
                               "tokens_per_s": real_tokens / best, "precision": _precision(name)}
        row["gflops"] = row["tokens_per_s"] * flops_token / 1e9
        row["fraction_of_fp32_peak"] = row["gflops"] * 1e9 / fp32_peak
        own_peak = {"fp32": fp32_peak, "bf16": peak.get("bf16"), "int8": peak["int8"]}[row["precision"]]
        if own_peak:
            row["fraction_of_own_peak"] = row["gflops"] * 1e9 / own_peak
        if row["precision"] == "int8":
            row["fraction_of_int8_peak"] = row["fraction_of_own_peak"]
        row["cosine_error_vs_fp32"] = mean_cosine_error(reference, vectors[name])
        row[f"top{k}_overlap_vs_fp32"] = topk_overlap(reference, reference, vectors[name], vectors[name], k,
                                                      exclude_self=True)
        if reference_queries is not None:
            row[f"query_top{k}_overlap_vs_fp32"] = topk_overlap(reference_queries, reference,
                                                                query_vectors[name], vectors[name], k)
        rows[name] = row
    if "sentence-transformers" in rows:
        for row in rows.values():
            row["ratio_to_sentence_transformers"] = row["tokens_per_s"] / rows["sentence-transformers"]["tokens_per_s"]
    for embedder in embedders.values():
        if hasattr(embedder, "close"):
            embedder.close()
    return {"chunks": len(texts), "queries": len(queries), "rounds": rounds, "threads": threads,
            "real_tokens": real_tokens, "mean_tokens_per_chunk": real_tokens / len(texts),
            "model_flops_per_token": flops_token, "peak_gflops": {key: value / 1e9 for key, value in peak.items()},
            "cpu": platform.processor() or platform.machine(), "overlap_k": k, "baseline_skipped": skipped,
            "default": _default_system(threads), "systems": rows}


def print_bench_embed(console: Console, result: dict[str, Any]) -> None:
    k = result["overlap_k"]
    table = Table(title=f"bench embed: {result['chunks']} Cranfield chunks ({result['mean_tokens_per_chunk']:.0f} "
                        f"tokens mean), {result['threads']} threads, best of {result['rounds']} interleaved rounds")
    for column in ("embedder", "chunks/s", "tokens/s", "x sentence-tr.", "GFLOP/s", "% of peak",
                   "cos err vs fp32", f"top-{k} overlap", f"query top-{k}"):
        table.add_column(column, justify="right")
    for name, row in result["systems"].items():
        ratio = row.get("ratio_to_sentence_transformers")
        own = row.get("fraction_of_own_peak")
        label = f"{name} (default)" if name == result.get("default") else name
        table.add_row(label, f"{row['chunks_per_s']:.1f}", f"{row['tokens_per_s']:.0f}",
                      "-" if ratio is None else f"{ratio:.2f}", f"{row['gflops']:.1f}",
                      "-" if own is None else f"{100 * own:.0f}% {row['precision']}",
                      f"{row['cosine_error_vs_fp32']:.5f}", f"{row[f'top{k}_overlap_vs_fp32']:.3f}",
                      f"{row.get(f'query_top{k}_overlap_vs_fp32', float('nan')):.3f}")
    console.print(table)
    peak = result["peak_gflops"]
    extra = "".join(f", {name} {peak[name]:.0f}" for name in ("fp32_openvino", "bf16") if name in peak)
    console.print(f"measured peak GEMM ({result['threads']} threads): fp32 {peak['fp32']:.0f} GFLOP/s, int8 "
                  f"{peak['int8']:.0f} GOP/s (ONNX Runtime){extra} (OpenVINO); model cost "
                  f"{result['model_flops_per_token'] / 1e6:.1f} MFLOP/token (weight MatMuls + attention at the "
                  "mean chunk length). Overlap: every chunk as a query (itself excluded), and "
                  f"{result['queries']} Cranfield queries over the chunks.")
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
    figure, axis = plt.subplots(figsize=(max(7, 1.3 * len(names)), 3.5))
    colours = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#8c8c8c"]
    bars = axis.bar(names, rates, color=[colours[i % len(colours)] for i in range(len(names))])
    for bar, name in zip(bars, names):
        ratio = result["systems"][name].get("ratio_to_sentence_transformers")
        if ratio is not None:
            axis.annotate(f"{ratio:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom")
    axis.set_ylabel("real tokens / s")
    axis.set_title(f"{result['chunks']} chunks, {result['threads']} threads")
    axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


__all__ = ["bench_embed", "default_systems", "model_flops_per_token", "peak_gemm_flops", "plot_bench_embed",
           "print_bench_embed"]
