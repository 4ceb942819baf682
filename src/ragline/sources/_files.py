"""File-level helpers of the ingest run, kept apart from the runner (``ragline.ingest``): whether a listed uri still
exists, the streamed file hash, and the JSONL problems a file's ledger row keeps for re-runs.

    version, head = stream_hash(item)          # memory: one block, whatever the file's size
"""

from __future__ import annotations

import json
import os

from ragline.records import FailedItem, SourceItem

# A JSONL file's bad lines are kept with its ledger row, so an unchanged re-run reports them again.
MAX_KEPT_RECORD_PROBLEMS = 1000


def uri_exists(uri: str) -> bool:
    """Whether the file a ``file:`` uri names still exists. The path is decoded to bytes, so a
    name that is not UTF-8 is found again; when the answer is unknown (no permission), it is
    "exists", so nothing is deleted on a guess."""
    from urllib.parse import unquote_to_bytes, urlparse

    try:
        os.stat(os.fsdecode(unquote_to_bytes(urlparse(uri).path)))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True
    return True


def dump_problems(problems: list[FailedItem], total: int) -> str | None:
    if not total:
        return None
    kept = [[p.uri, p.stage, p.reason] for p in problems]
    return json.dumps({"problems": kept, "total": total}, ensure_ascii=False)


def load_problems(error: str | None) -> list[FailedItem]:
    if not error or not error.startswith("{"):
        return []
    try:
        saved = json.loads(error)
        problems = [FailedItem(*p) for p in saved["problems"]]
    except (ValueError, KeyError, TypeError):
        return []
    left = saved.get("total", len(problems)) - len(problems)
    if left > 0 and problems:
        problems.append(FailedItem(problems[0].uri.split("#", 1)[0], "parse",
                                   f"and {left} more bad line(s), not listed again"))
    return problems


def stream_hash(item: SourceItem, block: int = 2**20) -> tuple[str, bytes]:
    """The file's version (the same hash as ``content_hash`` of its bytes) and its first bytes,
    read block by block: memory stays at one block whatever the file's size."""
    import xxhash

    digest = xxhash.xxh3_128()
    head = b""
    with item.open() as stream:
        while chunk := stream.read(block):
            if not head:
                head = chunk[:8]
            digest.update(chunk)
    return digest.hexdigest(), head
