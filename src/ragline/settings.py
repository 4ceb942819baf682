"""One settings tree, and the only place ragline's defaults live.

    settings = load_settings({"chunk.max_tokens": 128})     # flags / explicit arguments
    settings.chunk.max_tokens, settings.store.uri

Precedence, lowest to highest: the defaults below < ``ragline.toml`` (``./ragline.toml``, or the
file named by ``RAGLINE_CONFIG`` / ``ragline --config``) < ``RAGLINE_*`` environment variables,
nested with ``__`` (``RAGLINE_CHUNK__MAX_TOKENS=128``) < flags and explicit arguments. The older
flat variables ``RAGLINE_STORE``, ``RAGLINE_STATE``, ``RAGLINE_NAMESPACE`` and
``RAGLINE_EMBEDDER`` still work (they are ``store.uri``, ``store.state``, ``store.namespace`` and
``embed.spec``). ``resolve_settings`` also says where each value came from (``ragline config show``).

A ``ragline.toml``::

    [store]
    uri = "local:./ragline-data"
    [chunk]
    max_tokens = 200
    [search]
    feedback_chunks = 0
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragline.errors import ConfigError
from ragline.parse.base import DEFAULT_MAX_DOC_CHARS

ENV_PREFIX = "RAGLINE_"
CONFIG_ENV = "RAGLINE_CONFIG"
DEFAULT_CONFIG_FILE = "ragline.toml"
# Flat variables that predate the tree, and the setting each one is.
LEGACY_ENV = {"RAGLINE_STORE": "store.uri", "RAGLINE_STATE": "store.state",
              "RAGLINE_NAMESPACE": "store.namespace", "RAGLINE_EMBEDDER": "embed.spec"}


class _Section(BaseModel):
    # A misspelt key in ragline.toml is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    uri: str = "local:ragline-data"
    # Where the ledger, embedding cache, near-dup index and meta live (ragline.state): None keeps
    # them in the store's own file; "sqlite:PATH" or "postgresql://..." puts them elsewhere.
    state: str | None = None
    namespace: str = "default"
    # How the ANN index quantizes vectors (float32, float16, int8, binary); None keeps the
    # store's persisted choice (or float32 for a new store). A change rebuilds the ANN.
    vector_dtype: str | None = None


class EmbedSettings(_Section):
    # auto: openvino on CPUs, onnx on GPUs (ragline.embed.open_embedder lists every spec).
    spec: str = "auto"


class ChunkSettings(_Section):
    max_tokens: int = Field(default=256, ge=8)
    overlap: int = Field(default=32, ge=0)
    # Characters per chunk at most; None: 16 x max_tokens (4096 by default).
    max_chars: int | None = Field(default=None, ge=1)


class IngestSection(_Section):
    max_file_bytes: int = Field(default=20 * 2**20, ge=1)
    # Characters of text one document (file or JSONL record) may yield; more fails as too_large.
    max_doc_chars: int = Field(default=DEFAULT_MAX_DOC_CHARS, ge=1)
    batch_chunks: int = Field(default=256, ge=1)
    # Parse processes: None = half the cores (at least one); 0 = parse on the coordinator thread.
    parse_workers: int | None = Field(default=None, ge=0)
    # Near-duplicate removal: Jaccard threshold on word 5-shingles (0 turns it off).
    near_dup_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    # Derived indexes (ANN, BM25) catch up after this many written chunks or seconds, whichever
    # comes first: a 200k-document run that indexed everything at the end peaked at 3x the RSS it
    # streamed with; a catch-up's memory grows with its step (50k documents, hashing embedder:
    # peak 629 / 577 / 552 MiB at 16k / 8k / 4k steps, 635 MiB all at the end).
    index_every_chunks: int = Field(default=4096, ge=1)
    index_every_s: float = Field(default=120.0, gt=0)
    retry_failed_reads: bool = True
    # The parse pool starts only once a run has this many parse tasks (small runs skip its start-up).
    pool_after: int = Field(default=16, ge=0)
    records_per_task: int = Field(default=256, ge=1)
    # Batches that may wait for the embedder (backpressure).
    embed_queue: int = Field(default=2, ge=1)


class SearchSettings(_Section):
    # Each retriever's candidate depth in hybrid mode, as a multiple of k (ARCHITECTURE §5).
    hybrid_depth: int = Field(default=4, ge=1)
    # Hybrid pseudo-relevance feedback (Rocchio on the query vector): candidates are re-ranked by
    # query + feedback_weight x mean(vectors of the top feedback_chunks fused hits), fused again
    # with BM25's. 0 chunks turns it off. README "Tuning" gives the measurements.
    feedback_chunks: int = Field(default=3, ge=0)
    feedback_weight: float = Field(default=0.75, ge=0.0)
    # Bounded LRU caches (entries; 0 turns one off): query embeddings, and whole results.
    query_cache_size: int = Field(default=1024, ge=0)
    result_cache_size: int = Field(default=1024, ge=0)
    # A shared cache for results and query vectors (ragline.cache_redis), e.g.
    # "redis://127.0.0.1:6379/0?ttl=600", used instead of the in-process LRUs; None keeps those.
    cache: str | None = None


class ServeSection(_Section):
    """``ragline serve`` (ragline.serve.settings.ServeSettings reads this section; its flat
    ``RAGLINE_SERVE_<FIELD>`` variables still win over the tree's)."""

    store: str = "local:ragline-data"
    state: str | None = None
    embedder: str = "auto"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # False (development only, on 127.0.0.1): no keys, every request works in namespace "default".
    auth: bool = True
    # "key1=namespace1,key2=namespace2": keys given by the operator (hashed in memory, never stored).
    api_keys: SecretStr = SecretStr("")
    admin_key: SecretStr | None = None
    # Requests being worked on at once; beyond it 429 + Retry-After at once (not queued).
    # "adaptive": the limit moves between admission_min_limit and max_in_flight to keep the p90
    # of uncached searches within admission_tolerance x the unloaded p90 (serve/_admission.py);
    # "static": always max_in_flight.
    admission: Literal["adaptive", "static"] = "adaptive"
    max_in_flight: int = Field(default=64, ge=1)
    # 1: on 2 cores, two searches at once already take ~2x as long as one (they share the cores
    # and the GIL), so the latency goal needs the limiter free to admit one at a time.
    admission_min_limit: int = Field(default=1, ge=1)
    admission_tolerance: float = Field(default=1.5, gt=1.0)
    retry_after_s: int = Field(default=1, ge=1)
    # uvicorn's own line per request on stdout. Off by default: requests are already counted by
    # route and status in /metrics, and at a few hundred requests a second the line costs CPU.
    access_log: bool = False
    # Per-request deadline (504 deadline_exceeded).
    deadline_s: float = Field(default=10.0, gt=0)
    # Threads that run searches (Engine calls are synchronous); a micro-batch is at most this big,
    # since each query waits for its vector on its thread: 64 (as max_in_flight) lets a batch fill
    # to batch_max. Uncached hybrid at concurrency 64, one 2-thread model: 16 threads gave batches
    # of 7.7 on average and 109 QPS, 64 threads batches of 30 and 152 QPS (README "Serving benchmark").
    search_threads: int = Field(default=64, ge=1, le=512)
    # Uploads: bytes of one request body (checked while it streams in), and files per request.
    max_upload_bytes: int = Field(default=20 * 2**20, ge=1)
    max_files: int = Field(default=100, ge=1)
    max_records: int = Field(default=10_000, ge=1)
    # Ingest jobs waiting for the one writer thread; beyond it 429 + Retry-After.
    job_queue_size: int = Field(default=16, ge=1)
    # Finished jobs remembered for GET /v1/jobs/{id} (oldest forgotten first).
    jobs_kept: int = Field(default=10_000, ge=1)
    # Finished jobs are forgotten this long after they finish (memory and the state's meta, where
    # every server process reads them); the stored records are swept at most every job_prune_every_s.
    job_retention_s: float = Field(default=24 * 3600.0, gt=0)
    job_prune_every_s: float = Field(default=60.0, ge=0)
    # A queued or running job's owner (one server process) refreshes its heartbeat every third of
    # this; a stored job whose heartbeat is older (its server was killed) reads as failed/interrupted.
    job_stale_s: float = Field(default=30.0, gt=0)
    # Nice increment of the writer thread, so ingestion yields the CPU to searches.
    ingest_nice: int = Field(default=10, ge=0, le=19)
    # Inference threads of the writer's own copy of a local model (auto, openvino, onnx), so an
    # ingest neither holds the searches' model nor takes every core; 0 shares the search model.
    ingest_threads: int = Field(default=1, ge=0, le=256)
    # Micro-batching of query embeddings: wait at most this long for company (0 turns it off),
    # or until this many queries are waiting. 2 ms: x1.19 and x1.36 the QPS of 0 (two runs) for
    # 225 uncached dense queries at concurrency 32, OpenVINO MiniLM on 2 cores (README).
    batch_window_ms: float = Field(default=2.0, ge=0)
    batch_max: int = Field(default=32, ge=1)
    # Copies of a local model that embed query batches at once, each on max(1, physical cores //
    # query_workers) inference threads (other embedders: that many batches at once on the one).
    # Why copies: a model's threads wait for each other inside every matrix product, so one
    # core busy elsewhere (an ingest job) slows every query. On 2 cores, query embedding p50 with
    # an ingest model running beside it: 2 threads 21.8 ms, 1 thread 7.4 ms (3.9 / 6.2 alone).
    query_workers: int = Field(default=2, ge=1, le=64)
    query_cache_size: int = Field(default=4096, ge=0)
    result_cache_size: int = Field(default=4096, ge=0)
    # A shared result and query-vector cache for every worker and server (ragline.cache_redis),
    # e.g. "redis://127.0.0.1:6379/0?ttl=600"; None keeps the in-process LRUs above.
    cache: str | None = None
    # POST /v1/answer: a chat model ("openai:MODEL", any OpenAI-compatible server at llm_base_url;
    # the key comes from $OPENAI_API_KEY). None: the route answers 503 llm_not_configured.
    llm: str | None = None
    llm_base_url: str | None = None

    @field_validator("store", "embedder")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


SECTIONS: dict[str, type[_Section]] = {"store": StoreSettings, "embed": EmbedSettings, "chunk": ChunkSettings,
                                       "ingest": IngestSection, "search": SearchSettings, "serve": ServeSection}

# The file the next Settings() reads (set by load_settings; None: RAGLINE_CONFIG, else ./ragline.toml).
_config_file: ContextVar[Path | None] = ContextVar("ragline_config_file", default=None)


def config_file(explicit: str | Path | None = None) -> Path | None:
    """The ragline.toml in force: ``explicit``, else ``$RAGLINE_CONFIG``, else ./ragline.toml if it
    exists. A file named explicitly (argument or variable) must exist."""
    named = explicit or os.environ.get(CONFIG_ENV) or None
    if named is not None:
        path = Path(named)
        if not path.is_file():
            origin = "--config" if explicit else CONFIG_ENV
            raise ConfigError(f"the settings file {str(path)!r} ({origin}) does not exist")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class _Env(EnvSettingsSource):
    """``RAGLINE_SECTION__KEY`` variables, plus the flat legacy names (``LEGACY_ENV``)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        legacy = {name.lower() for name in LEGACY_ENV}
        return {key: value for key, value in super()._load_env_vars().items() if key not in legacy}

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for name, path in LEGACY_ENV.items():
            value = os.environ.get(name)
            if value:
                section, key = path.split(".")
                data.setdefault(section, {}).setdefault(key, value)  # the nested name wins
        return data


class Settings(BaseSettings):
    """The whole tree. Unknown top-level tables in ragline.toml (e.g. another tool's) are ignored;
    an unknown key inside one of these sections is an error."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore",
                                      frozen=True, nested_model_default_partial_update=True)

    store: StoreSettings = StoreSettings()
    embed: EmbedSettings = EmbedSettings()
    chunk: ChunkSettings = ChunkSettings()
    ingest: IngestSection = IngestSection()
    search: SearchSettings = SearchSettings()
    serve: ServeSection = ServeSection()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, then the environment, then the file.
        return init_settings, _Env(settings_cls), _toml_source(settings_cls, _config_file.get() or config_file())


def _toml_source(settings_cls: type[BaseSettings], path: Path | None) -> PydanticBaseSettingsSource:
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"the settings file {str(path)!r} is not valid TOML: {exc}") from exc


def default(path: str) -> Any:
    """The built-in default of ``"section.key"`` (what EngineConfig, IngestSettings, ChunkerConfig
    and the CLI take theirs from)."""
    section, _, key = path.partition(".")
    return SECTIONS[section].model_fields[key].default


def nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"chunk.max_tokens": 128}`` -> ``{"chunk": {"max_tokens": 128}}``; None means "not given"."""
    nested: dict[str, dict[str, Any]] = {}
    for path, value in flat.items():
        section, _, key = path.partition(".")
        if section not in SECTIONS or key not in SECTIONS[section].model_fields:
            raise ConfigError(f"unknown setting {path!r}; settings are {', '.join(setting_names())}")
        if value is not None:
            nested.setdefault(section, {})[key] = value
    return nested


def setting_names() -> list[str]:
    return [f"{section}.{key}" for section, model in SECTIONS.items() for key in model.model_fields]


def _leaves(data: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for section, values in data.items():
        if section in SECTIONS and isinstance(values, Mapping):
            for key, value in values.items():
                yield f"{section}.{key}", value


def _env_name(path: str) -> str:
    for name, legacy_path in LEGACY_ENV.items():
        nested = ENV_PREFIX + path.replace(".", "__").upper()
        if legacy_path == path and nested not in os.environ and os.environ.get(name):
            return name
    return ENV_PREFIX + path.replace(".", "__").upper()


@dataclass(frozen=True)
class ResolvedSettings:
    settings: Settings
    # "section.key" -> "default", "toml:PATH", "env:NAME" or "flag"
    origins: dict[str, str]
    file: Path | None

    def rows(self) -> list[tuple[str, Any, str]]:
        """(setting, effective value, where it came from), in the tree's order."""
        values = self.settings.model_dump()
        return [(path, values[path.split(".")[0]][path.split(".")[1]], self.origins[path])
                for path in setting_names()]


def resolve_settings(flags: Mapping[str, Any] | None = None, *, config: str | Path | None = None
                     ) -> ResolvedSettings:
    """The effective settings and the origin of each value. ``flags`` are dotted names
    (``"chunk.max_tokens"``); a None value is "not given"."""
    overrides = nest(flags or {})
    path = config_file(config)
    token = _config_file.set(path)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        toml = _toml_source(Settings, path)() if path is not None else {}
        env = _Env(Settings)()
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from exc
    finally:
        _config_file.reset(token)
    origins = dict.fromkeys(setting_names(), "default")
    for layer, origin in ((toml, f"toml:{path}"), (env, "env"), (overrides, "flag")):
        for name, _ in _leaves(layer):
            if name in origins:
                origins[name] = f"env:{_env_name(name)}" if origin == "env" else origin
    return ResolvedSettings(settings, origins, path)


def load_settings(flags: Mapping[str, Any] | None = None, *, config: str | Path | None = None) -> Settings:
    return resolve_settings(flags, config=config).settings


def _explain(exc: ValidationError, path: Path | None) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    origin = f" (flags, RAGLINE_* variables or {path})" if path else " (flags or RAGLINE_* variables)"
    return f"invalid settings{origin}: " + "; ".join(problems)


__all__ = ["LEGACY_ENV", "SECTIONS", "ChunkSettings", "EmbedSettings", "IngestSection", "ResolvedSettings",
           "SearchSettings", "ServeSection", "Settings", "StoreSettings", "config_file", "default", "load_settings",
           "nest", "resolve_settings", "setting_names"]
