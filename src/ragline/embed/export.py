"""One-time ONNX export of a model that ships only PyTorch weights, cached on disk.

    onnx_path = ensure_onnx(spec)   # ~/.cache/ragline/onnx/<model>-<revision>/model.onnx

torch and transformers are needed for this step only (``pip install 'ragline[torch]'``);
inference never imports torch. The export is atomic and guarded by a file lock, so concurrent
processes export once and never read a half-written file.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from platformdirs import user_cache_dir

from ragline.embed.model import ModelSpec
from ragline.errors import EmbedError

OPSET = 17


def cache_root() -> Path:
    return Path(os.environ.get("RAGLINE_CACHE_DIR") or user_cache_dir("ragline"))


def onnx_cache_path(spec: ModelSpec) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.model_id)
    return cache_root() / "onnx" / f"{safe}-{spec.revision}" / "model.onnx"


def _export(spec: ModelSpec, target: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EmbedError(f"model {spec.model_id} ships no ONNX file and exporting one needs torch: "
                         "pip install 'ragline[torch]' (once; the export is cached)") from exc

    class Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = AutoModel.from_pretrained(str(spec.path), attn_implementation="eager").eval()
    dummy = torch.ones((2, 16), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Encoder(model), (dummy, dummy, torch.zeros_like(dummy)), str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in
                          ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
            opset_version=OPSET, dynamo=False,
        )


def ensure_onnx(spec: ModelSpec) -> Path:
    shipped = spec.path / "onnx" / "model.onnx"
    if shipped.exists():
        return shipped
    target = onnx_cache_path(spec)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another process exported it while we waited
            return target
        partial = target.with_suffix(f".partial-{os.getpid()}")
        try:
            _export(spec, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target
