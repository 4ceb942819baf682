"""Post-training int8 quantization of the OpenVINO model with NNCF (the ``openvino-int8`` variant).

    quantize(source_onnx, target_xml)                       # the shipped recipe, calibrated on CALIBRATION
    quantize(source_onnx, target_xml, texts, **options)     # what benchmarks/openvino_int8.py varies

``options`` are NNCF's levers: ``smooth_quant`` (SmoothQuant alpha for MatMuls, -1 turns it off),
``ignored`` (regular expressions of MatMul names kept in fp32), ``preset`` (``mixed``: asymmetric
activations, ``performance``: symmetric), ``transformer`` (NNCF's transformer patterns),
``fast_bias_correction`` and ``weights_only`` (int8 weights, fp activations: no calibration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The shipped recipe, chosen by benchmarks/openvino_int8.py (README "Embedding speed and precision").
# MatMul name patterns of the exported BERT graph, for ``ignored``.
FFN_DOWN = r".*layer\.\d+/output/dense/MatMul.*"
ATTN_OUT = r".*attention/output/dense/MatMul.*"
ATTN_MM = r".*attention/self/MatMul.*"   # Q x K^T and softmax x V (activation x activation)
# Changing it changes the vectors: bump RECIPE_VERSION["openvino-int8"] (embed/openvino.py) with it.
DEFAULT_OPTIONS: dict[str, Any] = {"transformer": True, "preset": "mixed", "smooth_quant": 0.95,
                                   "ignored": (FFN_DOWN, ATTN_OUT, ATTN_MM)}


def calibration_texts() -> list[str]:
    """Texts the shipped recipe calibrates on: ragline's own README-like prose, never the evaluation set."""
    path = Path(__file__).with_name("calibration.txt")
    return [block.strip() for block in path.read_text(encoding="utf-8").split("\n\n") if block.strip()]


def quantize(source: Path, target: Path, texts: list[str] | None = None, *, tokenizer: Any = None,
             transformer: bool = True,
             preset: str = "mixed", smooth_quant: float | None = 0.95, ignored: tuple[str, ...] = (),
             fast_bias_correction: bool = True, weights_only: str | None = None, subset_size: int = 300,
             batch_size: int = 1) -> None:
    """Read the fp32 ONNX ``source``, quantize it, save OpenVINO IR at ``target`` (.xml + .bin).
    ``tokenizer``: the model's ``ModelTokenizer`` (the default model's when not given)."""
    try:
        import nncf
    except ImportError as exc:
        from ragline.errors import EmbedError
        raise EmbedError("building the openvino-int8 variant needs NNCF: pip install 'ragline[int8]' "
                         "(once; the quantized model is cached)") from exc
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    from ragline.embed.model import resolve_model
    from ragline.embed.tokenizer import ModelTokenizer

    model = ov.Core().read_model(str(source))
    scope = nncf.IgnoredScope(patterns=list(ignored), validate=False) if ignored else None
    if weights_only:
        mode = {"sym": nncf.CompressWeightsMode.INT8_SYM, "asym": nncf.CompressWeightsMode.INT8_ASYM}[weights_only]
        quantized = nncf.compress_weights(model, mode=mode, ignored_scope=scope)
    else:
        if tokenizer is None:
            spec = resolve_model()
            tokenizer = ModelTokenizer(spec.path, spec.max_tokens)
        texts = texts if texts is not None else calibration_texts()
        # batch_size 1: one text per sample, no padding; more: padded batches, so the ranges also
        # see the padding rows (and the attention mask's large negative bias) that inference meets.
        samples = [tokenizer.encode(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        advanced = AdvancedQuantizationParameters()
        if smooth_quant is not None:
            advanced.smooth_quant_alphas = AdvancedSmoothQuantParameters(matmul=smooth_quant)
        quantized = nncf.quantize(
            model, nncf.Dataset(samples), subset_size=min(subset_size, len(samples)),
            preset=nncf.QuantizationPreset(preset) if preset else None,
            model_type=nncf.ModelType.TRANSFORMER if transformer else None, ignored_scope=scope,
            fast_bias_correction=fast_bias_correction, advanced_parameters=advanced)
    ov.save_model(quantized, str(target), compress_to_fp16=False)
