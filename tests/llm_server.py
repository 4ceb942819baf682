"""A real OpenAI-compatible chat-completions server for tests, with faults injected over HTTP.

    with ChatServer() as server:                                # uvicorn on 127.0.0.1:<free port>
        server.control({"fail": {"count": 2}})
        open_llm("openai:test-chat", base_url=server.base_url).complete(messages)
        log = server.requests_log()

``POST /v1/chat/completions`` answers deterministically from the prompt: it finds the numbered
context blocks (lines starting ``[n]``) in the last user message and answers with the first words
of the first two, each followed by its marker (``... [2].``); with no blocks it says the context
does not hold the answer. ``stream: true`` sends one SSE chunk per word, a usage chunk when asked
(``stream_options.include_usage``), then ``data: [DONE]``.

``POST /_control`` sets faults; each counted one applies to the next N requests, checked in this
order: ``reject_key`` (401 echoing the key sent), ``rate_limit`` (429 with ``retry_after``),
``fail`` (a 5xx), ``slow`` (sleep ``seconds`` before answering), ``break_stream`` (drop the
connection after ``after`` words), ``stall`` (sleep ``seconds`` after ``after`` words).
``GET /_log`` lists every request: time, messages, status, authorization.

Run it alone: ``python -m tests.llm_server --port 8282``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from tests.threaded_server import Faults, ThreadedServer, add_fault_routes

BLOCK = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=^\[\d+\]|\Z)", re.M | re.S)


def deterministic_answer(prompt: str) -> str:
    """The answer the server gives to ``prompt`` (tests compare against it)."""
    blocks = [(n, " ".join(body.split()[:6])) for n, body in BLOCK.findall(prompt)]
    if not blocks:
        return "The context does not contain the answer."
    parts = [f"{words} [{n}]." for n, words in blocks[:2]]
    return "From the context: " + " ".join(parts)


class ChatState(Faults):
    def __init__(self, model: str):
        super().__init__()
        self.model = model


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "test_fault"}}, status_code=status,
                        headers=headers)


def create_app(model: str = "test-chat") -> FastAPI:
    state = ChatState(model)
    app = FastAPI()
    app.state.chat = state

    add_fault_routes(app, state)

    @app.post("/v1/chat/completions", response_model=None)
    def completions(body: dict[str, Any], request: Request) -> JSONResponse | StreamingResponse:
        authorization = request.headers.get("authorization")
        entry = {"t": time.time(), "messages": body.get("messages"), "status": None,
                 "authorization": authorization, "stream": bool(body.get("stream"))}
        with state.lock:
            state.log.append(entry)
        response = _answer(state, body, authorization)
        entry["status"] = response.status_code
        return response

    return app


def _answer(state: ChatState, body: dict[str, Any], authorization: str | None) -> JSONResponse | StreamingResponse:
    if fault := state.take("reject_key"):
        key = (authorization or "").removeprefix("Bearer ")
        return _error(401, f"Incorrect API key provided: {key}. (request had Authorization: {authorization})")
    if body.get("model") != state.model:
        return _error(404, f"model {body.get('model')!r} is not served here")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "messages must be a non-empty list")
    if fault := state.take("rate_limit"):
        headers = {"retry-after": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
        return _error(429, "rate limit reached (injected)", headers)
    if fault := state.take("fail"):
        return _error(int(fault.get("status", 500)), "internal error (injected)")
    # Taken now, not after a slow sleep: a request its client gave up on must not consume the
    # faults that the next test sets meanwhile.
    slow, broken, stall = state.take("slow"), state.take("break_stream"), state.take("stall")
    if slow:
        time.sleep(float(slow["seconds"]))
    prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    text = deterministic_answer(prompt)
    usage = {"prompt_tokens": len(" ".join(m.get("content", "") for m in messages).split()),
             "completion_tokens": len(text.split())}
    if not body.get("stream"):
        return JSONResponse({"id": "cmpl-test", "object": "chat.completion", "model": state.model,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}], "usage": usage})
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return StreamingResponse(_events(state.model, text, usage if include_usage else None, broken, stall),
                             media_type="text/event-stream")


def _events(model: str, text: str, usage: dict[str, int] | None, broken: dict[str, Any] | None,
            stall: dict[str, Any] | None) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": "cmpl-test", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = text.split(" ")
    for i, word in enumerate(words):
        if broken is not None and i == int(broken.get("after", 1)):
            raise ConnectionAbortedError("stream broken (injected)")
        if stall is not None and i == int(stall.get("after", 1)):
            time.sleep(float(stall["seconds"]))
        yield chunk({"content": word if i == 0 else " " + word})
    yield chunk({}, "stop")
    if usage is not None:
        yield f"data: {json.dumps({'id': 'cmpl-test', 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


class ChatServer(ThreadedServer):
    """uvicorn serving ``create_app`` in a background thread on 127.0.0.1, on a free port."""

    def __init__(self, model: str = "test-chat"):
        super().__init__(create_app(model), "chat server", log_level="critical")
        self.state: ChatState = self.app.state.chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8282)
    parser.add_argument("--model", default="test-chat")
    args = parser.parse_args()
    uvicorn.run(create_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
