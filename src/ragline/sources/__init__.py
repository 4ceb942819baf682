"""Sources list the things to ingest (``Source``: ``list()`` with fingerprints, ``read(item)``).
A listing is *complete* when every item under the root was seen, which is what allows documents
gone from the source to be deleted from the store.

    listing = FolderSource(Path("docs"), include=["*.md"]).list()
    for item in listing.items: ...
"""

from ragline.sources.base import ExpandsRecords, Listing, RecordContainer, Source
from ragline.sources.folder import FolderSource
from ragline.sources.items import ItemsSource
from ragline.sources.jsonl import JsonlSource, iter_jsonl_records

__all__ = ["ExpandsRecords", "FolderSource", "ItemsSource", "JsonlSource", "Listing", "RecordContainer",
           "Source", "iter_jsonl_records"]
