"""Content-addressed embedding cache: unchanged text is never embedded twice.

    cache = state.embedding_cache(model_id, revision)   # ragline.state: any state backend
    vectors, missing = cache.lookup(text_hashes)

Key = hash(model id, model revision incl. backend and pooling, text hash): a changed model can
neither reuse nor invalidate by accident. Shared by every namespace and kept across runs; each
row also names its model, so ``ragline cache stats|clear`` can report and clear per model.
The protocol is ``ragline.state.base.EmbeddingCacheState``; ``EmbeddingCache(db, model_id,
revision)`` is the SQLite one.
"""

from ragline.state.base import EmbeddingCacheState
from ragline.state.sqlite import SQLiteEmbeddingCache as EmbeddingCache

__all__ = ["EmbeddingCache", "EmbeddingCacheState"]
