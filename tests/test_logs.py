"""JSON logs: one object per line with time, level, logger, message, the request id of the
context that logged, and every extra field; ids never leak between threads or asyncio tasks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from datetime import datetime
from pathlib import Path

import pytest

from ragline.logs import configure_logging, json_logging_enabled, request_context, request_id


@pytest.fixture()
def captured():
    stream = io.StringIO()
    handler = configure_logging(json_format=True, level="DEBUG", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_its_fields(captured):
    with request_context("req-1"):
        logging.getLogger("ragline.test").info("searched %s", "docs", extra={"mode": "hybrid", "took_ms": 3.5,
                                                                            "path": Path("/x"),
                                                                            "when": datetime(2026, 1, 2)})
    logging.getLogger("ragline.test").warning("no request")
    first, second = _lines(captured)
    assert first["message"] == "searched docs" and first["level"] == "INFO" and first["logger"] == "ragline.test"
    assert first["request_id"] == "req-1"
    assert first["mode"] == "hybrid" and first["took_ms"] == 3.5
    assert first["path"] == "/x" and first["when"] == "2026-01-02 00:00:00"  # str() of what JSON cannot hold
    assert datetime.strptime(first["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert "request_id" not in second and second["level"] == "WARNING"
    assert json_logging_enabled()


def test_exceptions_are_kept_in_the_line(captured):
    try:
        raise ValueError("bad thing\nsecond line")
    except ValueError:
        logging.getLogger("ragline.test").exception("failed")
    [line] = _lines(captured)  # a multi-line traceback is still one line of JSON
    assert line["message"] == "failed" and "ValueError: bad thing" in line["exception"]


def test_request_ids_do_not_leak_between_threads_or_tasks(captured):
    log = logging.getLogger("ragline.test")
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        with request_context(f"thread-{n}"):
            barrier.wait()  # all four ids are set at once
            log.info("thread", extra={"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def task(n: int) -> None:
        with request_context(f"task-{n}"):
            await asyncio.sleep(0.01 * (3 - n))  # interleave
            log.info("task", extra={"n": n})

    async def main() -> None:
        await asyncio.gather(*(task(n) for n in range(4)))

    asyncio.run(main())
    lines = [line for line in _lines(captured) if line["logger"] == "ragline.test"]
    assert {(line["message"], line["n"], line["request_id"]) for line in lines} == \
        {(kind, n, f"{kind}-{n}") for kind in ("thread", "task") for n in range(4)}
    assert request_id.get() is None


def test_configure_is_idempotent_and_plain_text_is_available():
    stream = io.StringIO()
    configure_logging(json_format=True, stream=io.StringIO())
    handler = configure_logging(json_format=False, level="INFO", stream=stream)
    try:
        ours = [h for h in logging.getLogger().handlers if h.get_name() == "ragline"]
        assert ours == [handler]
        assert not json_logging_enabled()
        logging.getLogger("ragline.test").info("plain")
        assert stream.getvalue().rstrip().endswith("INFO ragline.test: plain")
    finally:
        logging.getLogger().removeHandler(handler)
