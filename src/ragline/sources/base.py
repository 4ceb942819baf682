"""The source seam: what any source of documents gives the ingest stages.

    listing = source.list()                    # items with fingerprints, plus skipped and errors
    data = source.read(listing.items[0])       # bytes, or a binary stream to read

A source lists *items*. Each carries a cheap fingerprint (``stat_key``, e.g. size:mtime:inode)
and/or a content ``version`` (a hash, for sources that know the content up front, such as one
JSONL record); the planner compares them with the ledger to skip what did not change without
reading it. ``read(item)`` returns the item's content: what ``list`` described.

Some items are *containers of records* (a JSONL file): a source that can tell says so by
implementing ``ExpandsRecords``, and the ingest runner then streams the container's records
(a ``RecordContainer``) instead of parsing the file as one document. ``FolderSource`` and
``ItemsSource`` hand ``*.jsonl`` items to ``JsonlSource`` this way (and a listing made by a
``RecordContainer`` itself is ingested as that one container), so ``ragline ingest folder/``
ingests JSONL files inside folders record by record, and a new container format is one
``records_in`` rule, not a test inside the runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, runtime_checkable

from ragline.records import FailedItem, SourceItem

__all__ = ["ExpandsRecords", "Listing", "RecordContainer", "Source"]


@dataclass
class Listing:
    root_uri: str
    items: list[SourceItem] = field(default_factory=list)
    errors: list[FailedItem] = field(default_factory=list)
    # Entries seen but not ingestible (with the reason); they do not make the listing incomplete.
    skipped: list[FailedItem] = field(default_factory=list)
    # The source that made this listing: the runner asks it which items hold records.
    source: Any = field(default=None, repr=False, compare=False)
    # True for sources that list only what they were given (uploads, queue messages): what is
    # absent from the listing is not gone, so nothing is deleted for it.
    partial: bool = False
    # True for a sequence (uploads, queue messages, an application's records): its items are
    # ingested in the order given, not re-sorted by uri, so the same sequence split into several
    # runs is decided (near-duplicates above all) exactly as in one run.
    ordered: bool = False

    @property
    def complete(self) -> bool:
        """True when the listing is whole and nothing failed to list, so absent items really are gone."""
        return not self.errors and not self.partial


@runtime_checkable
class Source(Protocol):
    def list(self) -> Listing:
        """Every item, in uri order (or in the order given, for an ``ordered`` listing); entries
        that cannot be ingested in ``skipped``, failures to list in ``errors`` (which make the
        listing incomplete: nothing is deleted)."""
        ...

    def read(self, item: SourceItem) -> bytes | BinaryIO:
        """The content of an item this source listed (``OSError`` when it is gone)."""
        ...


@runtime_checkable
class RecordContainer(Protocol):
    """One item that holds many documents (a JSONL file), read as a stream of records."""

    item: SourceItem

    def version(self) -> str:
        """The container's content hash, read as a stream (``OSError`` when unreadable)."""
        ...

    def holds_records(self) -> bool:
        """After ``version``: whether the bytes really are records (else parse it as a file)."""
        ...

    def records(self) -> Iterator[Any]:
        """The records in order, bad ones with their ``error`` set; streamed, never all held."""
        ...

    def record_version(self, record: Any) -> str:
        """The content version of one record: it changes iff the record's content changes."""
        ...


@runtime_checkable
class ExpandsRecords(Protocol):
    def records_in(self, item: SourceItem, *, max_record_bytes: int | None = None) -> RecordContainer | None:
        """The record container ``item`` is, or None for an ordinary one-document item."""
        ...
