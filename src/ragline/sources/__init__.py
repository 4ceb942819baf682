"""Sources list the things to ingest. A listing is *complete* when every file under the root
was seen, which is what allows documents gone from the source to be deleted from the store.

    listing = FolderSource(Path("docs"), include=["*.md"]).list()
    for item in listing.items: ...
"""

from ragline.sources.folder import FolderSource, Listing
from ragline.sources.jsonl import iter_jsonl_records

__all__ = ["FolderSource", "Listing", "iter_jsonl_records"]
