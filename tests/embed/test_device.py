"""The placement rule (providers, variant, threads, batch sizes) as a table: no GPU needed."""

from __future__ import annotations

import pytest

from ragline.embed.device import (
    CPU,
    CPU_MAX_BATCH,
    CPU_TOKEN_BUDGET,
    CUDA,
    DEFAULT_CPU_PRECISION,
    GPU_MAX_BATCH,
    GPU_TOKEN_BUDGET_RANGE,
    openvino_inference_precision,
    physical_cores,
    select_backend,
    select_openvino_placement,
    select_placement,
)
from ragline.errors import ConfigError

GIB = 1 << 30


def test_cpu_only_onnxruntime_runs_on_cpu_whatever_auto_means():
    placement = select_placement([CPU], "auto", {}, cores=4)
    assert placement.device == "cpu" and placement.providers == [CPU] and placement.device_id is None
    assert placement.precision == DEFAULT_CPU_PRECISION and placement.threads == 4
    assert (placement.token_budget, placement.max_batch) == (CPU_TOKEN_BUDGET, CPU_MAX_BATCH)


def test_auto_takes_the_gpu_when_the_provider_and_a_gpu_are_there():
    placement = select_placement([CUDA, CPU], "auto", {}, gpu_count=2, gpu_memory=80 * GIB)
    assert placement.device == "cuda" and placement.device_id == 0
    assert placement.providers[0][0] == CUDA and placement.providers[0][1]["device_id"] == 0
    assert placement.providers[-1] == CPU  # ops without CUDA kernels fall back to the CPU
    assert placement.precision == "fp16" and placement.max_batch == GPU_MAX_BATCH


def test_auto_stays_on_cpu_when_the_gpu_provider_sees_no_gpu():
    assert select_placement([CUDA, CPU], "auto", {}, gpu_count=0).device == "cpu"


@pytest.mark.parametrize("memory, budget", [
    (None, GPU_TOKEN_BUDGET_RANGE[0]),      # memory unknown: the smallest budget
    (0, GPU_TOKEN_BUDGET_RANGE[0]),
    (8 * GIB, 8 * 16384),
    (16 * GIB, GPU_TOKEN_BUDGET_RANGE[1]),  # capped
    (80 * GIB, GPU_TOKEN_BUDGET_RANGE[1]),
])
def test_gpu_token_budget_grows_with_memory(memory, budget):
    assert select_placement([CUDA, CPU], "cuda", {}, gpu_count=1, gpu_memory=memory).token_budget == budget


def test_an_explicit_gpu_ordinal_is_passed_to_the_provider():
    placement = select_placement([CUDA, CPU], "cuda:1", {}, gpu_count=2)
    assert placement.device_id == 1 and placement.providers[0][1]["device_id"] == 1


def test_environment_chooses_the_device_only_when_the_caller_did_not():
    env = {"RAGLINE_EMBED_DEVICE": "cpu"}
    assert select_placement([CUDA, CPU], "auto", env, gpu_count=1).device == "cpu"
    assert select_placement([CUDA, CPU], "cuda", env, gpu_count=1).device == "cuda"


def test_threads_come_from_the_argument_then_the_environment_then_the_cores():
    env = {"RAGLINE_EMBED_THREADS": "3"}
    assert select_placement([CPU], "cpu", env, cores=2).threads == 3
    assert select_placement([CPU], "cpu", env, cores=2, threads=1).threads == 1
    assert select_placement([CPU], "cpu", {}, cores=2).threads == 2
    with pytest.raises(ConfigError, match="RAGLINE_EMBED_THREADS"):
        select_placement([CPU], "cpu", {"RAGLINE_EMBED_THREADS": "many"})


@pytest.mark.parametrize("available, device, options, message", [
    ([CPU], "cuda", {}, "onnxruntime-gpu"),
    ([CPU], "tpu", {}, "unknown embedding device"),
    ([CPU], "cpu:1", {}, "cuda:N"),
    ([CUDA, CPU], "cuda:x", {}, "cuda:N"),
    ([CUDA, CPU], "cuda:3", {"gpu_count": 2}, "only 2 GPU"),
    ([CUDA, CPU], "cuda", {"gpu_count": 1, "precision": "int8"}, "CPU one"),
    ([CPU], "cpu", {"precision": "fp16"}, "not served on CPU"),
])
def test_impossible_requests_fail_with_what_to_change(available, device, options, message):
    with pytest.raises(ConfigError, match=message):
        select_placement(available, device, {}, **options)


def test_environment_chooses_the_precision_only_when_the_caller_did_not():
    env = {"RAGLINE_EMBED_PRECISION": "int8"}
    assert select_placement([CPU], "cpu", env).precision == "int8"
    assert select_placement([CPU], "cpu", env, precision="fp32").precision == "fp32"


def test_explicit_precisions_are_kept():
    assert select_placement([CPU], "cpu", {}, precision="int8").precision == "int8"
    assert select_placement([CPU], "cpu", {}, precision="fp32").precision == "fp32"
    assert select_placement([CUDA, CPU], "cuda", {}, gpu_count=1, precision="fp32").precision == "fp32"


def test_physical_cores_is_within_what_the_process_may_use():
    import os

    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))


# ----- OpenVINO: the runtime of the default embedder, and its precision per CPU ---------------
BF16_CPU = ["BF16", "FP32", "FP16", "INT8", "BIN", "EXPORT_IMPORT"]   # AVX512_BF16 or AMX
PLAIN_CPU = ["FP32", "INT8", "BIN", "EXPORT_IMPORT"]                 # AVX2 / AVX-512 without bf16


@pytest.mark.parametrize("available, device, installed, gpus, backend", [
    ([CPU], "auto", True, 0, "openvino"),
    ([CPU], "cpu", True, 0, "openvino"),
    ([CPU], "auto", False, 0, "onnx"),         # OpenVINO absent: ONNX Runtime on the CPU
    ([CUDA, CPU], "auto", True, 1, "onnx"),    # a GPU: ONNX Runtime's CUDA provider
    ([CUDA, CPU], "auto", True, 0, "openvino"),
    ([CUDA, CPU], "cuda:1", True, 2, "onnx"),
    ([CUDA, CPU], "cpu", True, 2, "openvino"),
])
def test_the_default_backend_is_openvino_on_cpus_and_onnxruntime_on_gpus(available, device, installed, gpus, backend):
    assert select_backend(available, device, {}, openvino_installed=installed, gpu_count=gpus) == backend


def test_the_environment_can_send_the_default_backend_to_the_cpu():
    env = {"RAGLINE_EMBED_DEVICE": "cpu"}
    assert select_backend([CUDA, CPU], "auto", env, openvino_installed=True, gpu_count=1) == "openvino"


@pytest.mark.parametrize("capabilities, precision", [(BF16_CPU, "bf16"), (PLAIN_CPU, "fp32"), ([], "fp32")])
def test_openvino_takes_bf16_only_where_the_cpu_has_bf16_kernels(capabilities, precision):
    placement = select_openvino_placement("auto", {}, capabilities=capabilities, cores=2)
    assert placement.precision == precision and placement.device == "cpu" and placement.threads == 2
    assert (placement.token_budget, placement.max_batch) == (CPU_TOKEN_BUDGET, CPU_MAX_BATCH)


@pytest.mark.parametrize("speedup, precision", [(None, "bf16"), (1.8, "bf16"), (1.2, "bf16"), (1.1, "fp32"),
                                                (0.6, "fp32")])
def test_openvino_defaults_to_bf16_only_where_it_is_measurably_faster(speedup, precision):
    # 1.8: AMD EPYC with AVX512_BF16; 0.6: the Intel Xeon of the README table (AMX not exposed).
    assert select_openvino_placement(capabilities=BF16_CPU, bf16_speedup=speedup).precision == precision
    assert select_openvino_placement(capabilities=BF16_CPU, bf16_speedup=speedup, precision="bf16").precision == "bf16"
    assert select_openvino_placement(capabilities=PLAIN_CPU, bf16_speedup=speedup).precision == "fp32"


def test_openvino_keeps_an_explicit_precision_and_reads_the_environment():
    assert select_openvino_placement(capabilities=BF16_CPU, precision="fp32").precision == "fp32"
    assert select_openvino_placement(capabilities=PLAIN_CPU, precision="int8").precision == "int8"
    env = {"RAGLINE_EMBED_PRECISION": "int8", "RAGLINE_EMBED_THREADS": "3"}
    placement = select_openvino_placement("auto", env, capabilities=BF16_CPU)
    assert (placement.precision, placement.threads) == ("int8", 3)


@pytest.mark.parametrize("device, options, message", [
    ("auto", {"precision": "bf16", "capabilities": PLAIN_CPU}, "no bf16 kernels"),
    ("auto", {"precision": "fp16", "capabilities": BF16_CPU}, "not served by openvino"),
    ("cuda", {"capabilities": BF16_CPU}, "onnx"),
    ("cuda:0", {}, "runs on the CPU"),
])
def test_impossible_openvino_requests_fail_with_what_to_change(device, options, message):
    with pytest.raises(ConfigError, match=message):
        select_openvino_placement(device, {}, **options)


@pytest.mark.parametrize("precision, capabilities, hint", [
    ("bf16", BF16_CPU, "bf16"),
    ("fp32", BF16_CPU, "f32"),      # explicit: OpenVINO's own CPU default would be bf16
    ("int8", BF16_CPU, "bf16"),     # the layers int8 leaves in floating point run in bf16
    ("int8", PLAIN_CPU, "f32"),
    ("fp32", PLAIN_CPU, "f32"),
])
def test_openvino_inference_precision_hint(precision, capabilities, hint):
    assert openvino_inference_precision(precision, capabilities) == hint


def test_int8_keeps_its_floating_point_layers_in_f32_where_bf16_is_slower():
    assert openvino_inference_precision("int8", BF16_CPU, bf16_speedup=0.6) == "f32"
    assert openvino_inference_precision("int8", BF16_CPU, bf16_speedup=1.8) == "bf16"
    assert openvino_inference_precision("bf16", BF16_CPU, bf16_speedup=0.6) == "bf16"  # asked for
