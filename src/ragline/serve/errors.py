"""HTTP errors of the server: one JSON shape, ``{"error": {"code", "message"}}``, with stable codes.

    raise ApiError(404, "not_found", "no document 'abc'")

``install_error_handlers(app)`` maps ragline's exception tree (``ragline.errors``), request
validation errors and anything unexpected to that shape; the codes are part of the API.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragline.errors import ConfigError, EmbedError, ParseError, QueryError, RaglineError, SourceError, StoreError

log = logging.getLogger("ragline.serve")

# ragline's error tree -> (HTTP status, stable code). Most specific first.
ERROR_CODES: tuple[tuple[type[RaglineError], int, str], ...] = (
    (QueryError, 400, "bad_request"),
    (ConfigError, 400, "bad_request"),
    (ParseError, 422, "unprocessable"),
    (SourceError, 400, "bad_request"),
    (EmbedError, 503, "embedder_unavailable"),
    (StoreError, 503, "store_unavailable"),
)
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "overloaded", 504: "deadline_exceeded"}


class ApiError(Exception):
    """An error answered as it is: status, stable code, message and extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def overloaded(message: str, retry_after_s: int) -> ApiError:
    return ApiError(429, "overloaded", message, {"Retry-After": str(retry_after_s)})


def status_of(exc: RaglineError) -> tuple[int, str]:
    for kind, status, code in ERROR_CODES:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    async def ragline_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RaglineError)
        status, code = status_of(exc)
        if status >= 500:
            log.warning("request failed: %s: %s", type(exc).__name__, exc)
        return error_response(status, code, str(exc))

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors()[:5])
        return error_response(400, "bad_request", problems or "invalid request")

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "bad_request"),
                              str(exc.detail), dict(exc.headers or {}))

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal", "internal error (see the server log)")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RaglineError, ragline_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["ERROR_CODES", "ApiError", "error_response", "install_error_handlers", "overloaded", "status_of"]
