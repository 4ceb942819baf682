"""The HTTP API: ``create_app(settings)`` builds the FastAPI app; the runtime opens in its lifespan.

    app = create_app(ServeSettings(store="local:./data", embedder="hashing:384", auth=False))
    uvicorn.run(app)                 # or: ragline serve --host 127.0.0.1 --port 8000 --workers 2

Routes and bodies follow the server contract (README "HTTP server"): search, document uploads as
jobs, documents by id, stats, health, readiness, metrics, admin keys. Every ``/v1`` request is
scoped to the namespace of its API key; what belongs to another namespace is "not found".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from ragline import metrics
from ragline.answer import Answerer, Context
from ragline.embed.base import Embedder
from ragline.engine import Engine
from ragline.ids import make_doc_id
from ragline.serve import models as m
from ragline.serve._admission import AdaptiveLimit, StaticLimit
from ragline.serve._guard import SAMPLE, Guard
from ragline.serve.errors import ApiError, install_error_handlers, overloaded
from ragline.serve.jobs import QueueFull
from ragline.serve.keys import KEYS_NAMESPACE
from ragline.serve.runtime import Runtime
from ragline.serve.settings import ServeSettings
from ragline.serve.uploads import PayloadTooLarge, clean_name, limited_request, upload_item
from ragline.state.base import DocRecord

T = TypeVar("T")
STATIC = Path(__file__).parent / "static"
_bearer = HTTPBearer(auto_error=False, description="an API key: each key opens one namespace")


def create_app(settings: ServeSettings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await asyncio.to_thread(Runtime, settings, embedder)
        runtime.batcher.start(asyncio.get_running_loop())
        app.state.runtime = runtime
        try:
            yield
        finally:
            await asyncio.to_thread(runtime.close)

    app = FastAPI(title="ragline", version="0.1.0", lifespan=lifespan,
                  description="Search and ingest over HTTP; each API key works in its own namespace.",
                  responses={400: {"model": m.ErrorResponse}, 401: {"model": m.ErrorResponse},
                             429: {"model": m.ErrorResponse}, 504: {"model": m.ErrorResponse}})
    app.state.settings = settings
    install_error_handlers(app)
    app.state.admission = admission_limiter(settings)
    app.add_middleware(Guard, max_in_flight=settings.max_in_flight, retry_after_s=settings.retry_after_s,
                       limiter=app.state.admission)
    _routes(app, settings)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def admission_limiter(settings: ServeSettings) -> AdaptiveLimit | StaticLimit:
    """The in-flight bound of ``settings.admission`` (a fixed one below the adaptive minimum).
    The adaptive one starts at ``max_in_flight``: until latency says otherwise it admits what the
    static bound would (bursts are not shed for want of evidence)."""
    if settings.admission == "static" or settings.max_in_flight <= settings.admission_min_limit:
        return StaticLimit(settings.max_in_flight)
    return AdaptiveLimit(initial=settings.max_in_flight, minimum=settings.admission_min_limit,
                         maximum=settings.max_in_flight, tolerance=settings.admission_tolerance)


def app_from_env() -> FastAPI:
    """What each uvicorn worker builds (``--workers N``): settings from ``RAGLINE_SERVE_*``."""
    return create_app(ServeSettings())


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _call(runtime: Runtime, fn: Callable[[], T]) -> T:
    """Run a synchronous engine call on the search threads, within the request's deadline."""
    future = runtime.search_pool.submit(fn)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), runtime.settings.deadline_s)
    except TimeoutError:
        future.cancel()
        raise ApiError(504, "deadline_exceeded",
                       f"the request took longer than its deadline ({runtime.settings.deadline_s} s)") from None


def _own_document(engine: Engine, namespace: str, doc_id: str) -> DocRecord | None:
    """The ledger record of ``doc_id`` if it is this namespace's: a doc_id is a hash of
    (namespace, uri), which proves it, whatever the ledger's own namespace filter does."""
    record = engine.ledger.document(doc_id)
    return record if record is not None and make_doc_id(namespace, record.uri) == doc_id else None


def _routes(app: FastAPI, settings: ServeSettings) -> None:
    # The dependencies are async: a sync one would cost every request a hop to a worker thread.
    # Keys are answered from memory; the occasional re-read of stored keys runs on a thread.
    async def tenant(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        if not settings.auth:
            return "default"
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
        keys = _runtime(request).keys
        token = credentials.credentials
        if keys.needs_reload(token):
            namespace = await asyncio.to_thread(keys.resolve, token)
        else:
            namespace = keys.resolve(token, reload=False)
        if namespace is None:
            if keys.is_admin(token):
                raise ApiError(403, "forbidden", "the admin key manages keys; search and ingest with a tenant key")
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        return namespace

    async def admin(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        if credentials is None:
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <admin key>'")
        if not _runtime(request).keys.is_admin(credentials.credentials):
            raise ApiError(403, "forbidden", "this route needs the admin key (RAGLINE_SERVE_ADMIN_KEY)")

    # ----- search ---------------------------------------------------------------------------
    @app.post("/v1/search", response_model=m.SearchResponse, tags=["search"])
    async def search(body: m.SearchRequest, request: Request, namespace: str = Depends(tenant)) -> m.SearchResponse:
        runtime = _runtime(request)
        started = time.perf_counter()

        def work() -> tuple[list[m.SearchHit], bool]:
            engine = runtime.engine(namespace)
            runtime.forget_last_search(engine)
            with metrics.timed_search(body.mode):
                hits = engine.search(body.query, body.k, mode=body.mode, filter=body.filters,  # type: ignore[arg-type]
                                     rerank=body.rerank, group_by=body.group_by)
            return [m.SearchHit.of(hit) for hit in hits], runtime.last_search_cached(engine)

        hits, cached = await _call(runtime, work)
        request.scope[SAMPLE] = not cached  # a cache hit says nothing about capacity
        return m.SearchResponse(hits=hits, mode=body.mode, cached=cached,
                                took_ms=round((time.perf_counter() - started) * 1000, 3))

    # ----- answers with citations -------------------------------------------------------------
    @app.post("/v1/answer", tags=["search"], response_model=None,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "events: citations, token (repeated), then done or error"},
                         503: {"model": m.ErrorResponse}})
    async def answer(body: m.AnswerRequest, request: Request,
                     namespace: str = Depends(tenant)) -> StreamingResponse:
        """Retrieve from the caller's namespace, then stream the chat model's answer as server-sent
        events. A bad query is a JSON 400 before any event; a chat-model failure is an ``error`` event."""
        runtime = _runtime(request)
        if runtime.llm is None:
            raise ApiError(503, "llm_not_configured", "no chat model is configured: start the server with "
                           "--llm openai:MODEL (and --llm-base-url for a server other than OpenAI's)")
        answerer = Answerer(runtime.engine(namespace), runtime.llm, k=body.k, mode=body.mode)

        def retrieve() -> Context:
            with metrics.timed_search(body.mode):
                return answerer.retrieve(body.query, filters=body.filters,
                                         max_context_tokens=body.max_context_tokens)

        context = await _call(runtime, retrieve)
        return StreamingResponse((event.sse() for event in answerer.generate(context)),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # ----- documents and jobs -----------------------------------------------------------------
    @app.post("/v1/documents", status_code=202, response_model=m.JobAccepted, tags=["documents"],
              openapi_extra={"requestBody": {"content": {
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
                  "application/json": {"schema": m.RecordsRequest.model_json_schema()}}}})
    async def upload(request: Request, namespace: str = Depends(tenant)) -> m.JobAccepted:
        runtime = _runtime(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            limited = limited_request(request, settings.max_upload_bytes)
            if content_type == "multipart/form-data":
                items = await _files(limited, namespace)
            elif content_type == "application/json":
                items = _records(await limited.body(), namespace)
            else:
                raise ApiError(415, "unsupported_media_type",
                               "send multipart/form-data (field 'files') or JSON {records: [...]}")
        except PayloadTooLarge as exc:
            raise ApiError(413, "payload_too_large", str(exc)) from None
        documents = [{"name": item.metadata["name"], "uri": item.uri,
                      **({"doc_id": make_doc_id(namespace, item.uri)} if item.metadata["kind"] != "jsonl" else {})}
                     for item in items]
        try:
            job = await asyncio.to_thread(runtime.writer.submit, namespace, items, documents)
        except QueueFull as exc:
            metrics.record_shed("/v1/documents")
            raise overloaded(str(exc), settings.retry_after_s) from None
        return m.JobAccepted(job_id=job.job_id, documents=documents)

    async def _files(request: Request, namespace: str) -> list[Any]:
        form = await request.form(max_files=settings.max_files, max_fields=10)
        try:
            uploads = [f for f in form.getlist("files") if not isinstance(f, str)]
            if not uploads:
                raise ApiError(400, "bad_request", "no files: send them in the multipart field 'files'")
            items, names = [], set()
            for index, upload_file in enumerate(uploads):
                name = clean_name(upload_file.filename, f"upload-{index + 1}")
                if name in names:
                    raise ApiError(400, "bad_request", f"two files are named {name!r}")
                names.add(name)
                items.append(upload_item(namespace, name, await upload_file.read()))
            return items
        finally:
            await form.close()

    def _records(body: bytes, namespace: str) -> list[Any]:
        try:
            records = m.RecordsRequest.model_validate_json(body).records
        except ValidationError as exc:
            raise ApiError(400, "bad_request", "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])) from None
        if len(records) > settings.max_records:
            raise ApiError(413, "payload_too_large", f"at most {settings.max_records} records per request")
        if len({r.id for r in records}) != len(records):
            raise ApiError(400, "bad_request", "record ids repeat within the request")
        return [upload_item(namespace, clean_name(r.id, "record"), r.text.encode("utf-8", "surrogatepass"),
                            metadata={**(r.metadata or {}), **({"title": r.title} if r.title else {})})
                for r in records]

    @app.get("/v1/jobs/{job_id}", response_model=m.JobStatus, tags=["documents"])
    async def job_status(job_id: str, request: Request, namespace: str = Depends(tenant)) -> dict[str, Any]:
        runtime = _runtime(request)
        job = runtime.writer.get(job_id, namespace)
        if job is not None:
            return job.to_dict()
        stored = await _call(runtime, lambda: runtime.stored_job(job_id, namespace))
        if stored is None:
            raise ApiError(404, "not_found", f"no job {job_id!r}")
        return stored

    @app.get("/v1/documents/{doc_id}", response_model=m.DocumentResponse, tags=["documents"])
    async def get_document(doc_id: str, request: Request, namespace: str = Depends(tenant)) -> m.DocumentResponse:
        runtime = _runtime(request)

        def work() -> m.DocumentResponse | None:
            engine = runtime.engine(namespace)
            record = _own_document(engine, namespace, doc_id)
            if record is None:
                return None
            chunks = sorted(engine.store.get(list(record.chunk_ids)), key=lambda c: c.index)
            metadata = dict(chunks[0].metadata) if chunks else {}
            return m.DocumentResponse(
                doc_id=doc_id, source=record.uri, title=metadata.get("title") or metadata.get("name"),
                version=record.version, duplicate_of=record.duplicate_of, metadata=metadata,
                chunks=[m.DocumentChunk(chunk_id=c.chunk_id, index=c.index, text=c.text, span=(c.start, c.end))
                        for c in chunks])

        found = await _call(runtime, work)
        if found is None:
            raise ApiError(404, "not_found", f"no document {doc_id!r}")
        return found

    @app.delete("/v1/documents/{doc_id}", response_model=m.Deleted, tags=["documents"])
    async def delete_document(doc_id: str, request: Request, namespace: str = Depends(tenant)) -> m.Deleted:
        runtime = _runtime(request)

        def work() -> int | None:
            engine = runtime.write_engine(namespace)
            record = _own_document(engine, namespace, doc_id)
            if record is None:
                return None
            # A file that made only this document is forgotten too, so uploading it again restores it.
            whole_file = engine.ledger.count_documents_of_file(record.file_uri) <= 1
            return engine.delete(doc_ids=[doc_id], uris=[record.file_uri] if whole_file else ())

        future = runtime.writer.call(work)
        try:
            removed = await asyncio.wait_for(asyncio.wrap_future(future), settings.deadline_s)
        except TimeoutError:
            raise ApiError(504, "deadline_exceeded", "the delete is queued behind a running ingest job and "
                           "will still happen; check with GET /v1/documents/{id}") from None
        if removed is None:
            raise ApiError(404, "not_found", f"no document {doc_id!r}")
        return m.Deleted(doc_id=doc_id, chunks_deleted=removed)

    @app.get("/v1/stats", tags=["documents"])
    async def stats(request: Request, namespace: str = Depends(tenant)) -> dict[str, Any]:
        runtime = _runtime(request)

        def work() -> dict[str, Any]:
            engine = runtime.engine(namespace)
            # Only this namespace's figures (not the store-wide embedding cache or disk use).
            return {"namespace": namespace, **engine.ledger.counts(), "chunks": engine.store.count(),
                    "embedder": engine.embedder.model_id, "dim": engine.embedder.dim,
                    "jobs": runtime.writer.counts(namespace)}

        return await _call(runtime, work)

    # ----- admin ------------------------------------------------------------------------------
    @app.post("/v1/admin/keys", status_code=201, response_model=m.NewKey, tags=["admin"],
              dependencies=[Depends(admin)])
    async def create_key(body: m.NewKeyRequest, request: Request) -> m.NewKey:
        key, record = await asyncio.to_thread(_runtime(request).keys.create, body.namespace, body.label)
        return m.NewKey(key=key, **record)

    @app.get("/v1/admin/keys", response_model=list[m.KeyInfo], tags=["admin"], dependencies=[Depends(admin)])
    async def list_keys(request: Request, namespace: str | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(_runtime(request).keys.records, namespace)

    @app.delete("/v1/admin/keys/{key_id}", status_code=204, tags=["admin"], dependencies=[Depends(admin)])
    async def delete_key(key_id: str, request: Request) -> Response:
        if not await asyncio.to_thread(_runtime(request).keys.delete, key_id):
            raise ApiError(404, "not_found", f"no key {key_id!r}")
        return Response(status_code=204)

    @app.get("/v1/admin/namespaces", tags=["admin"], dependencies=[Depends(admin)])
    async def namespaces(request: Request) -> dict[str, list[str]]:
        runtime = _runtime(request)
        names = set(await asyncio.to_thread(runtime.keys.namespaces)) | set(runtime.namespaces())
        return {"namespaces": sorted(names - {KEYS_NAMESPACE})}

    # ----- operations (never shed) ------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return JSONResponse({"ready": False, "checks": {"runtime": "starting"}}, status_code=503)
        checks: dict[str, str] = {"model": runtime.embedder.model_id}

        try:
            await asyncio.wait_for(asyncio.to_thread(runtime.probe), 5.0)
            checks["store"] = checks["state"] = "ok"
        except Exception as exc:  # noqa: BLE001  (any failure means "not ready", with its reason)
            checks["store"] = f"{type(exc).__name__}: {exc}"
            return JSONResponse({"ready": False, "checks": checks}, status_code=503)
        return JSONResponse({"ready": True, "checks": checks})

    @app.get("/metrics", tags=["operations"])
    async def prometheus() -> Response:
        payload, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(payload, media_type=content_type)

    @app.get("/", include_in_schema=False, response_model=None)
    async def index() -> Response:
        page = STATIC / "index.html"
        if page.is_file():
            return FileResponse(page)
        return JSONResponse({"name": "ragline", "docs": "/docs"})


__all__ = ["app_from_env", "create_app"]
