"""The ASGI middleware in front of every route: load shedding and request metrics.

Past the admission limit of requests being worked on (``_admission``: fixed at ``max_in_flight``,
or adapting to keep latency near the unloaded latency), a ``/v1`` request is answered 429 with
``Retry-After`` at once, before any work (a queue would only turn overload into latency for
everyone); health, readiness, metrics, docs and the web page are never shed. A route that wants
its latency to teach the adaptive limit sets ``scope["ragline.latency_sample"] = True`` (search
does, when its answer was not cached: a cache hit says nothing about capacity). Every request is
counted by route template, method and status, and timed by route.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragline import metrics
from ragline.serve._admission import AdaptiveLimit, StaticLimit

SAMPLE = "ragline.latency_sample"


class Guard:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: int,
                 limiter: AdaptiveLimit | StaticLimit | None = None):
        self.app = app
        self.limiter = limiter if limiter is not None else StaticLimit(max_in_flight)
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        metrics.ADMISSION_LIMIT.set(self.limiter.limit)

    @property
    def max_in_flight(self) -> int:
        return self.limiter.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        sheddable = path.startswith("/v1/")
        if sheddable and self.in_flight >= self.limiter.limit:
            route = _route_of(scope)
            metrics.record_shed(route)
            await _overloaded(send, self.retry_after_s)
            metrics.record_request(route, scope["method"], 429, time.perf_counter() - started)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if sheddable:
            self.in_flight += 1
            metrics.IN_FLIGHT.inc()
            admitted_with = self.in_flight
        try:
            await self.app(scope, receive, send_status)
        finally:
            if sheddable:
                self.in_flight -= 1
                metrics.IN_FLIGHT.dec()
                if scope.get(SAMPLE) and status == 200:
                    self.limiter.observe(time.perf_counter() - started, started=started,
                                         in_flight_peak=admitted_with)
                    metrics.ADMISSION_LIMIT.set(self.limiter.limit)
            route = scope["route"].path if "route" in scope and hasattr(scope["route"], "path") else _route_of(scope)
            metrics.record_request(route, scope["method"], status, time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    """The route template of a request not yet routed (bounded label values: never the raw path)."""
    app: Any = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


async def _overloaded(send: Send, retry_after_s: int) -> None:
    body = json.dumps({"error": {"code": "overloaded",
                                 "message": "too many requests in flight; retry after the Retry-After seconds"}}
                      ).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(retry_after_s).encode())]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["Guard"]
