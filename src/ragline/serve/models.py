"""Pydantic models of every request and response body (they make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragline.records import Hit


class _Retrieval(BaseModel):
    """What a search and an answer both retrieve with."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    filters: dict[str, Any] | list[Any] | None = Field(
        None, description="ragline's filter language as JSON (see ragline.store.filters)")


class SearchRequest(_Retrieval):
    k: int = Field(default=10, ge=1, le=1000)
    group_by: Literal["doc"] | None = None
    rerank: Literal["maxsim"] | None = None


class AnswerRequest(_Retrieval):
    k: int = Field(default=8, ge=1, le=100)
    max_context_tokens: int | None = Field(None, ge=16, le=100_000)


class SearchHit(BaseModel):
    chunk_id: str
    doc_id: str
    score: float
    text: str
    snippet: str | None
    source: str
    title: str | None
    metadata: dict[str, Any]
    span: tuple[int, int]

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        metadata = hit.chunk.metadata
        return cls(chunk_id=hit.chunk.chunk_id, doc_id=hit.chunk.doc_id,
                   score=hit.doc_score if hit.doc_score is not None else hit.score, text=hit.chunk.text,
                   snippet=hit.snippet.marked() if hit.snippet is not None else None, source=hit.uri,
                   title=metadata.get("title") or metadata.get("name"), metadata=metadata,
                   span=(hit.chunk.start, hit.chunk.end))


class SearchResponse(BaseModel):
    hits: list[SearchHit]
    mode: str
    took_ms: float
    cached: bool


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255)
    text: str
    title: str | None = None
    metadata: dict[str, Any] | None = None


class RecordsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[Record] = Field(min_length=1)


class JobAccepted(BaseModel):
    job_id: str
    documents: list[dict[str, str]]


class JobStatus(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    progress: dict[str, int]
    report: dict[str, Any] | None
    error: str | None
    documents: list[dict[str, str]]
    created_at: float
    started_at: float | None
    finished_at: float | None
    # Last sign of life from the server running it (queued/running); older than job_stale_s: failed.
    heartbeat_at: float | None = None
    # True when the job failed because its server stopped mid-way (resubmit the documents).
    interrupted: bool = False


class DocumentChunk(BaseModel):
    chunk_id: str
    index: int
    text: str
    span: tuple[int, int]


class DocumentResponse(BaseModel):
    doc_id: str
    source: str
    title: str | None
    version: str
    duplicate_of: str | None
    metadata: dict[str, Any]
    chunks: list[DocumentChunk]


class Deleted(BaseModel):
    doc_id: str
    chunks_deleted: int


class NewKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str
    label: str = Field(default="", max_length=200)


class KeyInfo(BaseModel):
    key_id: str
    namespace: str
    label: str
    created_at: float


class NewKey(KeyInfo):
    key: str = Field(description="shown once: only its hash is kept")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


__all__ = ["Deleted", "DocumentChunk", "DocumentResponse", "ErrorResponse", "JobAccepted", "JobStatus",
           "KeyInfo", "NewKey", "NewKeyRequest", "Record", "RecordsRequest", "SearchHit", "SearchRequest",
           "SearchResponse"]
