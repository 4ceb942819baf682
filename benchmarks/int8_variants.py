"""Which int8 (or other) ONNX variant of the embedding model keeps fp32 quality, and how fast is it?

    PYTHONPATH=src python benchmarks/int8_variants.py [--chunks 1000] [--queries 200] [--only a,b]

Builds each candidate variant once from the fp32 export (cached beside it), embeds the same real
chunks (Cranfield abstracts cut by ragline's chunker) and real queries with fp32 and with the
candidate, and reports against fp32:
  * mean cosine error: mean over chunks of 1 - cos(fp32 vector, candidate vector);
  * top-10 overlap (queries): for each Cranfield query, |top10_fp32 ∩ top10_cand| / 10 over the
    chunk set, each side ranking with its own query and chunk vectors; mean over queries;
  * top-10 overlap (chunks): the same with every chunk as a query (itself excluded);
  * speed: chunks/s over the first --speed-chunks chunks, all variants interleaved round by round
    (the machine is shared, so ratios between variants are the trustworthy figure).
Calibration data for the static recipes are Cranfield chunks *after* the evaluation chunks.
Results go to .bench/int8_variants.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ragline.bench import cranfield_chunks, cranfield_queries
from ragline.embed.onnx import OnnxEmbedder
from ragline.embed.quality import drift
from ragline.embed.variants import ensure_variant, matmul_weight_nodes

OUT = Path(".bench").resolve()


def dynamic(per_channel: bool, ops: list[str] | None, exclude: Callable[[str], bool] | None = None,
            source_variant: str | None = None) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        nodes = [n for n in matmul_weight_nodes(source) if exclude and exclude(n)]
        quantize_dynamic(str(source), str(target), op_types_to_quantize=ops, per_channel=per_channel,
                         weight_type=QuantType.QInt8, nodes_to_exclude=nodes,
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1})  # 1 = FLOAT
    return build


def static(method: str, fmt: str, calibration: list[str], embedder: OnnxEmbedder,
           exclude: Callable[[str], bool] | None = None, symmetric_act: bool = False) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        home = os.getcwd()
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                # Histogram calibrators need one shape for every batch: cut each chunk to 128 tokens
                # (the chunks are longer, so every row is real text, no padding).
                long = [t for t, n in zip(calibration, embedder.count(calibration)) if n >= 128]
                self.feeds = iter([{name: array[:, :128] for name, array in
                                    embedder.tokenizer.encode(long[i:i + 8]).items()}
                                   for i in range(0, len(long), 8)])

            def get_next(self):  # type: ignore[no-untyped-def]
                return next(self.feeds, None)

        # The calibrator writes scratch files into the working directory: keep them out of the checkout.
        os.chdir(target.parent)
        pre = target.with_name(target.stem + ".pre.onnx")
        try:
            quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
            nodes = [n for n in matmul_weight_nodes(pre) if exclude and exclude(n)]
            quantize_static(str(pre), str(target), Reader(),
                            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                            op_types_to_quantize=["MatMul"], per_channel=True,
                            activation_type=QuantType.QUInt8 if fmt == "qop" else QuantType.QInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=nodes,
                            calibrate_method={"minmax": CalibrationMethod.MinMax,
                                              "percentile": CalibrationMethod.Percentile,
                                              "entropy": CalibrationMethod.Entropy}[method],
                            extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": symmetric_act,
                                           "CalibPercentile": 99.999})
        finally:
            pre.unlink(missing_ok=True)
            os.chdir(home)
    return build


def nbits(bits: int, block: int, accuracy: int) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=bits, block_size=block,
                                         is_symmetric=True, accuracy_level=accuracy)
        quantizer.process()
        quantizer.model.save_model_to_file(str(target))
    return build


def mixed(exclude: Callable[[str], bool], block: int = 32) -> Callable[[Path, Path], None]:
    """Blockwise int8 (MatMulNBits, int8 compute) on the sensitive MatMuls, per-channel dynamic on the rest."""
    def build(source: Path, target: Path) -> None:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        sensitive = [n for n in matmul_weight_nodes(source) if exclude(n)]
        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=block, is_symmetric=True,
                                         accuracy_level=4, nodes_to_include=sensitive)
        quantizer.process()
        middle = target.with_name(target.stem + ".nbits.onnx")
        try:
            quantizer.model.save_model_to_file(str(middle))
            quantize_dynamic(str(middle), str(target), op_types_to_quantize=["MatMul"], per_channel=True,
                             weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
        finally:
            middle.unlink(missing_ok=True)
    return build


def fused_then(build_next: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    def build(source: Path, target: Path) -> None:
        middle = target.with_name(target.stem + ".fused.onnx")
        try:
            fused(source, middle)
            build_next(middle, target)
        finally:
            middle.unlink(missing_ok=True)
    return build


def fused(source: Path, target: Path) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    optimize_model(str(source), model_type="bert", num_heads=12, hidden_size=384, opt_level=1,
                   use_gpu=False).save_model_to_file(str(target))


def ffn_down(name: str) -> bool:
    return "/output/dense/" in name and "attention" not in name


def ffn_down_and_attn_out(name: str) -> bool:
    return "/output/dense/" in name


def edges_and_ffn_down(name: str) -> bool:
    return ffn_down(name) or "layer.0/" in name or "layer.5/" in name


def recipes(calibration: list[str], embedder: OnnxEmbedder) -> dict[str, Callable[[Path, Path], None]]:
    return {
        "fused": fused,
        "dyn-default": dynamic(False, None),
        "dyn-pc-matmul": dynamic(True, ["MatMul"]),
        "dyn-pc-no-ffn-down": dynamic(True, ["MatMul"], ffn_down),
        "dyn-pc-no-dense-out": dynamic(True, ["MatMul"], ffn_down_and_attn_out),
        "dyn-pc-no-edges-ffn-down": dynamic(True, ["MatMul"], edges_and_ffn_down),
        "qdq-minmax": static("minmax", "qdq", calibration, embedder),
        "qdq-percentile": static("percentile", "qdq", calibration, embedder),
        "qdq-entropy": static("entropy", "qdq", calibration, embedder),
        "qop-minmax": static("minmax", "qop", calibration, embedder),
        "qdq-minmax-no-ffn-down": static("minmax", "qdq", calibration, embedder, ffn_down),
        "nbits8-b32-int8": nbits(8, 32, 4),
        "nbits8-b32-fp32": nbits(8, 32, 0),
        "nbits4-b32-int8": nbits(4, 32, 4),
        "nbits8-b128-int8": nbits(8, 128, 4),
        "mixed-ffn-down": mixed(ffn_down),
        "mixed-dense-out": mixed(ffn_down_and_attn_out),
        "fused-dyn-pc-matmul": fused_then(dynamic(True, ["MatMul"])),
        "fused-dyn-pc-attention": fused_then(dynamic(True, ["MatMul", "Attention"])),
        "fused-nbits8-b32-int8": fused_then(nbits(8, 32, 4)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--speed-chunks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)

    reference = OnnxEmbedder(precision="fp32")
    all_chunks = cranfield_chunks(reference, reference.max_tokens, args.chunks + args.calibration)
    chunks, calibration = all_chunks[:args.chunks], all_chunks[args.chunks:]
    queries = cranfield_queries(args.queries)
    tokens = sum(reference.count(chunks))
    print(f"{len(chunks)} chunks ({tokens / len(chunks):.0f} tokens mean), {len(queries)} queries, "
          f"{len(calibration)} calibration chunks, threads {reference.threads}", flush=True)

    candidates = recipes(calibration, reference)
    names = [n for n in candidates if not args.only or n in args.only.split(",")]
    embedders = {"fp32": reference}
    for name in names:
        started = time.perf_counter()
        try:
            path = ensure_variant(reference.spec, f"x-{name}", candidates[name])
        except Exception as exc:  # noqa: BLE001 - a recipe that fails is a result too
            print(f"{name}: build failed: {exc}", flush=True)
            continue
        embedders[name] = OnnxEmbedder(onnx_path=path)
        print(f"{name}: built in {time.perf_counter() - started:.1f}s, {path.stat().st_size >> 20} MiB", flush=True)

    ref_docs, ref_queries = reference.embed(chunks), reference.embed(queries)
    results: dict[str, dict] = {}
    for name, embedder in embedders.items():
        try:
            docs, qs = embedder.embed(chunks), embedder.embed(queries)
        except Exception as exc:  # noqa: BLE001
            print(f"{name}: inference failed: {exc}", flush=True)
            continue
        results[name] = drift(ref_docs, ref_queries, docs, qs)
        print(name, {k: round(v, 4) for k, v in results[name].items()}, flush=True)

    speed_texts = chunks[:args.speed_chunks]
    speed_tokens = sum(reference.count(speed_texts))
    seconds: dict[str, list[float]] = {name: [] for name in results}
    for _ in range(args.rounds):
        for name in results:
            started = time.perf_counter()
            embedders[name].embed(speed_texts)
            seconds[name].append(time.perf_counter() - started)
    for name in results:
        best = min(seconds[name])
        results[name]["chunks_per_s"] = len(speed_texts) / best
        results[name]["tokens_per_s"] = speed_tokens / best
        results[name]["speedup_vs_fp32"] = min(seconds["fp32"]) / best
    print(f"\n{'variant':28} {'cos err':>8} {'max err':>8} {'top10 q':>8} {'top10 c':>8} {'chunks/s':>9} {'x fp32':>7}")
    for name, r in results.items():
        print(f"{name:28} {r['cosine_error']:8.4f} {r['max_cosine_error']:8.4f} {r['top10_queries']:8.3f} "
              f"{r['top10_chunks']:8.3f} {r['chunks_per_s']:9.1f} {r['speedup_vs_fp32']:7.2f}")
    (OUT / "int8_variants.json").write_text(json.dumps({"chunks": len(chunks), "queries": len(queries),
                                                         "threads": reference.threads, "results": results}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
