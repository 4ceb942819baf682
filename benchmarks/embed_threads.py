"""Threads and batch sizes for the CPU embedder, chosen by measurement rather than by habit.

    PYTHONPATH=src python benchmarks/embed_threads.py [--chunks 150] [--rounds 3] [--precision fp32]
                                                      [--runtime openvino --precision bf16]

Times OnnxEmbedder (or OpenVinoEmbedder) on the same real Cranfield chunks for each (threads, token_budget, max_batch)
setting, round-robin so load from other processes hits every setting alike; prints chunks/s (best
round) and the ratio to the current default setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ragline.bench import cranfield_chunks  # noqa: E402
from ragline.embed.device import CPU_MAX_BATCH, CPU_TOKEN_BUDGET, physical_cores  # noqa: E402
from ragline.embed.onnx import OnnxEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--runtime", choices=("onnx", "openvino"), default="onnx")
    args = parser.parse_args()
    if args.runtime == "openvino":
        from ragline.embed.openvino import OpenVinoEmbedder
        runtime = OpenVinoEmbedder
    else:
        runtime = OnnxEmbedder
    cores = physical_cores()
    settings = [(t, b, m) for t in sorted({1, cores}) for b, m in
                ((1024, 8), (2048, 16), (4096, 32), (CPU_TOKEN_BUDGET, CPU_MAX_BATCH), (32768, 256))]
    default = (cores, CPU_TOKEN_BUDGET, CPU_MAX_BATCH)
    embedders = {s: runtime(precision=args.precision, device="cpu", threads=s[0], token_budget=s[1],
                                 max_batch=s[2]) for s in settings}
    texts = cranfield_chunks(embedders[default], 256, args.chunks)
    for embedder in embedders.values():
        embedder.embed(texts[:8])  # load the session outside the timing
    seconds: dict[tuple, list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for setting, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed(texts)
            seconds[setting].append(time.perf_counter() - started)
    base = min(seconds[default])
    rows = []
    print(f"{len(texts)} chunks, {args.runtime} {args.precision}, best of {args.rounds} interleaved rounds")
    print(f"{'threads':>7} {'budget':>7} {'max_batch':>9} {'chunks/s':>9} {'vs default':>10}")
    for setting in settings:
        best = min(seconds[setting])
        rows.append({"threads": setting[0], "token_budget": setting[1], "max_batch": setting[2],
                     "chunks_per_s": len(texts) / best, "vs_default": base / best})
        print(f"{setting[0]:7} {setting[1]:7} {setting[2]:9} {len(texts) / best:9.1f} {base / best:10.2f}")
    Path(".bench").mkdir(exist_ok=True)
    Path(f".bench/embed_threads-{args.runtime}-{args.precision}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
