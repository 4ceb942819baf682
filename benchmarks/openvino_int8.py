"""Which NNCF int8 recipe for the OpenVINO embedder keeps fp32 quality, and how fast is it?

    PYTHONPATH=src python benchmarks/openvino_int8.py [--chunks 1000] [--only a,b] [--ndcg a,b]

Each candidate is built once from the fp32 ONNX export (cached beside it as ``model.x-ov-NAME``)
and embeds the same real Cranfield chunks and queries as fp32 (ONNX Runtime, the reference of
every precision figure in the README). Against fp32 it reports, as benchmarks/int8_variants.py:
mean and max cosine error over the chunks, top-10 overlap over the Cranfield queries (each side
with its own query and chunk vectors) and over the chunks as queries (self excluded), and speed
(chunks/s over --speed-chunks chunks, all candidates interleaved round by round, ratios to
OpenVINO fp32 in the same run). ``--ndcg`` adds Cranfield dense nDCG@10 (all 1,400 abstracts, as
benchmarks/cranfield_ndcg.py computes it) for the named candidates and fp32.

Calibration: ``samples`` (what the shipped recipe uses: src/ragline/embed/calibration.txt, prose
cut from the bundled sample corpus, no Cranfield text) or ``cranfield`` (chunks after the
evaluation chunks). int8 candidates run as the embedder runs them: the layers left in floating
point in bf16 where the CPU has bf16 kernels; ``NAME+f32`` (or ``+bf16``) forces that hint.
Results go to .bench/openvino_int8-CALIBRATION.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ragline.bench import cranfield_chunks, cranfield_dir, cranfield_queries
from ragline.embed._openvino_int8 import (
    ATTN_MM,
    ATTN_OUT,
    FFN_DOWN,
    calibration_texts,
    quantize,
)
from ragline.embed.onnx import OnnxEmbedder
from ragline.embed.openvino import OpenVinoEmbedder
from ragline.embed.quality import drift
from ragline.embed.variants import SUFFIXES, ensure_variant

OUT = Path(".bench").resolve()
EDGES = (r".*layer\.0/.*MatMul.*", r".*layer\.5/.*MatMul.*")

# name -> quantize() options; the calibration set is chosen by --calibration.
CANDIDATES: dict[str, dict[str, Any]] = {
    "wc-int8-asym": {"weights_only": "asym"},
    "wc-int8-sym": {"weights_only": "sym"},
    "q-nncf-defaults": {"transformer": False, "preset": "", "smooth_quant": None},
    "q-transformer": {"transformer": True, "preset": "mixed", "smooth_quant": None},
    "q-tr-sq0.5": {"smooth_quant": 0.5},
    "q-tr-sq0.8": {"smooth_quant": 0.8},
    "q-tr-sq-off": {"smooth_quant": -1},
    "q-tr-sym": {"preset": "performance"},
    "q-tr-no-ffn-down": {"ignored": (FFN_DOWN,)},
    "q-tr-no-ffn-down-sq0.5": {"ignored": (FFN_DOWN,), "smooth_quant": 0.5},
    "q-tr-no-ffn-down-attn-out": {"ignored": (FFN_DOWN, ATTN_OUT)},
    "q-tr-no-edges": {"ignored": EDGES},
    "q-tr-no-edges-ffn-down": {"ignored": (FFN_DOWN, *EDGES)},
    "q-tr-bias-correction": {"fast_bias_correction": False},
    "q-tr-no-attn-mm": {"ignored": (ATTN_MM,)},
    "q-tr-no-ffn-down-attn-mm": {"ignored": (FFN_DOWN, ATTN_MM)},
    "q-tr-no-ffn-down-attn-out-attn-mm": {"ignored": (FFN_DOWN, ATTN_OUT, ATTN_MM)},
    "q-tr-no-edges-ffn-down-attn-out-attn-mm": {"ignored": (FFN_DOWN, ATTN_OUT, ATTN_MM, *EDGES)},
    "q-tr-no-ffn-down-bias-correction": {"ignored": (FFN_DOWN,), "fast_bias_correction": False},
    "q-tr-no-ffn-down-batched": {"ignored": (FFN_DOWN,), "batch_size": 8},
    "q-tr-batched": {"batch_size": 8},
}


def builder(options: dict[str, Any], texts: list[str], tokenizer: Any) -> Callable[[Path, Path], None]:
    return partial(quantize, texts=texts, tokenizer=tokenizer, **options)


def ndcg(embedder: Any, label: str) -> float:
    from cranfield_ndcg import evaluate, load

    folder = cranfield_dir()
    assert folder is not None
    corpus, queries, qrels = load(folder)
    return float(evaluate(embedder, label.replace(":", "_"), corpus, queries, qrels, OUT)["ndcg@10"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=225)
    parser.add_argument("--speed-chunks", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration", choices=("samples", "cranfield"), default="samples")
    parser.add_argument("--cranfield-calibration", type=int, default=128)
    parser.add_argument("--only", default="", help="comma-separated candidates (a '+f32' suffix: fp layers in f32)")
    parser.add_argument("--ndcg", default="", help="comma-separated candidates to score on Cranfield nDCG@10")
    parser.add_argument("--no-speed", action="store_true", help="quality only (a screen)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)

    reference = OnnxEmbedder(precision="fp32", device="cpu")
    everything = cranfield_chunks(reference, reference.max_tokens, args.chunks + args.cranfield_calibration)
    chunks = everything[:args.chunks]
    calibration = everything[args.chunks:] if args.calibration == "cranfield" else calibration_texts()
    queries = cranfield_queries(args.queries)
    tokens = sum(reference.count(chunks))
    print(f"{len(chunks)} chunks ({tokens / len(chunks):.0f} tokens mean), {len(queries)} queries, "
          f"{len(calibration)} {args.calibration} calibration texts, threads {reference.threads}", flush=True)

    embedders: dict[str, Any] = {"onnx-fp32": reference}
    if not args.no_speed:
        embedders.update({"ov-fp32": OpenVinoEmbedder(precision="fp32"), "ov-bf16": OpenVinoEmbedder(precision="bf16")})
    wanted = [n for n in args.only.split(",") if n] or list(CANDIDATES)
    for name in wanted:
        base, _, hint = name.partition("+")
        variant = f"x-ov-{base}-{args.calibration}"
        SUFFIXES[variant] = ".xml"
        started = time.perf_counter()
        try:
            path = ensure_variant(reference.spec, variant, builder(CANDIDATES[base], calibration, reference.tokenizer))
        except Exception as exc:  # noqa: BLE001 - a recipe that fails is a result too
            print(f"{name}: build failed: {exc}", flush=True)
            continue
        label = f"{name}/{args.calibration}"
        embedders[label] = OpenVinoEmbedder(precision="int8", model_path=path)
        if hint:  # what the layers left in floating point run in (default: bf16 where the CPU has it)
            embedders[label].inference_precision = hint
        print(f"{label}: built in {time.perf_counter() - started:.1f}s", flush=True)

    ref_docs, ref_queries = reference.embed(chunks), reference.embed(queries)
    results: dict[str, dict[str, float]] = {}
    for name, embedder in embedders.items():
        docs, qs = embedder.embed(chunks), embedder.embed(queries)
        results[name] = drift(ref_docs, ref_queries, docs, qs)
        print(name, {k: round(v, 4) for k, v in results[name].items()}, flush=True)

    speed_texts = chunks[:args.speed_chunks]
    seconds: dict[str, list[float]] = {name: [] for name in results}
    for _ in range(0 if args.no_speed else args.rounds):
        for name in results:
            started = time.perf_counter()
            embedders[name].embed(speed_texts)
            seconds[name].append(time.perf_counter() - started)
    for name, row in results.items():
        if seconds[name]:
            row["chunks_per_s"] = len(speed_texts) / min(seconds[name])
            row["speed_vs_ov_fp32"] = min(seconds["ov-fp32"]) / min(seconds[name])

    fp32_ndcg = None
    for name in [n for n in args.ndcg.split(",") if n]:
        label = f"{name}/{args.calibration}" if name in wanted else name
        if label not in embedders:
            continue
        fp32_ndcg = fp32_ndcg if fp32_ndcg is not None else ndcg(reference, f"cranfield-fp32-{reference.revision}")
        results[label]["ndcg@10"] = ndcg(embedders[label], f"cranfield-{label.replace('/', '-')}")
        results[label]["ndcg_delta_vs_fp32"] = results[label]["ndcg@10"] - fp32_ndcg
    print(f"\n{'candidate':36} {'cos err':>8} {'max err':>8} {'top10 q':>8} {'top10 c':>8} {'chunks/s':>9} "
          f"{'x ov-fp32':>9} {'nDCG d':>7}")
    for name, r in results.items():
        delta = r.get("ndcg_delta_vs_fp32")
        print(f"{name:36} {r['cosine_error']:8.5f} {r['max_cosine_error']:8.4f} {r['top10_queries']:8.3f} "
              f"{r['top10_chunks']:8.3f} {r.get('chunks_per_s', float('nan')):9.1f} "
              f"{r.get('speed_vs_ov_fp32', float('nan')):9.2f} {'' if delta is None else f'{delta:+.4f}':>7}")
    target = OUT / f"openvino_int8-{args.calibration}.json"
    previous = json.loads(target.read_text())["results"] if target.exists() else {}
    target.write_text(json.dumps({"chunks": len(chunks), "queries": len(queries), "threads": reference.threads,
                                  "fp32_ndcg@10": fp32_ndcg, "results": {**previous, **results}}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
