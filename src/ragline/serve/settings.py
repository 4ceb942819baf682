"""The server's settings: arguments > ``RAGLINE_SERVE_*`` environment > defaults.

    settings = ServeSettings(store="local:./ragline-data", embedder="hashing:384", auth=False)
    RAGLINE_SERVE_API_KEYS="key1=tenant-a,key2=tenant-b" ragline serve --workers 2

With ``--workers N`` uvicorn builds the app in each worker from the environment (``app_from_env``),
so every setting has an environment variable; secrets (keys) are never printed.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragline.errors import ConfigError


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGLINE_SERVE_", extra="ignore")

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
    max_in_flight: int = Field(default=64, ge=1)
    retry_after_s: int = Field(default=1, ge=1)
    # Per-request deadline (504 deadline_exceeded).
    deadline_s: float = Field(default=10.0, gt=0)
    # Threads that run searches (Engine calls are synchronous); a micro-batch is at most this big.
    search_threads: int = Field(default=16, ge=1, le=512)
    # Uploads: bytes of one request body (checked while it streams in), and files per request.
    max_upload_bytes: int = Field(default=20 * 2**20, ge=1)
    max_files: int = Field(default=100, ge=1)
    max_records: int = Field(default=10_000, ge=1)
    # Ingest jobs waiting for the one writer thread; beyond it 429 + Retry-After.
    job_queue_size: int = Field(default=16, ge=1)
    # Finished jobs remembered for GET /v1/jobs/{id} (oldest forgotten first).
    jobs_kept: int = Field(default=10_000, ge=1)
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
    query_cache_size: int = Field(default=4096, ge=0)
    result_cache_size: int = Field(default=4096, ge=0)
    # A shared cache (redis://...), wired by the shared-cache work; None keeps them in-process.
    cache: str | None = None

    @field_validator("store", "embedder")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def query_batch_window_s(self) -> float:
        return self.batch_window_ms / 1000

    def key_map(self) -> dict[str, str]:
        """The operator's keys, {key: namespace}, from ``api_keys``."""
        return parse_key_map(self.api_keys.get_secret_value())


def parse_key_map(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, namespace = part.partition("=")
        if not sep or not key.strip() or not namespace.strip():
            raise ConfigError("RAGLINE_SERVE_API_KEYS takes 'key=namespace' pairs separated by commas")
        keys[key.strip()] = namespace.strip()
    return keys


__all__ = ["ServeSettings", "parse_key_map"]
