"""Items that arrive from elsewhere (uploads, queue messages, an application's own records) as a
source: what ``Engine.ingest_items`` ingests.

    source = ItemsSource([SourceItem(uri="upload://a.md", data=b"# A")])
    listing = source.list()        # the items in the order given, one per uri (the first wins),
                                   # sizes filled in

Its listing is never complete: documents absent from it are not deleted (``Engine.delete`` is
how they go). ``*.jsonl`` items are record containers, as in a folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import BinaryIO

from ragline.records import SourceItem
from ragline.sources.base import Listing
from ragline.sources.jsonl import JsonlSource, jsonl_records_in

__all__ = ["ItemsSource"]


class ItemsSource:
    def __init__(self, items: Iterable[SourceItem], *, root_uri: str = "items:"):
        self.root_uri = root_uri
        self._items: list[SourceItem] = []
        for item in items:
            if item.data is not None and not item.size:
                item = replace(item, size=len(item.data))
            self._items.append(item)

    def list(self) -> Listing:
        by_uri: dict[str, SourceItem] = {}
        for item in self._items:
            by_uri.setdefault(item.uri, item)
        # In the order given (``ordered``): a sequence split into several calls (a queue worker's
        # batches, a re-run after a crash) is then ingested as the one sequence would be.
        return Listing(root_uri=self.root_uri, items=list(by_uri.values()), source=self,
                       partial=True, ordered=True)

    def read(self, item: SourceItem) -> bytes | BinaryIO:
        return item.data if item.data is not None else item.open()

    def records_in(self, item: SourceItem, *, max_record_bytes: int | None = None) -> JsonlSource | None:
        return jsonl_records_in(item, max_record_bytes=max_record_bytes)
