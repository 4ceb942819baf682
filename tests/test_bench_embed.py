"""``ragline bench embed`` plumbing on a handful of real chunks (speed goals live in the bench, not here)."""

from __future__ import annotations

import json

import pytest

from ragline.bench import bench_embed, cranfield_dir, model_flops_per_token
from ragline.bench_embed import default_systems

pytestmark = pytest.mark.skipif(cranfield_dir() is None, reason="the Cranfield corpus is not beside the checkout")

MINILM = {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}


def test_flops_per_token_counts_weight_matmuls_and_attention():
    weights = 6 * 2 * (4 * 384 * 384 + 2 * 384 * 1536)   # 2 FLOPs per weight per token
    assert model_flops_per_token(MINILM, 0) == weights == 21_233_664
    assert model_flops_per_token(MINILM, 100) - weights == 6 * 4 * 100 * 384


@pytest.mark.slow
def test_bench_embed_reports_every_system_on_the_same_chunks():
    pytest.importorskip("openvino")
    from ragline.embed.device import openvino_capabilities

    bf16 = "BF16" in openvino_capabilities()
    chosen = ("onnx-int8", "openvino-fp32", *(("openvino-bf16",) if bf16 else ()))
    result = bench_embed(chunks=6, rounds=2, baseline=False, systems=chosen)
    assert result["chunks"] == 6 and result["rounds"] == 2 and result["overlap_k"] == 5
    systems = result["systems"]
    assert set(systems) == {"onnx-fp32", *chosen}  # the fp32 reference is always measured
    for row in systems.values():
        assert len(row["seconds"]) == 2 and row["chunks_per_s"] > 0
        # tokens/s counts real tokens only: it is chunks/s times the mean real length.
        assert row["tokens_per_s"] == pytest.approx(row["chunks_per_s"] * result["mean_tokens_per_chunk"])
        assert 0 < row["fraction_of_fp32_peak"] < 1 and 0 < row["fraction_of_own_peak"] < 1
    fp32, int8 = systems["onnx-fp32"], systems["onnx-int8"]
    assert fp32["cosine_error_vs_fp32"] == pytest.approx(0, abs=1e-6) and fp32["top5_overlap_vs_fp32"] == 1.0
    assert fp32["query_top5_overlap_vs_fp32"] == 1.0 and result["queries"] == 225
    assert 0 < int8["cosine_error_vs_fp32"] < 0.05  # a different model file: some drift, not garbage
    assert systems["openvino-fp32"]["cosine_error_vs_fp32"] < 1e-5  # same weights, another runtime
    peak = result["peak_gflops"]
    assert peak["fp32"] > 1 and peak["int8"] > 1 and peak["fp32_openvino"] > 1
    assert result["default"] in ("openvino-bf16", "openvino-fp32")
    if bf16:
        assert peak["bf16"] > 1 and systems["openvino-bf16"]["precision"] == "bf16"


@pytest.mark.slow
@pytest.mark.integration
def test_cli_bench_embed_json_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from typer.testing import CliRunner

    from ragline.cli import app

    plot = tmp_path / "embed.png"
    outcome = CliRunner().invoke(app, ["bench", "embed", "--chunks", "4", "--rounds", "1", "--no-baseline",
                                       "--json", "--plot", str(plot)])
    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.stdout)
    assert result["chunks"] == 4 and set(result["systems"]) == set(default_systems())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_embed_refuses_nonsense_sizes():
    with pytest.raises(ValueError, match="rounds"):
        bench_embed(chunks=5, rounds=0)
