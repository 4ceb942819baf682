"""Which runtime embeds, where, with which model variant, threads and batch sizes.

    placement = select_placement(ort.get_available_providers(), "auto", os.environ)
    placement.providers, placement.precision, placement.token_budget
    select_backend(ort.get_available_providers(), "auto", openvino_installed=True)   # "openvino"
    select_openvino_placement("auto", os.environ, capabilities=["BF16", "FP32", "INT8"]).precision  # "bf16"

``select_placement`` (ONNX Runtime), ``select_openvino_placement`` and ``select_backend`` are pure
functions of what they are given (available execution providers, the requested device and
precision, the environment, the GPU count and memory, the CPU's capabilities as OpenVINO reports
them), so every branch is tested on a machine without a GPU or a bf16 CPU. The impure probes
(``device_count``, ``gpu_memory_bytes``, ``physical_cores``, ``openvino_capabilities``) are kept
apart and fed in.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragline.errors import ConfigError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# The CPU model variant used when none is asked for. The int8 variant meets the quality bar
# against fp32 on Cranfield (top-10 overlap >= 0.97, mean cosine error <= 0.01, dense nDCG@10
# within 0.005), but on a quiet run of `ragline bench embed` it was not faster than fp32 on this
# CPU (27.6 vs 30.3 chunks/s), so fp32 stays the default and int8 is opt-in (`onnx-int8`).
DEFAULT_CPU_PRECISION = "fp32"
DEFAULT_GPU_PRECISION = "fp16"
CPU_PRECISIONS = ("fp32", "int8")
GPU_PRECISIONS = ("fp32", "fp16")
# CPU batches, chosen by measurement (benchmarks/embed_threads.py, int8, 2 cores, Cranfield
# chunks): 2048 tokens / 16 texts ran 1.11-1.28x faster than 8192 / 128 and 2x faster than
# 32768 / 256; bigger batches only spill the activations out of cache. 2 threads beat 1 by 1.7x.
CPU_TOKEN_BUDGET = 2048
CPU_MAX_BATCH = 16
# OpenVINO (CPU only): bf16 where the CPU has bf16 kernels (AVX512_BF16 or AMX; OpenVINO then
# lists "BF16" among the CPU's OPTIMIZATION_CAPABILITIES) *and* they are measurably faster than
# fp32 here, else fp32. bf16 keeps 0.99+ of fp32's top-10 (README "Embedding speed and
# precision"); its speed depends on the CPU: ~1.8x fp32 on an AMD EPYC with AVX512_BF16, but
# 0.55x on the Intel Xeon (AVX512_BF16, AMX not exposed) of the README's table, where OpenVINO's
# avx512_bf16 GEMM reached 150 GFLOP/s against 280 in fp32. So the choice is measured once per
# machine (``openvino_bf16_speedup``). int8 loses more, so it is opt-in (openvino-int8).
OPENVINO_PRECISIONS = ("fp32", "bf16", "int8")
OPENVINO_DEFAULT_PREFERENCE = ("bf16", "fp32")
BF16_CAPABILITY = "BF16"
# bf16 becomes the default only when its GEMM is at least this much faster than fp32's.
BF16_MIN_SPEEDUP = 1.2
# GPU batches grow with memory: ~16k padded tokens per GiB keeps activations (fp16, 6 layers,
# 256-token attention) well inside memory while filling the GPU; capped where speed flattens.
GPU_TOKENS_PER_GIB = 16384
GPU_TOKEN_BUDGET_RANGE = (16384, 262144)
GPU_MAX_BATCH = 1024


@dataclass(frozen=True)
class Placement:
    device: str                      # "cpu" or "cuda"
    device_id: int | None            # the GPU ordinal on cuda
    providers: list[Any]             # as InferenceSession(providers=...) takes them
    precision: str                   # the model variant to load: fp32, int8, fp16
    threads: int                     # intra-op threads (CPU work)
    token_budget: int
    max_batch: int


def select_placement(available: Sequence[str], device: str = "auto", env: Mapping[str, str] | None = None, *,
                     precision: str | None = None, cores: int = 1, gpu_count: int = 0,
                     gpu_memory: int | None = None, threads: int | None = None) -> Placement:
    """Pick providers, variant, threads and batch sizes.

    device: ``auto`` (a GPU when the CUDA provider is there and a GPU is seen), ``cpu``, ``cuda``
    or ``cuda:N``. Environment, each used only when the argument is not given:
    ``RAGLINE_EMBED_DEVICE`` (for ``auto``), ``RAGLINE_EMBED_PRECISION``, ``RAGLINE_EMBED_THREADS``.
    """
    env = env or {}
    precision = precision or env.get("RAGLINE_EMBED_PRECISION") or None
    if device == "auto":
        device = env.get("RAGLINE_EMBED_DEVICE", "auto") or "auto"
    kind, _, ordinal = device.partition(":")
    if kind not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown embedding device {device!r}: use auto, cpu, cuda or cuda:N")
    if ordinal and (kind != "cuda" or not ordinal.isdigit()):
        raise ConfigError(f"bad embedding device {device!r}: a GPU ordinal is written cuda:N")
    has_cuda = CUDA in available
    if kind == "cuda" and not has_cuda:
        raise ConfigError(f"device {device!r} asked for, but onnxruntime has no CUDA provider: "
                          "pip install onnxruntime-gpu (instead of onnxruntime)")
    use_gpu = kind == "cuda" or (kind == "auto" and has_cuda and gpu_count > 0)
    threads = _threads(threads, env, cores)
    if not use_gpu:
        precision = precision or DEFAULT_CPU_PRECISION
        if precision not in CPU_PRECISIONS:
            raise ConfigError(f"precision {precision!r} is not served on CPU: use one of {CPU_PRECISIONS}")
        return Placement("cpu", None, [CPU], precision, threads, CPU_TOKEN_BUDGET, CPU_MAX_BATCH)
    device_id = int(ordinal) if ordinal else 0
    if gpu_count and device_id >= gpu_count:
        raise ConfigError(f"device {device!r} asked for, but only {gpu_count} GPU(s) are visible")
    precision = precision or DEFAULT_GPU_PRECISION
    if precision not in GPU_PRECISIONS:
        raise ConfigError(f"precision {precision!r} has no GPU kernels in onnxruntime (its int8 "
                          f"model is a CPU one): use one of {GPU_PRECISIONS} on cuda")
    low, high = GPU_TOKEN_BUDGET_RANGE
    budget = low if gpu_memory is None else min(high, max(low, GPU_TOKENS_PER_GIB * (gpu_memory >> 30)))
    cuda_options = {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    return Placement("cuda", device_id, [(CUDA, cuda_options), CPU], precision, threads, budget, GPU_MAX_BATCH)


def _threads(threads: int | None, env: Mapping[str, str], cores: int) -> int:
    if threads is None and env.get("RAGLINE_EMBED_THREADS"):
        try:
            threads = int(env["RAGLINE_EMBED_THREADS"])
        except ValueError as exc:
            raise ConfigError("RAGLINE_EMBED_THREADS must be a whole number") from exc
    return max(1, threads or cores)


def _device_kind(device: str, env: Mapping[str, str]) -> str:
    if device == "auto":
        device = env.get("RAGLINE_EMBED_DEVICE", "auto") or "auto"
    return device.partition(":")[0]


def select_backend(available: Sequence[str], device: str = "auto", env: Mapping[str, str] | None = None, *,
                   openvino_installed: bool, gpu_count: int = 0) -> str:
    """The runtime of the default embedder: ``onnx`` (ONNX Runtime) on a GPU (its CUDA provider) or
    where OpenVINO is not installed, else ``openvino`` (the faster CPU runtime)."""
    kind = _device_kind(device, env or {})
    if kind == "cuda" or (kind == "auto" and CUDA in available and gpu_count > 0):
        return "onnx"
    return "openvino" if openvino_installed else "onnx"


def select_openvino_placement(device: str = "auto", env: Mapping[str, str] | None = None, *,
                              precision: str | None = None, capabilities: Collection[str] = (),
                              bf16_speedup: float | None = None, cores: int = 1,
                              threads: int | None = None) -> Placement:
    """OpenVINO on the CPU. ``capabilities``: ``core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")``;
    ``bf16_speedup``: this CPU's measured bf16 / fp32 GEMM speed (None: not measured).
    Without a precision (argument, then ``RAGLINE_EMBED_PRECISION``) bf16 where the CPU has bf16
    kernels and they are at least ``BF16_MIN_SPEEDUP`` times faster than fp32 (or not measured),
    else fp32; bf16 asked for on a CPU without bf16 kernels is an error (OpenVINO would quietly
    run fp32 under a bf16 label)."""
    env = env or {}
    kind = _device_kind(device, env)
    if kind not in ("auto", "cpu"):
        raise ConfigError(f"the openvino embedder runs on the CPU, not {device!r}: use the onnx embedder "
                          "(onnx:MODEL?device=cuda) for GPUs")
    precision = precision or env.get("RAGLINE_EMBED_PRECISION") or None
    if precision is None:
        bf16_pays = BF16_CAPABILITY in capabilities and (bf16_speedup is None or bf16_speedup >= BF16_MIN_SPEEDUP)
        precision = next(p for p in OPENVINO_DEFAULT_PREFERENCE if p != "bf16" or bf16_pays)
    if precision not in OPENVINO_PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not served by openvino: use one of {OPENVINO_PRECISIONS}")
    if precision == "bf16" and BF16_CAPABILITY not in capabilities:
        raise ConfigError("this CPU has no bf16 kernels (AVX512_BF16 or AMX): use openvino-fp32 "
                          "(or plain openvino, which picks the best precision the CPU has)")
    return Placement("cpu", None, [], precision, _threads(threads, env, cores), CPU_TOKEN_BUDGET, CPU_MAX_BATCH)


def openvino_inference_precision(precision: str, capabilities: Collection[str],
                                 bf16_speedup: float | None = None) -> str:
    """OpenVINO's INFERENCE_PRECISION_HINT for a precision: what the layers left in floating point
    run in. bf16 for ``bf16``, and for ``int8`` where the CPU has bf16 kernels that pay
    (``bf16_speedup`` >= ``BF16_MIN_SPEEDUP``, or not measured): the MatMuls the int8 recipe keeps
    out of int8 lose nothing measurable in bf16. Else f32 (set explicitly: OpenVINO's own CPU
    default is bf16 wherever it can)."""
    bf16_pays = BF16_CAPABILITY in capabilities and (bf16_speedup is None or bf16_speedup >= BF16_MIN_SPEEDUP)
    if precision == "bf16" or (precision == "int8" and bf16_pays):
        return "bf16"
    return "f32"


@functools.lru_cache(maxsize=1)
def openvino_capabilities() -> tuple[str, ...]:
    """What OpenVINO's CPU plugin can run natively here (e.g. ``BF16``, ``INT8``, ``FP32``)."""
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_bf16_speedup(threads: int, size: int = 384, rows: int = 1024, repeats: int = 7) -> float:
    """How much faster OpenVINO's bf16 GEMM is than its fp32 one on this CPU, at the model's width
    (rows x 384 by 384 x 384, best of ``repeats``; ~0.1 s). Measured once per CPU, OpenVINO
    version and thread count, and kept in the cache directory, since the default precision (and
    with it the cache revision) must not flip between runs on a noisy machine."""
    import json
    import platform
    import time

    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    from ragline.embed.export import cache_root

    cpu = _cpu_model() or platform.processor() or platform.machine()
    key = f"{cpu}|{ov.get_version()}|{threads}"
    store = cache_root() / "openvino-bf16-speedup.json"
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return float(known[key])
    core = ov.Core()
    rng = np.random.default_rng(0)
    activations = rng.standard_normal((rows, size), dtype=np.float32)
    weights = rng.standard_normal((size, size), dtype=np.float32)
    best = {}
    for hint in ("f32", "bf16"):
        inputs = ops.parameter([rows, size], ov.Type.f32, name="a")
        model = ov.Model([ops.matmul(inputs, ops.constant(weights), False, False)], [inputs], "probe")
        request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                    "INFERENCE_PRECISION_HINT": hint}).create_infer_request()
        request.infer({0: activations})
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            request.infer({0: activations})
            times.append(time.perf_counter() - started)
        best[hint] = min(times)
    speedup = best["f32"] / best["bf16"]
    known[key] = round(speedup, 3)
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        partial = store.with_name(f"{store.name}.{os.getpid()}")
        partial.write_text(json.dumps(known, indent=1))
        os.replace(partial, store)
    except OSError:
        pass  # a read-only cache only costs the probe again next time
    return speedup


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        return None
    return None


def physical_cores() -> int:
    """Cores this process may run on, counting hyper-thread siblings once."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    siblings = set()
    for cpu in allowed:
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            siblings.add(path.read_text().strip())
        except OSError:
            siblings.add(str(cpu))
    return max(1, len(siblings))


def _nvidia_smi(query: str) -> list[str]:
    try:
        result = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def device_count() -> int:
    """GPUs visible to this process (respects CUDA_VISIBLE_DEVICES); 0 without a driver."""
    rows = _nvidia_smi("index")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v for v in visible.split(",") if v.strip()]
        return min(len(rows), len(wanted)) if rows else 0
    return len(rows)


def gpu_memory_bytes(device_id: int = 0) -> int | None:
    rows = _nvidia_smi("memory.total")
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    index = int(visible[device_id]) if device_id < len(visible) and visible[device_id].isdigit() else device_id
    try:
        return int(float(rows[index])) << 20  # nvidia-smi reports MiB
    except (IndexError, ValueError):
        return None


__all__ = ["Placement", "device_count", "gpu_memory_bytes", "openvino_bf16_speedup", "openvino_capabilities",
           "openvino_inference_precision", "physical_cores",
           "select_backend", "select_openvino_placement", "select_placement"]
