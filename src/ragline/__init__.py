"""ragline: turn a pile of documents into a fresh, searchable index for RAG.

    with Engine.open("local:./ragline-data") as engine:
        report = engine.ingest(["docs/"])
        hits = engine.search("how do I configure logging?", k=5)

The names below load on first use (PEP 562), so ``import ragline.registry`` or a worker process
that needs one stage does not import the engine, the embedders and every backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragline.embed import open_embedder
    from ragline.engine import Engine, EngineConfig
    from ragline.errors import RaglineError
    from ragline.records import Chunk, Document, Hit, IngestReport, SourceItem
    from ragline.store import open_store

__version__ = "0.1.0"

_LAZY = {"Chunk": "ragline.records", "Document": "ragline.records", "Engine": "ragline.engine",
         "EngineConfig": "ragline.engine", "Hit": "ragline.records", "IngestReport": "ragline.records",
         "RaglineError": "ragline.errors", "SourceItem": "ragline.records", "open_embedder": "ragline.embed",
         "open_store": "ragline.store"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["Chunk", "Document", "Engine", "EngineConfig", "Hit", "IngestReport", "RaglineError",
           "SourceItem", "__version__", "open_embedder", "open_store"]
