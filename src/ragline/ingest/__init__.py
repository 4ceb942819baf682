"""The ingest stages as reusable units, and the local runner that composes them.

    plan.py      listing vs ledger -> read / unchanged / vanished decisions
    dedup.py     exact and near (MinHash LSH) duplicates, across the run and the state
    embed.py     embed-with-cache: lookups, misses embedded once, cache writes
    commit.py    upsert -> ledger -> remove replaced chunks, in one commit scope
    local.py     the local streaming runner (bounded queues, parse pool, embedder thread)

The parse stage (parse -> clean -> chunk -> signature) is ``ragline.parse_stage``. Another
runner (queue workers, Ray) calls the same units; only where they run differs.
"""

from ragline.ingest.local import IngestRun, Progress
from ragline.ingest.settings import IngestSettings

__all__ = ["IngestRun", "IngestSettings", "Progress"]
