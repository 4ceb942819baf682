"""Near-duplicate documents: MinHash signatures on word shingles, banded LSH kept in the state.

    signature = minhash_signature(text, NearDupConfig())       # in a parse worker
    index = state.near_dup(namespace, config)                  # ragline.state: any backend
    match = index.query(doc_id, signature)                     # (original doc id, est. Jaccard)
    index.add(doc_id, signature)                               # inside the write transaction

datasketch computes the signatures and picks the band layout (b bands of r rows) that minimises
false positives plus false negatives at the threshold. The bands live in a table next to
the ledger, so the LSH state is as durable as the store, survives restarts without a rebuild,
and a document's bands go when the document goes. Candidates from the bands are confirmed on
the estimated Jaccard similarity of the full signatures. The pure functions live here; the
indexes (``ragline.state.sqlite``, ``ragline.state.postgres``) keep the bands.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash

from ragline.settings import default

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class NearDupConfig:
    # Jaccard similarity of word shingles; 0 turns near-dup removal off
    threshold: float = default("ingest.near_dup_threshold")
    shingle: int = 5           # words per shingle
    num_perm: int = 128
    min_shingles: int = 8      # shorter documents are left to exact dedup: too few shingles to judge

    @property
    def enabled(self) -> bool:
        return 0 < self.threshold <= 1

    def bands(self) -> tuple[int, int]:
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        return lsh.b, lsh.r


def shingles(text: str, size: int) -> set[bytes]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) < size:
        return set()
    return {" ".join(words[i:i + size]).encode() for i in range(len(words) - size + 1)}


def minhash_signature(text: str, config: NearDupConfig) -> np.ndarray | None:
    """uint32 MinHash signature of the text's word shingles, or None if the text is too short."""
    from datasketch import MinHash

    grams = shingles(text, config.shingle)
    if len(grams) < config.min_shingles:
        return None
    # xxh32 instead of datasketch's default SHA-1 per shingle: the same 32-bit hash quality, 5x cheaper.
    minhash = MinHash(num_perm=config.num_perm, seed=1, hashfunc=xxhash.xxh32_intdigest)
    minhash.update_batch(list(grams))
    return minhash.hashvalues.astype(np.uint32)  # datasketch's hash values are < 2**32


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One signed 64-bit LSH key per band of ``rows`` signature values (every state backend files
    a signature under the same keys)."""
    return [xxhash.xxh64_intdigest(signature[i * rows:(i + 1) * rows].tobytes()) - 2**63
            for i in range(bands)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    return float(np.mean(a == b))


def best_match(candidates: Iterable[tuple[str, np.ndarray]], doc_id: str, signature: np.ndarray,
               threshold: float) -> tuple[str, float] | None:
    """The most similar candidate at or above ``threshold`` (never ``doc_id`` itself): what every
    near-dup state backend answers once it has fetched the LSH candidates its way."""
    best: tuple[str, float] | None = None
    for other, other_signature in candidates:
        if other == doc_id:
            continue
        score = similarity(signature, other_signature)
        if score >= threshold and (best is None or score > best[1]):
            best = (other, score)
    return best


def __getattr__(name: str) -> object:
    """``NearDupIndex`` (the SQLite index) now lives in ``ragline.state.sqlite``."""
    if name == "NearDupIndex":
        from ragline.state.sqlite import SQLiteNearDupIndex

        return SQLiteNearDupIndex
    raise AttributeError(name)
