"""A real OpenAI-compatible embeddings server for tests, with faults injected over HTTP.

    with EmbeddingServer(HashingEmbedder(64)) as server:      # uvicorn on 127.0.0.1:<free port>
        server.control({"rate_limit": {"count": 2, "retry_after": "1"}})
        open_embedder("openai:test-embed", base_url=server.base_url).embed(["a", "b"])
        log = server.requests_log()

``POST /v1/embeddings`` embeds with the local embedder it was given, answers in a shuffled order
(clients must sort by ``index``) and scales each vector by 3 (clients must normalise).
``POST /_control`` sets faults (``reject_key`` answers 401 echoing the key it was sent); each
counted fault applies to the next N requests, checked in this order: ``rate_limit`` (429 with
the given headers), ``fail`` (a 5xx), ``max_inputs`` / ``max_input_chars`` (413, standing),
``slow`` (sleep before answering), ``success_headers`` (headers on the next N 200s).
``GET /_log`` lists every request: time, inputs, status, in flight.

Run it alone: ``python -m tests.embed.remote_server --port 8181 --embedder hashing:64``.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.threaded_server import Faults, ThreadedServer, add_fault_routes


class ServerState(Faults):
    def __init__(self, embedder: Any, model: str):
        super().__init__()
        self.embedder, self.model = embedder, model
        self.in_flight = 0
        self.rng = random.Random(7)


def create_app(embedder: Any, model: str = "test-embed") -> FastAPI:
    state = ServerState(embedder, model)
    app = FastAPI()
    app.state.embeddings = state

    add_fault_routes(app, state)

    @app.post("/v1/embeddings")
    def embeddings(body: dict[str, Any], request: Request) -> JSONResponse:
        with state.lock:
            state.in_flight += 1
            entry = {"t": time.time(), "inputs": list(body.get("input", [])),
                     "in_flight": state.in_flight, "status": None,
                     "authorization": request.headers.get("authorization")}
            state.log.append(entry)
        try:
            response = _answer(state, body, request.headers.get("authorization"))
            entry["status"] = response.status_code
            return response
        finally:
            with state.lock:
                state.in_flight -= 1

    return app


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "test_fault"}}, status_code=status,
                        headers=headers)


def _answer(state: ServerState, body: dict[str, Any], authorization: str | None = None) -> JSONResponse:
    inputs = body.get("input")
    if fault := state.take("reject_key"):
        # As real servers do: the rejected key, and the request's header, echoed in the body.
        key = (authorization or "").removeprefix("Bearer ")
        return _error(int(fault.get("status", 401)), f"Incorrect API key provided: {key}. "
                      f"(request had Authorization: {authorization}; see https://x/api-keys)")
    if isinstance(inputs, str):
        inputs = [inputs]
    if body.get("model") != state.model:
        return _error(404, f"model {body.get('model')!r} is not served here")
    if not isinstance(inputs, list) or not inputs:
        return _error(400, "input must be a non-empty list of strings")
    if fault := state.take("rate_limit"):
        headers = dict(fault.get("headers", {}))
        if fault.get("retry_after") is not None:
            headers["retry-after"] = str(fault["retry_after"])
        return _error(429, "rate limit reached (injected)", headers)
    if fault := state.take("fail"):
        return _error(int(fault.get("status", 500)), "internal error (injected)")
    max_inputs = state.faults.get("max_inputs")
    if max_inputs is not None and len(inputs) > max_inputs:
        return _error(413, f"{len(inputs)} inputs; at most {max_inputs} per request")
    max_chars = state.faults.get("max_input_chars")
    if max_chars is not None and any(len(text) > max_chars for text in inputs):
        return _error(413, f"an input is longer than {max_chars} characters")
    if fault := state.take("slow"):
        time.sleep(float(fault["seconds"]))
    vectors = state.embedder.embed(inputs) * 3.0
    order = list(range(len(inputs)))
    state.rng.shuffle(order)
    data = [{"object": "embedding", "index": i, "embedding": vectors[i].tolist()} for i in order]
    tokens = sum(state.embedder.count(inputs))
    headers = dict(fault.get("headers", {})) if (fault := state.take("success_headers")) else {}
    return JSONResponse({"object": "list", "model": state.model, "data": data,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                        headers=headers)


class EmbeddingServer(ThreadedServer):
    """uvicorn serving ``create_app`` in a background thread on 127.0.0.1, on a free port."""

    def __init__(self, embedder: Any, model: str = "test-embed"):
        super().__init__(create_app(embedder, model), "embedding server", log_level="warning")
        self.state: ServerState = self.app.state.embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--embedder", default="hashing:64")
    parser.add_argument("--model", default="test-embed")
    args = parser.parse_args()
    from ragline.embed import open_embedder

    uvicorn.run(create_app(open_embedder(args.embedder), args.model), host="127.0.0.1",
                port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
