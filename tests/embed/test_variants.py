"""Model variants (int8, fp16) are built once, cached per recipe, and never share cache keys."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ragline.embed import open_embedder
from ragline.embed.device import DEFAULT_CPU_PRECISION
from ragline.embed.export import ensure_onnx, onnx_cache_path
from ragline.embed.model import resolve_model
from ragline.embed.variants import ensure_variant, variant_path
from ragline.errors import ConfigError, EmbedError


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    """A cache folder holding only a link to the real fp32 export, so variants land in tmp_path."""
    spec = resolve_model()
    exported = ensure_onnx(spec)
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path))
    if exported != spec.path / "onnx" / "model.onnx":
        onnx_cache_path(spec).parent.mkdir(parents=True)
        onnx_cache_path(spec).symlink_to(exported)
    return spec


def test_fp32_keeps_its_old_identity_and_other_precisions_get_their_own():
    fp32, int8 = open_embedder("onnx-fp32", device="cpu"), open_embedder("onnx-int8", device="cpu")
    spec = resolve_model()
    assert fp32.precision == "fp32" and fp32.revision == f"{spec.revision}:onnx:mean"
    assert open_embedder("onnx", device="cpu").precision == DEFAULT_CPU_PRECISION
    assert int8.precision == "int8" and int8.model_id == fp32.model_id
    assert int8.revision != fp32.revision  # the embedding cache never mixes their vectors
    assert open_embedder("onnx:?precision=int8", device="cpu").revision == int8.revision
    assert open_embedder("onnx:?precision=fp32", device="cpu").revision == fp32.revision


@pytest.mark.parametrize("spec, message", [
    ("onnx:?colour=red", "unknown onnx embedder option"),
    ("onnx:?threads=two", "is not a int"),
    ("onnx-int4", "not served on CPU"),
    ("hashing-int8:64", "unknown embedder"),
])
def test_bad_specs_say_what_to_write(spec, message):
    with pytest.raises(ConfigError, match=message):
        open_embedder(spec, device="cpu")


def test_int8_embeds_close_to_fp32():
    texts = ["The boundary layer separates near the trailing edge.", "Heat transfer in hypersonic flow.",
             "A man is eating food.", "word " * 300]
    int8, fp32 = open_embedder("onnx-int8", device="cpu"), open_embedder("onnx-fp32", device="cpu")
    ours, reference = int8.embed(texts), fp32.embed(texts)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.98, cosine
    assert not np.allclose(ours, reference, atol=1e-6)  # it really is another model file
    assert int8.model_path().name.startswith("model.int8.")


def test_a_variant_is_built_once_under_concurrency(private_cache):
    calls = []

    def build(source, target):
        calls.append(source)
        target.write_bytes(source.read_bytes()[:64])

    paths = []
    workers = [threading.Thread(target=lambda: paths.append(ensure_variant(private_cache, "probe", build)))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1 and len(set(paths)) == 1 and paths[0] == variant_path(private_cache, "probe")
    assert not [p for p in paths[0].parent.iterdir() if "partial" in p.name]  # no half-written file left


def test_a_failed_build_leaves_nothing_behind(private_cache):
    def broken(source, target):
        target.write_bytes(b"half")
        raise RuntimeError("quantizer crashed")

    with pytest.raises(EmbedError, match="quantizer crashed"):
        ensure_variant(private_cache, "broken", broken)
    folder = variant_path(private_cache, "broken").parent
    assert not [p for p in folder.iterdir() if "broken" in p.name]


def test_unknown_variants_are_refused(private_cache):
    with pytest.raises(EmbedError, match="unknown model variant"):
        ensure_variant(private_cache, "int3")


@pytest.mark.slow
def test_fp16_variant_for_gpus_keeps_the_model_interface(private_cache):
    """No GPU here: check the file the CUDA path would load, not its speed."""
    import onnx

    model = onnx.load(str(ensure_variant(private_cache, "fp16")))
    floats = [init for init in model.graph.initializer if init.data_type in (onnx.TensorProto.FLOAT,
                                                                            onnx.TensorProto.FLOAT16)]
    assert sum(init.data_type == onnx.TensorProto.FLOAT16 for init in floats) > 0.9 * len(floats)
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.INT64] * 3
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.integration
def test_a_store_refuses_vectors_from_another_precision_under_the_same_spec(tmp_path, monkeypatch):
    from ragline.engine import Engine

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Lift and drag of a slender wing at supersonic speed.")
    store = f"local:{tmp_path / 'store'}"
    monkeypatch.setenv("RAGLINE_EMBED_DEVICE", "cpu")
    monkeypatch.setenv("RAGLINE_EMBED_PRECISION", "fp32")
    with Engine.open(store, embedder="onnx") as engine:
        assert engine.ingest([tmp_path / "docs"]).chunks_written == 1
    monkeypatch.setenv("RAGLINE_EMBED_PRECISION", "int8")
    with pytest.raises(ConfigError, match="onnx-fp32"):
        Engine.open(store, embedder="onnx")
    monkeypatch.setenv("RAGLINE_EMBED_PRECISION", "fp32")
    with Engine.open(store, embedder="onnx") as engine:
        assert engine.search("supersonic wing", 1, mode="dense")
