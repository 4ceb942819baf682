"""What is particular to Milvus Lite's file (beside ``store/milvus.py``): one process at a time.

Milvus Lite keeps a store in a folder that one process holds locked (``flock`` on its ``LOCK``
file) while it has it open; a second process that opens it fails inside pymilvus with a bare
"Open local milvus failed" (the cause is only logged). These say so plainly, and let a server
with several worker processes refuse before it starts them.
"""

from __future__ import annotations

import os
from pathlib import Path

ONE_PROCESS = ("Milvus Lite is a file that one process at a time opens: serve it with --workers 1, "
               "or use a Milvus server (milvus://HOST:PORT) for several processes")


def held_elsewhere(lite_path: Path) -> bool:
    """Whether another process holds the Lite folder's lock now (asked after an open failed)."""
    try:
        import fcntl

        from milvus_lite.db import LOCK_FILENAME
    except ImportError:  # not Unix, or a milvus-lite without it: say nothing rather than guess
        return False
    lock = lite_path / LOCK_FILENAME
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def open_failure(uri: str, exc: BaseException, lite_path: Path | None) -> str:
    """The StoreError message for a store that would not open: a Lite folder locked by another
    process is named as such; anything else keeps pymilvus's words."""
    if lite_path is not None and held_elsewhere(lite_path):
        return f"cannot open Milvus store {uri}: another process has {lite_path} open (stop it first; {ONE_PROCESS})"
    return f"cannot open Milvus store {uri}: {exc}"


__all__ = ["ONE_PROCESS", "held_elsewhere", "open_failure"]
