"""ragline: turn a pile of documents into a fresh, searchable index for RAG.

    with Engine.open("local:./ragline-data") as engine:
        report = engine.ingest(["docs/"])
        hits = engine.search("how do I configure logging?", k=5)
"""

__version__ = "0.1.0"
