"""Near-duplicate documents: MinHash signatures on word shingles, banded LSH kept in SQLite.

    signature = minhash_signature(text, NearDupConfig())       # in a parse worker
    index = NearDupIndex(db, namespace, config)
    match = index.query(doc_id, signature)                     # (original doc id, est. Jaccard)
    index.add(doc_id, signature)                               # inside the write transaction

datasketch computes the signatures and picks the band layout (b bands of r rows) that minimises
false positives plus false negatives at the threshold. The bands live in a SQLite table next to
the ledger, so the LSH state is as durable as the store, survives restarts without a rebuild,
and a document's bands go when the document goes. Candidates from the bands are confirmed on
the estimated Jaccard similarity of the full signatures.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass

import numpy as np
import xxhash

from ragline.store.local.db import chunked

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class NearDupConfig:
    threshold: float = 0.9     # Jaccard similarity of word shingles; 0 turns near-dup removal off
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


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    return float(np.mean(a == b))


class NearDupIndex:
    def __init__(self, db: sqlite3.Connection, namespace: str, config: NearDupConfig):
        self.db, self.namespace, self.config = db, namespace, config
        self.b, self.r = config.bands()
        self.layout = f"{config.num_perm}:{config.shingle}:{self.b}x{self.r}"
        self._check_layout()

    def _check_layout(self) -> None:
        """Bands built under another threshold are rebuilt from the stored signatures."""
        key = f"{self.namespace}:lsh_layout"
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row and row[0] == self.layout:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM lsh_bands WHERE namespace = ?", (self.namespace,))
            rows = self.db.execute("SELECT doc_id, signature FROM minhash WHERE namespace = ?",
                                   (self.namespace,)).fetchall()
            for doc_id, blob in rows:
                signature = np.frombuffer(blob, dtype=np.uint32)
                if len(signature) == self.config.num_perm:
                    self._insert_bands(doc_id, signature)
                else:
                    self.db.execute("DELETE FROM minhash WHERE namespace = ? AND doc_id = ?",
                                    (self.namespace, doc_id))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, self.layout))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def band_keys(self, signature: np.ndarray) -> list[int]:
        return [xxhash.xxh64_intdigest(signature[i * self.r:(i + 1) * self.r].tobytes()) - 2**63
                for i in range(self.b)]

    def candidates(self, signature: np.ndarray) -> list[tuple[str, np.ndarray]]:
        keys = self.band_keys(signature)
        # One indexed lookup per band (an OR of the bands would make SQLite scan the namespace).
        sql = " UNION ".join(["SELECT doc_id FROM lsh_bands WHERE namespace = ? AND band = ? AND key = ?"] * len(keys))
        params: list[object] = []
        for band, key in enumerate(keys):
            params += [self.namespace, band, key]
        doc_ids = {r[0] for r in self.db.execute(sql, params)}
        if not doc_ids:
            return []
        found = []
        for part in chunked(sorted(doc_ids)):
            marks = ",".join("?" * len(part))
            found += [(d, np.frombuffer(s, dtype=np.uint32)) for d, s in self.db.execute(
                f"SELECT doc_id, signature FROM minhash WHERE namespace = ? AND doc_id IN ({marks})",
                (self.namespace, *part))]
        return sorted(found, key=lambda pair: pair[0])

    def query(self, doc_id: str, signature: np.ndarray) -> tuple[str, float] | None:
        """The most similar stored document at or above the threshold (not ``doc_id`` itself)."""
        best: tuple[str, float] | None = None
        for other, other_signature in self.candidates(signature):
            if other == doc_id:
                continue
            score = similarity(signature, other_signature)
            if score >= self.config.threshold and (best is None or score > best[1]):
                best = (other, score)
        return best

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        self.remove([doc_id])
        self.db.execute("INSERT INTO minhash (namespace, doc_id, signature) VALUES (?, ?, ?)",
                        (self.namespace, doc_id, signature.astype(np.uint32).tobytes()))
        self._insert_bands(doc_id, signature)

    def _insert_bands(self, doc_id: str, signature: np.ndarray) -> None:
        self.db.executemany("INSERT INTO lsh_bands (namespace, band, key, doc_id) VALUES (?, ?, ?, ?)",
                            [(self.namespace, band, key, doc_id)
                             for band, key in enumerate(self.band_keys(signature))])

    def remove(self, doc_ids: list[str]) -> None:
        for part in chunked(list(doc_ids)):
            marks = ",".join("?" * len(part))
            self.db.execute(f"DELETE FROM minhash WHERE namespace = ? AND doc_id IN ({marks})",
                            (self.namespace, *part))
            self.db.execute(f"DELETE FROM lsh_bands WHERE namespace = ? AND doc_id IN ({marks})",
                            (self.namespace, *part))

    def size(self) -> int:
        return self.db.execute("SELECT count(*) FROM minhash WHERE namespace = ?",
                               (self.namespace,)).fetchone()[0]
