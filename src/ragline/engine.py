"""The Engine facade: the one API that the CLI and the server both call.

    with Engine.open("local:./ragline-data") as engine:
        report = engine.ingest(["docs/"])
        hits = engine.search("how are deletes propagated?", k=5, mode="hybrid")
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragline.caches import QueryVectorCache, ResultCache, freeze
from ragline.chunk import Chunker, ChunkerConfig
from ragline.embed import open_embedder
from ragline.embed.base import Embedder, TokenEmbedder
from ragline.errors import ConfigError, QueryError
from ragline.group import GROUP_BY, group_by_doc
from ragline.ingest import IngestRun, IngestSettings, Progress
from ragline.neardup import NearDupConfig
from ragline.records import Hit, IngestReport, SourceItem
from ragline.rerank import RERANKERS, rerank_maxsim
from ragline.search import hybrid_search
from ragline.settings import Settings, default, resolve_settings
from ragline.snippet import highlight
from ragline.sources.base import Listing, Source
from ragline.sources.folder import FolderSource, file_uri
from ragline.sources.items import ItemsSource
from ragline.state import commit_scope, open_state, read_meta, replay_removals
from ragline.store import Filter, open_store
from ragline.store.base import (
    GenerationStore,
    MultiVectorStore,
    OnDiskStore,
    QuantizedStore,
    TextAnalyzerStore,
)
from ragline.store.filters import parse_filter

MODES = ("dense", "bm25", "hybrid")
# EngineConfig field -> its place in the settings tree (ragline.settings).
SETTING_OF = {"store": "store.uri", "state": "store.state", "namespace": "store.namespace",
              "vector_dtype": "store.vector_dtype", "embedder": "embed.spec",
              "max_tokens": "chunk.max_tokens", "overlap": "chunk.overlap", "max_chars": "chunk.max_chars",
              **{name: f"ingest.{name}" for name in ("max_file_bytes", "max_doc_chars", "batch_chunks",
                                                     "near_dup_threshold", "parse_workers",
                                                     "index_every_chunks", "index_every_s")},
              **{name: f"search.{name}" for name in ("hybrid_depth", "feedback_chunks", "feedback_weight",
                                                     "query_cache_size", "result_cache_size", "cache")}}


@dataclass(frozen=True)
class EngineConfig:
    """The engine's settings, flat. Every default comes from ``ragline.settings`` (the one tree);
    ``Engine.open`` fills them from ragline.toml, ``RAGLINE_*`` variables and its arguments.
    Each field's meaning is documented there (``SETTING_OF`` names its place in the tree)."""

    store: str = default("store.uri")
    state: str | None = default("store.state")
    namespace: str = default("store.namespace")
    embedder: str = default("embed.spec")
    max_tokens: int = default("chunk.max_tokens")
    overlap: int = default("chunk.overlap")
    max_chars: int | None = default("chunk.max_chars")
    max_file_bytes: int = default("ingest.max_file_bytes")
    max_doc_chars: int = default("ingest.max_doc_chars")
    batch_chunks: int = default("ingest.batch_chunks")
    hybrid_depth: int = default("search.hybrid_depth")
    feedback_chunks: int = default("search.feedback_chunks")
    feedback_weight: float = default("search.feedback_weight")
    near_dup_threshold: float = default("ingest.near_dup_threshold")
    parse_workers: int | None = default("ingest.parse_workers")
    index_every_chunks: int = default("ingest.index_every_chunks")
    index_every_s: float = default("ingest.index_every_s")
    query_cache_size: int = default("search.query_cache_size")
    result_cache_size: int = default("search.result_cache_size")
    vector_dtype: str | None = default("store.vector_dtype")
    cache: str | None = default("search.cache")
    # False for read-only uses (search, stats, verify): a missing store or namespace is then a
    # ConfigError instead of being created.
    create_store: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> EngineConfig:
        """The tree's values, then ``options`` (fields that are not settings, e.g. create_store)."""
        tree = settings.model_dump()
        values = {name: tree[path.split(".")[0]][path.split(".")[1]] for name, path in SETTING_OF.items()}
        return cls(**{**values, **options})

    def __post_init__(self) -> None:
        """Numbers are checked where they enter (CLI, server, library), each with what to change."""
        ranges = {"max_file_bytes": (1, None), "max_doc_chars": (1, None), "batch_chunks": (1, None),
                  "index_every_chunks": (1, None), "index_every_s": (1e-9, None), "max_chars": (1, None),
                  "hybrid_depth": (1, None), "feedback_chunks": (0, None), "feedback_weight": (0.0, None),
                  "near_dup_threshold": (0.0, 1.0), "parse_workers": (0, None),
                  "query_cache_size": (0, None), "result_cache_size": (0, None)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if value < low or (high is not None and value > high):
                bound = f"in [{low}, {high}]" if high is not None else f"at least {low}"
                raise ConfigError(f"{name} must be {bound}, got {value!r}")


class Engine:
    def __init__(self, config: EngineConfig, embedder: Embedder | None = None):
        self.config = config
        self.store = open_store(config.store, config.namespace, create=config.create_store)
        try:
            self.state = open_state(config.state, self.store)
        except BaseException:
            self.store.close()
            raise
        if config.vector_dtype is not None:
            if not isinstance(self.store, QuantizedStore):
                raise ConfigError(f"vector_dtype applies to the local store only, not {config.store!r}")
        self.embedder = embedder or open_embedder(config.embedder)
        self._check_persisted_config()
        self._check_persisted_revision()
        if config.vector_dtype is not None and isinstance(self.store, QuantizedStore):
            self.store.set_vector_dtype(config.vector_dtype)
        self.ledger = self.state.ledger(config.namespace)
        self.cache = self.state.embedding_cache(self.embedder.model_id, self.embedder.revision)
        self.chunker = Chunker(self.embedder, self.embedder.max_tokens,
                               ChunkerConfig(config.max_tokens, config.overlap, config.max_chars))
        self.query_vectors = QueryVectorCache(config.query_cache_size)
        self.results = ResultCache(config.result_cache_size)
        if config.cache:
            from ragline.cache_redis import open_shared_caches

            self.query_vectors, self.results = open_shared_caches(config.cache, self._cache_scope(),
                                                                  config.query_cache_size)

    @classmethod
    def open(cls, store: str | None = None, *, namespace: str | None = None,
             embedder: Embedder | str | None = None, config: str | Path | None = None,
             **options: Any) -> Engine:
        """Settings from the tree (defaults < ragline.toml < ``RAGLINE_*`` < these arguments; None
        means "not given"). ``config`` names the ragline.toml to read. Without an embedder from any
        of them, a store reopens with the one it was built with."""
        given = {"store": store, "namespace": namespace, "embedder": embedder if isinstance(embedder, str) else None,
                 **options}
        # Explicit arguments are checked by EngineConfig (its messages name the argument); the file
        # and the environment by the settings tree (its messages name the setting and its source).
        resolved = resolve_settings(config=config)
        engine_config = EngineConfig.from_settings(
            resolved.settings, **{name: value for name, value in given.items()
                                  if value is not None or name not in SETTING_OF})
        if given["embedder"] is None and resolved.origins["embed.spec"] == "default":
            saved = _persisted(engine_config.store, engine_config.state, engine_config.namespace, "embedder")
            engine_config = replace(engine_config, embedder=saved or engine_config.embedder)
        return cls(engine_config, embedder if not isinstance(embedder, str) else None)

    def _check_persisted_config(self) -> None:
        """The store remembers how it was built, so it reopens the same way."""
        saved = self.state.get_meta(self.config.namespace, "config")
        if saved is None:
            return
        saved_config = json.loads(saved)
        if self.store.count() and saved_config.get("embedder") != self.config.embedder \
                and not self._same_model(saved_config):
            raise ConfigError(f"this store was built with embedder {saved_config['embedder']!r}; "
                              f"got {self.config.embedder!r}. Use the same embedder or a new store.")

    def _same_model(self, saved_config: dict[str, Any]) -> bool:
        """Whether another spec names the very model file the store was built with (``auto`` and
        ``openvino-fp32``, or other threads or device): only how it runs differs, not its vectors."""
        return (saved_config.get("model_id") == self.embedder.model_id
                and saved_config.get("revision") is not None
                and saved_config.get("revision") == self.embedder.revision)

    def _check_persisted_revision(self) -> None:
        """The same spec can name another model file (e.g. ``onnx`` after its default precision
        changed, or on a GPU): never mix its vectors into a store built with the other."""
        saved = self.state.get_meta(self.config.namespace, "config")
        if saved is None or not self.store.count():
            return
        revision = json.loads(saved).get("revision")
        if revision is not None and revision != self.embedder.revision:
            raise ConfigError(f"this store's vectors come from model revision {revision!r}, but embedder "
                              f"{self.config.embedder!r} is now revision {self.embedder.revision!r}; pass the "
                              "precision it was built with (e.g. --embedder onnx-fp32) or use a new store.")

    def _cache_scope(self) -> str:
        """This store's identity for a shared result cache: a random id kept in its state, so two
        stores never share entries and every engine over one store does, wherever it runs."""
        import uuid

        key = "result_cache_scope"
        scope = self.state.get_meta(self.config.namespace, key)
        if scope is None:
            with self.state.transaction():
                scope = self.state.get_meta(self.config.namespace, key)
                if scope is None:
                    scope = uuid.uuid4().hex
                    self.state.set_meta(self.config.namespace, key, scope)
        return f"{scope}:{self.config.namespace}"

    def _shaping(self) -> dict[str, Any]:
        """The settings that shape what this engine writes into the store."""
        shaping: dict[str, Any] = {
            "embedder": self.config.embedder, "model_id": self.embedder.model_id,
            # (not the dimension: a remote embedder learns it only by calling the server; the model
            # and its revision fix it, and the store checks it on upsert)
            "revision": self.embedder.revision,
            "max_tokens": self.config.max_tokens, "overlap": self.config.overlap,
            "max_chars": self.config.max_chars}
        if isinstance(self.store, TextAnalyzerStore):
            shaping["bm25_analyzer"] = self.store.bm25_analyzer
        if isinstance(self.store, QuantizedStore):
            shaping["vector_dtype"] = self.store.vector_dtype  # recorded; a change re-quantizes the ANN
        return shaping

    def _check_shaping(self) -> None:
        """Refuse an ingest that would leave chunks made two ways in one store. Settings a store
        recorded before it knew them (an older ragline) are not checked, only recorded."""
        saved = self.state.get_meta(self.config.namespace, "config")
        if saved is None or not self.store.count():
            return
        recorded = json.loads(saved)
        for name, value in self._shaping().items():
            if name not in _REFUSED or name not in recorded or recorded[name] == value:
                continue
            setting, how = _REFUSED[name]
            rechunk = ("; rebuild this namespace from its sources with the new value (ingest --rechunk with "
                       "every source it was built from)") if name in _RECHUNKABLE else ""
            raise ConfigError(
                f"this store (namespace {self.config.namespace!r}) holds chunks made with {setting}="
                f"{recorded[name]!r}; this ingest would add chunks made with {setting}={value!r}, mixing both "
                f"in one index. {how.format(old=recorded[name])}{rechunk}; or ingest into a new store or "
                "namespace (--store / --namespace). Searching with other chunk settings needs no change.")

    def _drop_for_rechunk(self) -> int:
        """``rechunk``: remove every document of this namespace from the store and the ledger, so
        the run re-ingests its sources with the new settings (the embedding cache still answers
        for chunk texts it has seen)."""
        doc_ids = [doc.doc_id for doc in self.ledger.all_documents()]
        file_uris = [record.uri for record in self.ledger.files_under("")]
        with commit_scope(self.store, self.state):
            removed = self.store.delete(doc_ids) if doc_ids else 0
            self.ledger.remove_documents(doc_ids)
            for uri in file_uris:
                self.ledger.forget_file(uri)
        self.store.flush()
        if self.store.count():
            raise ConfigError(f"{self.store.count()} chunk(s) of namespace {self.config.namespace!r} have no ledger "
                              "entry, so --rechunk cannot remove them: run `ragline verify --repair` first")
        return removed

    def _persist_config(self, *, rechunk: bool = False) -> None:
        """Before an ingest writes anything: refuse settings that would mix with the store's
        contents (or, with ``rechunk``, drop the namespace's documents), then record them."""
        if rechunk:
            self._drop_for_rechunk()
        else:
            self._check_shaping()
        with self.state.transaction():
            self.state.set_meta(self.config.namespace, "config", json.dumps(self._shaping()))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.state.close()
        self.store.close()
        self.embedder.close()
        self.results.close()
        self.query_vectors.close()

    # ----- ingest ------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, include: Sequence[str] = (),
               exclude: Sequence[str] = (), progress: Progress | None = None,
               on_listed: Any = None, multivector: bool = False,
               follow_symlinks: bool = False, rechunk: bool = False) -> IngestReport:
        """Ingest files and folders. Symlinks are followed only while they stay inside the
        folder given, unless ``follow_symlinks``; every entry not ingested is reported.
        ``rechunk`` first drops this namespace's documents, so a store built with other chunk
        settings is rebuilt from ``paths`` with these (documents from other sources are gone)."""
        started = time.perf_counter()
        store_path = self.store.path if isinstance(self.store, OnDiskStore) else None
        listings = [FolderSource(Path(path), include=list(include), exclude=list(exclude),
                                 ignore_paths=(store_path,) if store_path else (),
                                 follow_symlinks=follow_symlinks).list() for path in paths]
        if on_listed is not None:
            on_listed(sum(len(listing.items) for listing in listings))
        return self._ingest_listings(listings, progress, multivector=multivector, started=started,
                                     rechunk=rechunk)

    def ingest_items(self, items: Iterable[SourceItem], *, progress: Progress | None = None,
                     multivector: bool = False) -> IngestReport:
        """Ingest documents that arrive from elsewhere (uploads, queue messages, an application's
        own records). Each ``SourceItem`` names its document by ``uri`` (stable: ingesting the same
        uri again replaces that document's previous version) and carries its bytes in ``data`` (or
        a ``path``); the parser is chosen from the uri's extension, then by sniffing the bytes.
        The same stages, dedup, cache and reports as ``ingest``; nothing absent from ``items`` is
        deleted (use ``delete``)."""
        return self.ingest_sources([ItemsSource(items)], progress=progress, multivector=multivector)

    def ingest_sources(self, sources: Iterable[Source], *, progress: Progress | None = None,
                       multivector: bool = False) -> IngestReport:
        """Ingest what any ``Source`` lists (``ragline.sources``). Documents of items gone from a
        source are deleted when its listing is complete (a folder listed without errors); a
        partial listing (``ItemsSource``) deletes nothing."""
        started = time.perf_counter()
        listings = [source.list() for source in sources]
        return self._ingest_listings(listings, progress, multivector=multivector, started=started)

    def _ingest_listings(self, listings: list[Listing], progress: Progress | None, *, multivector: bool,
                         started: float | None = None, rechunk: bool = False) -> IngestReport:
        started = time.perf_counter() if started is None else started
        report = IngestReport(namespace=self.config.namespace)
        self._persist_config(rechunk=rechunk)
        report.chunks_deleted += replay_removals(self.store, self.state)  # a crashed run's leftovers
        settings = IngestSettings(self.config.max_file_bytes, self.config.batch_chunks,
                                  parse_workers=self.config.parse_workers,
                                  near_dup=NearDupConfig(threshold=self.config.near_dup_threshold),
                                  max_doc_chars=self.config.max_doc_chars,
                                  index_every_chunks=self.config.index_every_chunks,
                                  index_every_s=self.config.index_every_s)
        run = IngestRun(self.store, self.ledger, self.embedder, self.chunker, self.cache, settings,
                        report, progress, state=self.state)
        try:
            # Vanished files go first: copies that were duplicates of them are then re-ingested
            # in this same run rather than the next one. (Only complete listings delete.)
            for listing in listings:
                run.delete_missing(listing)
            run.ingest_listings(listings)
            run.finish()
        finally:
            run.close()
        with self.state.transaction():
            self.cache.record_counts(report.cache_hits, report.chunks_embedded)
        if multivector or self._multivector_enabled():
            started_mv = time.perf_counter()
            self._store_multivectors(progress)
            run.stage_seconds["multivector"] = time.perf_counter() - started_mv
        report.elapsed_s = time.perf_counter() - started
        report.stage_seconds = dict(run.stage_seconds)
        report.pipeline = run.stage_report()
        return report

    # ----- search ------------------------------------------------------------------------
    def _embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def _query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, from the LRU cache when this model embedded it before."""
        key = (self.embedder.model_id, self.embedder.revision, "pooled", query)
        return self.query_vectors.get_or_compute(key, lambda: self._embed_query(query))

    def _query_tokens(self, query: str) -> np.ndarray:
        embedder = self.embedder
        if not isinstance(embedder, TokenEmbedder):
            raise QueryError(f"embedder {embedder.model_id} gives no token vectors")
        key = (embedder.model_id, embedder.revision, "tokens", query)
        return self.query_vectors.get_or_compute(key, lambda: embedder.embed_tokens([query])[0])

    def search(self, query: str, k: int = 10, *, mode: str = "hybrid", filter: Filter | None = None,
               rerank: str | None = None, rerank_depth: int | None = None, group_by: str | None = None,
               snippets: bool = True) -> list[Hit]:
        """Top-k chunks (or, with ``group_by="doc"``, documents) for ``query``.

        ``filter`` is described in ``ragline.store.filters``; ``snippets`` adds each hit's
        highlighted window of text (``Hit.snippet``). ``rerank="maxsim"`` re-orders the top
        ``rerank_depth`` candidates of ``mode`` (default max(4k, 40)) by MaxSim over stored
        token vectors.

        Answers come from the result cache while the store has not changed since.
        """
        if mode not in MODES:
            raise QueryError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if k < 1:
            raise QueryError("k must be at least 1")
        if not query.strip():
            raise QueryError("the query is empty")
        parse_filter(filter)  # a malformed filter is an error even on an empty store
        if group_by is not None:
            return self._search_documents(query, k, mode=mode, filter=filter, group_by=group_by,
                                          snippets=snippets, rerank=rerank, rerank_depth=rerank_depth)
        if rerank is not None and rerank not in RERANKERS:
            raise QueryError(f"unknown reranker {rerank!r}; use one of {', '.join(RERANKERS)}")
        depth = None
        if rerank is not None:
            depth = rerank_depth if rerank_depth is not None else max(k * self.config.hybrid_depth, 40)
            if depth < k:
                raise QueryError(f"rerank depth ({depth}) must be at least k ({k})")
        key = None
        if self.results.maxsize and isinstance(self.store, GenerationStore):
            # Every parameter that can change the answer, and the store's generation, which
            # moves on any write to this namespace (by this process or another).
            key = (self.config.namespace, query, mode, k, freeze(filter or None), rerank, depth,
                   self.config.hybrid_depth, self.config.feedback_chunks, self.config.feedback_weight,
                   self.embedder.model_id, self.embedder.revision,
                   self.store.data_generation())
            cached = self.results.lookup(key)
            if cached is not None:
                return _with_snippets(cached, query) if snippets else cached
        if rerank is None:
            hits = self._retrieve(query, k, mode, filter)
        else:
            hits = self._rerank(query, self._retrieve(query, depth or k, mode, filter), k)
        if key is not None:
            hits = self.results.remember(key, hits)
        return _with_snippets(hits, query) if snippets else hits

    def _rerank(self, query: str, candidates: list[Hit], k: int) -> list[Hit]:
        if not isinstance(self.embedder, TokenEmbedder):
            raise QueryError(f"embedder {self.embedder.model_id} gives no token vectors; "
                             "MaxSim re-ranking needs one that does (onnx, hashing)")
        if not isinstance(self.store, MultiVectorStore):
            raise QueryError("this store keeps no multi-vectors; MaxSim re-ranking needs local:")
        if not candidates:
            return []
        multivectors = self.store.multivectors([h.chunk.chunk_id for h in candidates], dtype=np.float16)
        if not any(len(v) for v in multivectors.values()):
            raise QueryError("no candidate has token vectors to re-rank with: "
                             "ingest with --multivector (multivector=True) first")
        return rerank_maxsim(candidates, self._query_tokens(query), multivectors, k)

    def _retrieve(self, query: str, k: int, mode: str, filter: Filter | None) -> list[Hit]:
        """The uncached retrieval of one mode: what the result cache and re-ranking wrap."""
        if mode == "dense":
            hits = self.store.search_vector(self._query_vector(query), k, filter)
        elif mode == "bm25":
            hits = self.store.search_text(query, k, filter)
        else:
            hits = self._hybrid(query, k, filter)
        return hits

    def _hybrid(self, query: str, k: int, filter: Filter | None) -> list[Hit]:
        config = self.config
        return hybrid_search(self.store, self._query_vector(query), query, k,
                             depth=max(k * config.hybrid_depth, 40), filter=filter,
                             feedback_chunks=config.feedback_chunks, feedback_weight=config.feedback_weight)

    def _search_documents(self, query: str, k: int, *, mode: str, filter: Filter | None,
                          group_by: str, snippets: bool, rerank: str | None = None,
                          rerank_depth: int | None = None) -> list[Hit]:
        """Best chunk per document; fetches deeper until k documents fill or chunks run out."""
        if group_by not in GROUP_BY:
            raise QueryError(f"unknown group_by {group_by!r}; use one of {', '.join(GROUP_BY)}")
        depth = max(k * 4, 40)
        while True:
            hits = self.search(query, depth, mode=mode, filter=filter, snippets=False, rerank=rerank,
                               rerank_depth=max(depth, rerank_depth or 0) if rerank else None)
            documents = group_by_doc(hits, k)
            if len(documents) >= k or len(hits) < depth or depth >= self.store.count():
                break
            depth *= 4
        return _with_snippets(documents, query) if snippets else documents

    # ----- multi-vectors ------------------------------------------------------------------
    def _multivector_enabled(self) -> bool:
        return isinstance(self.store, MultiVectorStore) and self.store.get_meta("multivector") == "1"

    def _store_multivectors(self, progress: Progress | None = None, batch: int = 64) -> int:
        """Give every chunk that lacks them its token vectors. Runs after the ingest proper, so
        it also backfills chunks stored before ``--multivector`` and finishes an interrupted run;
        the store remembers the choice, so later ingests keep token vectors complete."""
        if not isinstance(self.embedder, TokenEmbedder):
            raise ConfigError(f"embedder {self.embedder.model_id} gives no token vectors: "
                              "use onnx or hashing for --multivector")
        if not isinstance(self.store, MultiVectorStore):
            raise ConfigError("this store keeps no multi-vectors; --multivector needs a local: store")
        with self.store.transaction():
            self.store.set_meta("multivector", "1")
        stored = 0
        while pending := self.store.chunks_without_multivectors(batch):
            arrays = self.embedder.embed_tokens([text for _, text in pending])
            stored += self.store.upsert_multivectors([chunk_id for chunk_id, _ in pending], arrays)
            if progress is not None:
                progress("multivectors", len(pending))
        return stored

    # ----- delete, stats, verify -----------------------------------------------------------
    def delete(self, *, doc_ids: Sequence[str] = (), source: str | Path | None = None,
               uris: Sequence[str] = ()) -> int:
        """Delete documents by id, every document from a source path (file or folder), or every
        document of the given item uris (as ``ingest_items`` named them). Deleting by path or uri
        also forgets the file, so ingesting the same bytes again brings its documents back."""
        targets = list(doc_ids)
        file_uris: list[str] = list(uris)
        for uri in uris:
            targets += sorted(self.ledger.doc_ids_of_file(uri))
        if source is not None:
            uri = file_uri(Path(source))
            prefix = uri if Path(source).is_file() else uri.rstrip("/") + "/"
            docs = self.ledger.documents_by_uri_prefix(uri if Path(source).is_file() else prefix)
            targets += [d.doc_id for d in docs]
            file_uris += [f.uri for f in self.ledger.files_under(prefix)] + [uri]
        with commit_scope(self.store, self.state) as removals:
            if targets:
                removals.drop(targets)
            self.ledger.remove_documents(targets)
            for uri in file_uris:
                self.ledger.forget_file(uri)
        self.store.flush()
        return removals.removed

    def stats(self) -> dict[str, Any]:
        multivector = self.store.multivector_stats if isinstance(self.store, MultiVectorStore) else None
        return {**self.store.stats(), **self.ledger.counts(), "embedder": self.embedder.model_id,
                "embedding_cache_entries": self.cache.size(),
                "embedding_cache_hit_rate": self.cache.stats()["lifetime_hit_rate"],
                **(multivector() if multivector else {}),
                **self.query_vectors.stats("query_cache"), **self.results.stats("result_cache")}

    def cache_stats(self) -> dict[str, Any]:
        return {**self.cache.stats(), "current_model": self.cache.model}

    def clear_cache(self, *, model: str | None = None) -> int:
        with self.state.transaction():
            return self.cache.clear(model)

    def verify(self, *, repair: bool = False) -> dict[str, Any]:
        from ragline.verify import verify

        return verify(self.store, self.ledger, repair=repair, state=self.state)


# Settings an ingest must not change on a store that holds chunks: the name users know each by,
# and how to keep the old value. (The embedder and its revision are checked on open: a store
# cannot even be searched with another model.)
_REFUSED = {
    "max_tokens": ("chunk max_tokens", "Re-run with --max-tokens {old} (RAGLINE_CHUNK__MAX_TOKENS)"),
    "overlap": ("chunk overlap", "Re-run with --overlap {old} (RAGLINE_CHUNK__OVERLAP)"),
    "max_chars": ("chunk max_chars", "Set chunk.max_chars = {old} (ragline.toml or RAGLINE_CHUNK__MAX_CHARS)"),
    "bm25_analyzer": ("BM25 analyzer", "Use the ragline release that wrote this store (its analyzer is {old!r})"),
    "model_id": ("embedding model", "Use the embedder the store was built with (model {old!r})"),
}

_RECHUNKABLE = ("max_tokens", "overlap", "max_chars", "bm25_analyzer")


def _with_snippets(hits: list[Hit], query: str) -> list[Hit]:
    return [replace(hit, snippet=highlight(hit.chunk.text, query)) for hit in hits]


def _persisted(store: str, state: str | None, namespace: str, key: str) -> str | None:
    """Read one persisted setting without opening the engine (to reopen a store the same way)."""
    saved = read_meta(state, store, namespace, "config")
    return json.loads(saved).get(key) if saved else None


__all__ = ["MODES", "Engine", "EngineConfig"]
