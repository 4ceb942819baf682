"""Derived ONNX models (graph-optimised, quantized, fp16), each built once from the fp32 export.

    path = ensure_variant(spec, "int8")     # ~/.cache/ragline/onnx/<model>-<rev>/model.int8.onnx

A variant is a pure function of the fp32 model file and its recipe, so it is cached beside the
export under the same file lock: concurrent processes build it once and never read a half-written
file. Recipes are registered by name; ``RECIPE_VERSION`` is part of the file name, so changing a
recipe builds a new file instead of reusing a stale one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from ragline.embed.export import ensure_onnx, onnx_cache_path
from ragline.embed.model import ModelSpec
from ragline.errors import EmbedError

Recipe = Callable[[Path, Path], None]
RECIPES: dict[str, Recipe] = {}
RECIPE_VERSION = {"int8": 1, "fp16": 1}
# Variants that are not ONNX files (OpenVINO IR: an .xml graph and its .bin weights beside it).
SUFFIXES: dict[str, str] = {}
# Files a build writes beside its target, renamed with it; the target itself is renamed last, so
# its existence means the whole variant is there.
COMPANIONS = {".xml": (".bin",)}


def recipe(name: str, suffix: str = ".onnx") -> Callable[[Recipe], Recipe]:
    def register(build: Recipe) -> Recipe:
        RECIPES[name] = build
        if suffix != ".onnx":
            SUFFIXES[name] = suffix
        return build
    return register


def variant_path(spec: ModelSpec, name: str) -> Path:
    version = RECIPE_VERSION.get(name, 1)
    return onnx_cache_path(spec).parent / f"model.{name}.v{version}{SUFFIXES.get(name, '.onnx')}"


def ensure_variant(spec: ModelSpec, name: str, build: Recipe | None = None) -> Path:
    """The fp32 model for ``fp32``; otherwise the cached variant, built on first use."""
    source = ensure_onnx(spec)
    if name == "fp32":
        return source
    build = build or RECIPES.get(name)
    if build is None:
        raise EmbedError(f"unknown model variant {name!r}: use one of fp32, {', '.join(sorted(RECIPES))}")
    target = variant_path(spec, name)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another process built it while we waited
            return target
        partial = target.with_name(f"{target.stem}.partial-{os.getpid()}{target.suffix}")
        companions = COMPANIONS.get(target.suffix, ())
        try:
            build(source, partial)
            for suffix in companions:
                os.replace(partial.with_suffix(suffix), target.with_suffix(suffix))
            os.replace(partial, target)
        except EmbedError:
            raise
        except Exception as exc:
            raise EmbedError(f"cannot build the {name} variant of {spec.model_id}: {exc}") from exc
        finally:
            for path in (partial, *(partial.with_suffix(suffix) for suffix in companions)):
                path.unlink(missing_ok=True)
    return target


def matmul_weight_nodes(model_path: Path) -> list[str]:
    """Names of the MatMul nodes whose second input is a weight (an initializer)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in weights]


@recipe("fp16")
def build_fp16(source: Path, target: Path) -> None:
    """fp16 weights and activations for GPUs; inputs and outputs stay int64 / float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))


@recipe("int8")
def build_int8(source: Path, target: Path) -> None:
    """8-bit weights in blocks of 32 along K (MatMulNBits), computed in int8 with the activations
    quantized per block of 32 too (accuracy_level 4).

    Chosen by benchmarks/int8_variants.py: per-tensor activation quantization (quantize_dynamic,
    static QDQ/QOperator, with or without the sensitive layers left in fp32) keeps at best 0.94 of
    fp32's top-10 on Cranfield; block-wise activations keep 0.984 with a 0.0003 mean cosine error.
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=32, is_symmetric=True,
                                     accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target))
