"""``milvus-lite:PATH`` and ``milvus://HOST:PORT[/DB]`` — chunks in a Milvus collection.

    store = open_store("milvus-lite:./ragline-milvus", namespace="default")   # a file, no server
    store = open_store("milvus://127.0.0.1:19530/ragline?collection=docs")     # a Milvus server
    with store.transaction():
        store.upsert(chunks, vectors)
    hits = store.search_hybrid(query_vector, "query text", k=10)             # fused by Milvus (RRF)

One collection (default ``ragline_chunks``) holds every namespace; the namespace is the partition
key, and every query filters on it. A row is one chunk: its fields, its vector (HNSW, inner
product on the unit vectors ragline stores, or ``metric=COSINE``), the metadata as JSON, and the
metadata that filters use as typed fields (see ``ragline.store._milvus_expr``; ``strings=`` and
``numbers=`` in the URI choose which keys get one when the collection is created).

Full text: the chunk's text goes through ragline's own BM25 analyzer (the local store's: stop
words, Porter2 stems) into the ``terms`` field, on which Milvus' BM25 ``Function`` builds a
sparse vector, so both stores match the same words and Milvus Lite, which has no stemmer, too.

What each server gets (detected from its version when the store opens):

- Milvus >= 2.5 and Milvus Lite: dense + BM25 + ``hybrid_search`` with ``RRFRanker``;
  ragline's own fusion (``ragline.search.hybrid_search``) works on the candidate lists too.
- Milvus 2.3 and 2.4: dense search only (no BM25 ``Function``); a BM25 or hybrid search raises
  ``QueryError`` saying so.

Milvus has no transactions: ``transaction()`` batches the writes made inside it and sends them
when it exits cleanly (nothing on an exception). Upserts are idempotent by chunk id, so a crash
halfway through sending converges when the run is repeated.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from ragline.errors import ConfigError, QueryError, StoreError
from ragline.records import Chunk, Hit
from ragline.store._milvus_expr import DEFAULT_NUMBERS, DEFAULT_STRINGS, Layout, literal, scalar_fields, to_expression
from ragline.store._milvus_lite import ONE_PROCESS, open_failure
from ragline.store.base import Filter, register_store
from ragline.store.filters import parse_filter

INSTALL_HINT = "pip install 'ragline[milvus]'"
DEFAULT_COLLECTION = "ragline_chunks"
MAX_TEXT_BYTES = 65535       # a VARCHAR field's limit
QUERY_WINDOW = 16384         # Milvus caps limit (+ offset) of one query or search
WRITE_BATCH = 512
_CHUNK_FIELDS = ["chunk_id", "doc_id", "chunk_index", "char_start", "char_end", "token_count", "content_hash",
                 "text", "metadata"]


@dataclass(frozen=True)
class Capabilities:
    """What the server can do, from its version string."""

    version: str
    lite: bool
    full_text: bool       # BM25 Function on an analyzed VARCHAR + sparse vectors (Milvus >= 2.5)
    server_hybrid: bool   # hybrid_search with RRFRanker (Milvus >= 2.4)
    inverted_index: bool  # INVERTED scalar indexes (Milvus >= 2.4)
    # Milvus 2.3.5 answers nothing to a filter on a partition-key field (measured): there the
    # namespace is a plain field.
    partition_key: bool

    @classmethod
    def from_version(cls, version: str) -> Capabilities:
        if version.lower().startswith("milvus_lite") or version.lower().startswith("milvus-lite"):
            return cls(version, True, True, True, True, True)
        match = re.search(r"(\d+)\.(\d+)", version)
        major_minor = (int(match[1]), int(match[2])) if match else (99, 0)  # unknown: assume current
        modern = major_minor >= (2, 4)
        return cls(version, False, major_minor >= (2, 5), modern, modern, modern)


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise ConfigError(f"the Milvus store needs pymilvus: {INSTALL_HINT}") from exc
    return pymilvus


def _analyzer() -> Any:
    """ragline's BM25 analyzer (the local store's default), so both stores match the same terms."""
    from ragline.store.local.bm25 import DEFAULT_ANALYZER, _build_analyzer

    return _build_analyzer(DEFAULT_ANALYZER)


class MilvusStore:
    def __init__(self, uri: str, namespace: str = "default", *, lite_path: Path | None = None,
                 server: str = "", db_name: str = "", collection: str = DEFAULT_COLLECTION, metric: str = "IP",
                 consistency: str = "Strong", layout: Layout | None = None, token: str = "",
                 timeout: float | None = None):
        pymilvus = _pymilvus()
        if metric.upper() not in ("IP", "COSINE"):
            raise ConfigError(f"Milvus metric {metric!r}: use IP (unit vectors, the default) or COSINE")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
            raise ConfigError(f"Milvus collection name {collection!r}: use letters, digits and '_'")
        self.uri = uri
        self.namespace = namespace
        self.collection = collection
        self.metric = metric.upper()
        self.consistency = consistency
        self._lock = threading.RLock()
        self._tx_depth = 0
        self._pending: list[tuple[str, Any]] = []     # ("upsert", rows) / ("delete", ids), in order
        self._pending_rows: dict[str, str] = {}       # chunk_id -> doc_id, upserted in the open batch
        self._pending_deleted: set[str] = set()
        self._analyze = _analyzer()
        self._retriever: ThreadPoolExecutor | None = None
        try:
            if lite_path is not None:
                lite_path.parent.mkdir(parents=True, exist_ok=True)
                self.client = pymilvus.MilvusClient(str(lite_path))
            else:
                self.client = pymilvus.MilvusClient(uri=server or uri, db_name=db_name, token=token, timeout=timeout)
            self.capabilities = Capabilities.from_version(str(self.client.get_server_version()))
            self.dim: int | None = None
            self.layout = layout or Layout()
            self.full_text = self.capabilities.full_text
            if self.client.has_collection(collection):
                self._adopt_collection()
        except (ConfigError, StoreError):
            raise
        except Exception as exc:  # pymilvus raises MilvusException, grpc and OS errors
            raise StoreError(open_failure(uri, exc, lite_path)) from exc

    # ----- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.client is None:
            return
        try:
            if self._retriever is not None:
                self._retriever.shutdown()
            self.client.close()
        finally:
            self.client = None

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.client is None:
            raise StoreError("the Milvus store is closed")
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # translated at the backend boundary
            raise StoreError(f"Milvus {what} failed ({self.uri}, collection {self.collection}): {exc}") from exc

    # ----- the collection ----------------------------------------------------------------
    def _adopt_collection(self) -> None:
        """Read dim, layout and full-text support from an existing collection's schema."""
        described = self.client.describe_collection(self.collection)
        names = {f["name"]: f for f in described["fields"]}
        if "chunk_id" not in names or "vector" not in names:
            raise StoreError(f"Milvus collection {self.collection!r} was not made by ragline; "
                             "name another with ?collection=NAME")
        self.dim = int(names["vector"]["params"]["dim"])
        self.layout = Layout(strings=tuple(n[2:] for n in names if n.startswith("s_")),
                             numbers=tuple(n[2:] for n in names if n.startswith("n_")))
        self.full_text = "sparse" in names
        # The metric the collection was made with wins over the one asked for now.
        index = self.client.describe_index(self.collection, "vector") or {}
        self.metric = str(index.get("metric_type") or self.metric).upper()
        self.client.load_collection(self.collection)

    def _ready(self) -> bool:
        """Whether the collection exists; adopts one that another process created since we opened."""
        if self.dim is None and self._call("has_collection", "has_collection", self.collection):
            self._adopt_collection()
        return self.dim is not None

    def _create_collection(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("namespace", DataType.VARCHAR, max_length=256,
                         is_partition_key=self.capabilities.partition_key)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
        for name in ("chunk_index", "char_start", "char_end", "token_count"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("tags", DataType.JSON)
        schema.add_field("nums", DataType.JSON)
        for key in self.layout.strings:
            schema.add_field(f"s_{key}", DataType.VARCHAR, max_length=2048)
        for key in self.layout.numbers:
            schema.add_field(f"n_{key}", DataType.DOUBLE)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self.client.prepare_index_params()
        # M=16, efConstruction=200: Milvus' usual HNSW settings, recall ~0.96+ at ef 64 on 384-d text.
        index.add_index("vector", index_type="HNSW", metric_type=self.metric,
                        params={"M": 16, "efConstruction": 200})
        if self.full_text:
            # The analyzer ran in ragline; Milvus only splits the stems on spaces.
            schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                         input_field_names=["terms"], output_field_names=["sparse"]))
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        if self.capabilities.inverted_index:
            for name in ("doc_id", *(f"s_{k}" for k in self.layout.strings), *(f"n_{k}" for k in self.layout.numbers)):
                index.add_index(name, index_type="INVERTED")
        try:
            self._call("create_collection", "create_collection", self.collection, schema=schema,
                       consistency_level=self.consistency)
            # sync=False: pymilvus would otherwise poll each index for 0.5 s (3.5 s for a new store).
            self._call("create_index", "create_index", self.collection, index, sync=False)
        except StoreError:
            # Several workers may start on an empty server at once: one creates, the others adopt
            # its collection once its vector index exists.
            if not self._call("has_collection", "has_collection", self.collection):
                raise
            deadline = time.monotonic() + 60
            while "vector" not in (self._call("list_indexes", "list_indexes", self.collection) or []):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            self._adopt_collection()
            return
        self._call("load_collection", "load_collection", self.collection)
        self.dim = dim

    # ----- transactions: write batches ----------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._tx_depth += 1
            try:
                yield
            except BaseException:
                self._tx_depth -= 1
                if self._tx_depth == 0:
                    self._discard()
                raise
            self._tx_depth -= 1
            if self._tx_depth == 0:
                self._send()

    def _discard(self) -> None:
        self._pending.clear()
        self._pending_rows.clear()
        self._pending_deleted.clear()

    def _send(self) -> None:
        try:
            for op, payload in self._pending:
                if op == "upsert":
                    for start in range(0, len(payload), WRITE_BATCH):
                        self._call("upsert", "upsert", self.collection, payload[start:start + WRITE_BATCH])
                else:
                    for start in range(0, len(payload), WRITE_BATCH):
                        self._call("delete", "delete", self.collection, ids=payload[start:start + WRITE_BATCH])
        finally:
            self._discard()

    # ----- writes ------------------------------------------------------------------------
    def _row(self, chunk: Chunk, vector: np.ndarray) -> dict[str, Any]:
        if len(chunk.text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise StoreError(f"chunk {chunk.chunk_id} has {len(chunk.text.encode())} bytes of text; Milvus "
                             f"holds at most {MAX_TEXT_BYTES} (use a smaller chunk size)")
        row = {"chunk_id": chunk.chunk_id, "namespace": self.namespace, "chunk_index": chunk.index,
               "char_start": chunk.start, "char_end": chunk.end, "token_count": chunk.token_count,
               "content_hash": chunk.content_hash, "text": chunk.text, "metadata": chunk.metadata,
               "vector": np.asarray(vector, dtype=np.float32).tolist(),
               **scalar_fields(chunk.metadata, chunk.doc_id, self.layout)}
        if self.full_text:
            row["terms"] = " ".join(self._analyze.analyze(chunk.text))
        return row

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Write the chunks not stored yet (by chunk id); returns how many were new."""
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return 0
        with self._lock:
            if not self._ready():
                self._create_collection(int(vectors.shape[1]))
            if vectors.shape[1] != self.dim:
                raise StoreError(f"vectors have dimension {vectors.shape[1]} but this store holds "
                                 f"{self.dim}-d vectors (built with another embedder? use a new store)")
            ids = [c.chunk_id for c in chunks]
            stored = set().union(*(self._existing(ids[i:i + 1024]) for i in range(0, len(ids), 1024)))
            rows: list[dict[str, Any]] = []
            seen: set[str] = set()
            for chunk, vector in zip(chunks, vectors):
                if chunk.chunk_id in stored or chunk.chunk_id in seen:
                    continue
                seen.add(chunk.chunk_id)
                rows.append(self._row(chunk, vector))  # (raises before anything is queued)
            with self.transaction():
                if rows:
                    self._pending.append(("upsert", rows))
                    for row in rows:
                        self._pending_rows[row["chunk_id"]] = row["doc_id"]
                        self._pending_deleted.discard(row["chunk_id"])
            return len(rows)

    def _existing(self, chunk_ids: list[str]) -> set[str]:
        """Which of these ids are stored, as the open write batch will leave them."""
        found = {c for c in self._query_ids(f"chunk_id in [{', '.join(map(literal, chunk_ids))}]", namespaced=False)
                 } if self.dim is not None else set()
        return (found - self._pending_deleted) | (set(chunk_ids) & self._pending_rows.keys())

    def _remove(self, ids: list[str]) -> int:
        with self.transaction():
            if ids:
                self._pending.append(("delete", ids))
                self._pending_deleted.update(ids)
                for chunk_id in ids:
                    self._pending_rows.pop(chunk_id, None)
        return len(ids)

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Delete every chunk of these documents; returns how many chunks went."""
        doc_ids = list(doc_ids)
        if not doc_ids or not self._ready():
            return 0
        with self._lock:
            wanted = set(doc_ids)
            ids: set[str] = set()
            for start in range(0, len(doc_ids), 256):
                part = doc_ids[start:start + 256]
                ids.update(self._query_ids(f"doc_id in [{', '.join(map(literal, part))}]"))
            ids -= self._pending_deleted
            ids |= {c for c, d in self._pending_rows.items() if d in wanted}
            return self._remove(sorted(ids))

    def delete_chunks(self, chunk_ids: Sequence[str]) -> int:
        if not chunk_ids or not self._ready():
            return 0
        with self._lock:
            ids: set[str] = set()
            chunk_ids = list(chunk_ids)
            for start in range(0, len(chunk_ids), 1024):
                ids |= self._existing(chunk_ids[start:start + 1024])
            return self._remove(sorted(ids))

    # ----- reads -------------------------------------------------------------------------
    def _where(self, filter: Filter | None = None) -> str:
        """The namespace test ANDed with the filter's translation (QueryError if it is bad)."""
        conditions = parse_filter(filter)
        namespace = f"namespace == {literal(self.namespace)}"
        return f"{namespace} and ({to_expression(conditions, self.layout)})" if conditions else namespace

    def _query_ids(self, expression: str, namespaced: bool = True) -> list[str]:
        where = f"namespace == {literal(self.namespace)} and ({expression})" if namespaced else expression
        rows = self._call("query", "query", self.collection, filter=where, output_fields=["chunk_id"],
                          limit=QUERY_WINDOW)
        if len(rows) < QUERY_WINDOW:
            return [r["chunk_id"] for r in rows]
        ids: list[str] = []
        iterator = self._call("query", "query_iterator", self.collection, batch_size=4096, filter=where,
                              output_fields=["chunk_id"])
        try:
            while batch := iterator.next():
                ids += [r["chunk_id"] for r in batch]
        finally:
            iterator.close()
        return ids

    def _rows(self, chunk_ids: Sequence[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if not self._ready():
            return found
        chunk_ids = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(chunk_ids), 1024):
            # A primary-key lookup, then the namespace test here: on Milvus Lite that costs 2-3 ms
            # for 10 ids where a query filtered on the namespace costs ~6 ms (measured, 4k rows).
            rows = self._call("get", "get", self.collection, ids=chunk_ids[start:start + 1024],
                              output_fields=[*fields, "namespace"])
            found.update((row["chunk_id"], row) for row in rows if row["namespace"] == self.namespace)
        return found

    @staticmethod
    def _chunk(row: dict[str, Any]) -> Chunk:
        return Chunk(chunk_id=row["chunk_id"], doc_id=row["doc_id"], index=int(row["chunk_index"]),
                     text=row["text"], start=int(row["char_start"]), end=int(row["char_end"]),
                     token_count=int(row["token_count"]), content_hash=row["content_hash"],
                     metadata=dict(row["metadata"] or {}))

    def get(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        rows = self._rows(chunk_ids, _CHUNK_FIELDS)
        return [self._chunk(rows[c]) for c in chunk_ids if c in rows]

    def fetch_chunks(self, keys: Sequence[Any]) -> dict[Any, Chunk]:
        """The chunks behind candidate keys (chunk ids); deleted ones are absent."""
        return {key: self._chunk(row) for key, row in self._rows(keys, _CHUNK_FIELDS).items()}

    def candidate_vectors(self, keys: Sequence[Any]) -> np.ndarray:
        rows = self._rows(keys, ["chunk_id", "vector"])
        vectors = [rows[k]["vector"] for k in keys if k in rows]
        return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), self.dim or 0)

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        return self.candidate_vectors(chunk_ids)

    def _search(self, data: list[Any], field: str, k: int, filter: Filter | None, params: dict[str, Any],
                output_fields: list[str]) -> list[dict[str, Any]]:
        where = self._where(filter)
        if k <= 0 or not self._ready():
            return []
        found = self._call("search", "search", self.collection, data=data, anns_field=field,
                           limit=min(k, QUERY_WINDOW), filter=where, output_fields=output_fields,
                           search_params=params)
        return list(found[0]) if found else []

    def _dense_params(self, k: int) -> dict[str, Any]:
        return {"metric_type": self.metric, "params": {"ef": max(64, min(k, QUERY_WINDOW))}}

    def _text_query(self, query: str) -> str:
        if not self.full_text:
            raise QueryError(f"this Milvus ({self.capabilities.version}) has no full-text search: BM25 and "
                             "hybrid need Milvus >= 2.5 or Milvus Lite (and a collection made there); "
                             "search with mode=dense")
        return " ".join(self._analyze.analyze(query))

    @staticmethod
    def _hit_id(hit: dict[str, Any]) -> str:
        # Milvus 2.3 answers with "id"; newer servers and Milvus Lite with the primary key's name.
        return str(hit["chunk_id"] if "chunk_id" in hit else hit["id"])

    @staticmethod
    def _score(hit: dict[str, Any], bm25: bool = False) -> float:
        # Milvus Lite reports BM25 scores negated (best = most negative); Milvus, positive.
        score = float(hit["distance"])
        return abs(score) if bm25 else score

    def vector_candidates(self, vector: np.ndarray, k: int, filter: Filter | None = None
                          ) -> list[tuple[Any, float]]:
        data = [np.asarray(vector, dtype=np.float32).ravel().tolist()]
        return [(self._hit_id(hit), self._score(hit)) for hit in
                self._search(data, "vector", k, filter, self._dense_params(k), [])]

    def text_candidates(self, query: str, k: int, filter: Filter | None = None) -> list[tuple[Any, float]]:
        terms = self._text_query(query)
        if not terms:
            parse_filter(filter)
            return []  # stop words only: no terms, no hits
        return [(self._hit_id(hit), self._score(hit, bm25=True)) for hit in
                self._search([terms], "sparse", k, filter, {"metric_type": "BM25"}, [])]

    def hybrid_candidates(self, vector: np.ndarray, query: str, k: int, filter: Filter | None = None
                          ) -> tuple[list[tuple[Any, float]], list[tuple[Any, float]]]:
        """Both candidate lists; the two searches are in flight at once (gRPC calls release the GIL)."""
        self._text_query(query)  # a dense-only server refuses before anything is sent
        parse_filter(filter)
        with self._lock:
            if self._retriever is None:
                self._retriever = ThreadPoolExecutor(1, thread_name_prefix="ragline-milvus")
        dense = self._retriever.submit(self.vector_candidates, vector, k, filter)
        try:
            found = self.text_candidates(query, k, filter)
        finally:
            nearest = dense.result()
        return nearest, found

    def _hits(self, found: list[dict[str, Any]], retriever: str, bm25: bool = False) -> list[Hit]:
        hits = []
        for rank, hit in enumerate(found, start=1):
            chunk = self._chunk({**hit["entity"], "chunk_id": self._hit_id(hit)})
            hits.append(Hit(chunk=chunk, score=self._score(hit, bm25), uri=chunk.metadata.get("uri", ""),
                            ranks={retriever: rank}))
        return hits

    def search_vector(self, vector: np.ndarray, k: int, filter: Filter | None = None) -> list[Hit]:
        data = [np.asarray(vector, dtype=np.float32).ravel().tolist()]
        return self._hits(self._search(data, "vector", k, filter, self._dense_params(k), _CHUNK_FIELDS), "dense")

    def search_text(self, query: str, k: int, filter: Filter | None = None) -> list[Hit]:
        terms = self._text_query(query)
        if not terms:
            parse_filter(filter)
            return []
        return self._hits(self._search([terms], "sparse", k, filter, {"metric_type": "BM25"}, _CHUNK_FIELDS),
                          "bm25", bm25=True)

    def search_hybrid(self, vector: np.ndarray, query: str, k: int, filter: Filter | None = None,
                      depth: int | None = None) -> list[Hit]:
        """Dense and BM25 fused by the server (``hybrid_search`` + ``RRFRanker(60)``), each list
        ``depth`` deep (default 4k). Ranks say only the fused position (``{"rrf": n}``): the server
        does not report each retriever's. ``ragline.search.hybrid_search`` fuses on the client
        (ranks per retriever, pseudo-relevance feedback) and works on every server with BM25."""
        from pymilvus import AnnSearchRequest, RRFRanker

        terms = self._text_query(query)
        where = self._where(filter)
        if k <= 0 or not self._ready():
            return []
        if not terms:
            return [Hit(h.chunk, h.score, h.uri, {"rrf": h.ranks["dense"]})
                    for h in self.search_vector(vector, k, filter)]
        depth = min(depth or 4 * k, QUERY_WINDOW)
        data = [np.asarray(vector, dtype=np.float32).ravel().tolist()]
        requests = [AnnSearchRequest(data=data, anns_field="vector", param=self._dense_params(depth), limit=depth,
                                     expr=where),
                    AnnSearchRequest(data=[terms], anns_field="sparse", param={"metric_type": "BM25"},
                                     limit=depth, expr=where)]
        found = self._call("hybrid search", "hybrid_search", self.collection, requests, RRFRanker(60),
                           limit=min(k, QUERY_WINDOW), output_fields=_CHUNK_FIELDS)
        return self._hits(list(found[0]) if found else [], "rrf")

    # ----- counts and housekeeping -------------------------------------------------------
    def count(self) -> int:
        if not self._ready():
            return 0
        rows = self._call("count", "query", self.collection, filter=self._where(),
                          output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def stats(self) -> dict[str, Any]:
        return {"store": self.uri, "namespace": self.namespace, "chunks": self.count(), "dim": self.dim,
                "collection": self.collection, "server": self.capabilities.version, "metric": self.metric,
                "full_text": self.full_text, "server_hybrid": self.full_text and self.capabilities.server_hybrid,
                "typed_strings": list(self.layout.strings), "typed_numbers": list(self.layout.numbers)}

    def verify(self, ledger: Any, *, repair: bool = False) -> dict[str, Any]:
        """The ledger against the collection (``VerifiableStore``; ``ragline.store._milvus_verify``)."""
        from ragline.store._milvus_verify import verify

        return verify(self, ledger, repair=repair)

    def flush(self) -> None:
        """Seal what was written (the engine calls it at the end of a run)."""
        with self._lock:
            if self._ready():
                self._call("flush", "flush", self.collection)


# ----- opening by URI ------------------------------------------------------------------------
def _options(query: str) -> dict[str, Any]:
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    known = {"collection", "metric", "consistency", "strings", "numbers"}
    unknown = sorted(options.keys() - known)
    if unknown:
        raise ConfigError(f"unknown Milvus store option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {k: options[k] for k in ("collection", "metric", "consistency") if k in options}
    if "strings" in options or "numbers" in options:
        def keys(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(k for k in options[name].split(",") if k) if name in options else default
        kwargs["layout"] = Layout(keys("strings", DEFAULT_STRINGS), keys("numbers", DEFAULT_NUMBERS))
    return kwargs


def open_milvus_lite(rest: str, namespace: str, *, create: bool = True) -> MilvusStore:
    """``milvus-lite:PATH[?options]``: PATH ending in ``.db`` is the file, otherwise a folder that
    gets ``milvus.db`` (room beside it for the state). ``create=False`` (read-only commands): a
    file that does not exist is a ConfigError instead of being created."""
    path_text, _, query = rest.partition("?")
    path = Path(path_text or "ragline-milvus")
    lite_path = path if path.suffix == ".db" else path / "milvus.db"
    if not create and not lite_path.exists():  # Milvus Lite 3 keeps a folder under that name
        raise ConfigError(f"no Milvus Lite store at {lite_path}: ingest into it first (read-only commands "
                          "never create one)")
    return MilvusStore(f"milvus-lite:{path_text}", namespace, lite_path=lite_path, **_options(query))


def open_milvus(rest: str, namespace: str, *, create: bool = True) -> MilvusStore:
    """``milvus://HOST:PORT[/DB][?options]``; a token (user:password or an API key) comes from
    ``RAGLINE_MILVUS_TOKEN``, never from the URI. The collection is created by the first write,
    so ``create`` changes nothing here: a search of a missing collection finds nothing."""
    address, _, query = rest.removeprefix("//").partition("?")
    host_port, _, db_name = address.partition("/")
    if not host_port:
        raise ConfigError(f"milvus:{rest}: give milvus://HOST:PORT[/DB]")
    return MilvusStore(f"milvus://{address}", namespace, server=f"http://{host_port}", db_name=db_name,
                       token=os.environ.get("RAGLINE_MILVUS_TOKEN", ""), **_options(query))


# One process at a time (store.base.one_process_only: a server refuses several workers over it).
open_milvus_lite.one_process_only = ONE_PROCESS  # type: ignore[attr-defined]
register_store("milvus-lite", open_milvus_lite)
register_store("milvus", open_milvus)
