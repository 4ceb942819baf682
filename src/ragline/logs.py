"""Structured logs: one JSON object per line, with the request id of the work being done.

    configure_logging(json_format=True)                      # `ragline --log-json ...`
    with request_context("req-42"):
        logging.getLogger("ragline.serve").info("search", extra={"mode": "hybrid", "took_ms": 3.1})
    # {"time": "2026-11-30T16:00:00.123Z", "level": "INFO", "logger": "ragline.serve",
    #  "message": "search", "request_id": "req-42", "mode": "hybrid", "took_ms": 3.1}

The request id lives in a ``ContextVar``, so each thread and each asyncio task sees its own (a
server sets it per request; the queue worker per batch). Fields passed with ``extra=`` become
top-level keys; values JSON cannot hold are written as their ``str()``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

request_id: ContextVar[str | None] = ContextVar("ragline_request_id", default=None)

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def request_context(value: str | None = None) -> Iterator[str]:
    """Run the block with ``value`` (or a fresh id) as the current request id."""
    rid = value or new_request_id()
    token = request_id.set(rid)
    try:
        yield rid
    finally:
        request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: time (UTC, ms), level, logger, message, request_id
    (when one is set), every ``extra=`` field, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


_HANDLER_NAME = "ragline"


def configure_logging(*, json_format: bool = False, level: str | int = "INFO",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send ragline's logs (and the libraries' warnings) to ``stream`` (stderr), as JSON lines or
    plain text. Idempotent: a second call replaces the handler the first one installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json_format else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def json_logging_enabled() -> bool:
    return any(h.get_name() == _HANDLER_NAME and isinstance(h.formatter, JsonFormatter)
               for h in logging.getLogger().handlers)


__all__ = ["JsonFormatter", "configure_logging", "json_logging_enabled", "new_request_id", "request_context",
           "request_id"]
