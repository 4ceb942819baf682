"""Kept for existing imports: the ingest run now lives in ``ragline.ingest`` (its stages in
``ragline.ingest.plan``, ``dedup``, ``embed``, ``commit``; the local runner in ``ragline.ingest.local``).

    from ragline.pipeline import IngestRun, IngestSettings, Progress
"""

from ragline.ingest.local import IngestRun, Progress
from ragline.ingest.settings import IngestSettings

__all__ = ["IngestRun", "IngestSettings", "Progress"]
