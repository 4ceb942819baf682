"""Fault injection for crash-safety tests: ``RAGLINE_CRASH_AT=write:3`` SIGKILLs the process the
third time the ``write`` crash point is reached. Inert (one dict lookup) when the variable is unset."""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crashpoint(name: str) -> None:
    spec = os.environ.get("RAGLINE_CRASH_AT")
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
