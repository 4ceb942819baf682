"""ragline: turn a pile of documents into a fresh, searchable index for RAG.

    with Engine.open("local:./ragline-data") as engine:
        report = engine.ingest(["docs/"])
        hits = engine.search("how do I configure logging?", k=5)
"""

from ragline.embed import open_embedder
from ragline.engine import Engine, EngineConfig
from ragline.errors import RaglineError
from ragline.records import Chunk, Document, Hit, IngestReport, SourceItem
from ragline.store import open_store

__version__ = "0.1.0"

__all__ = ["Chunk", "Document", "Engine", "EngineConfig", "Hit", "IngestReport", "RaglineError",
           "SourceItem", "__version__", "open_embedder", "open_store"]
