"""Planning: the source's listings against the ledger, as decisions the runner carries out.

    plan = merge_listings(listings)              # items (uri order, sequences as given), skipped entries
    decide(item, ledger.file(item.uri))          # UNCHANGED (skip, unread) or READ
    gone = vanished(listing, ledger.files_under(listing.root_uri), uri_exists)

The decisions are pure functions of the listing and the ledger's rows, so they are tested
without a store; ``report_unchanged`` is the one place an unchanged item is reported.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ragline.records import FailedItem, IngestReport, Outcome, SourceItem
from ragline.sources._files import load_problems
from ragline.sources.base import Listing
from ragline.state.base import FileRecord, LedgerState

__all__ = ["Decision", "Plan", "decide", "merge_listings", "report_unchanged", "same_content",
           "skip_is_known", "vanished"]


class Decision(enum.Enum):
    UNCHANGED = "unchanged"  # same fingerprint as the ledger's row: not read again
    READ = "read"            # new, changed, or a failed read worth retrying


@dataclass
class Plan:
    items: list[SourceItem] = field(default_factory=list)
    skipped: list[FailedItem] = field(default_factory=list)
    errors: list[FailedItem] = field(default_factory=list)


def merge_listings(listings: Iterable[Listing]) -> Plan:
    """Items and skipped entries of all listings, first listing wins per uri, in uri order: the
    result never depends on the order the input was given in. The items of ``ordered`` listings
    (a sequence: uploads, queue messages) come after those, in the order given, because there the
    order is the input's meaning: near-duplicate decisions follow it, so the same sequence split
    into several runs ends as one run would."""
    items: dict[str, SourceItem] = {}
    skipped: dict[str, FailedItem] = {}
    sequence: dict[str, None] = {}  # uris of ordered listings, in their order
    plan = Plan()
    for listing in listings:
        plan.errors.extend(listing.errors)
        for entry in listing.skipped:
            skipped.setdefault(entry.uri, entry)
        for item in listing.items:
            if item.uri not in items and listing.ordered:
                sequence[item.uri] = None
            items.setdefault(item.uri, item)
    plan.items = [items[uri] for uri in sorted(items) if uri not in sequence] + [items[uri] for uri in sequence]
    plan.skipped = [skipped[uri] for uri in sorted(skipped)]
    return plan


def decide(item: SourceItem, known: FileRecord | None, *, retry_failed_reads: bool = True) -> Decision:
    """Skip an item whose cheap fingerprint matches the ledger, unless its last read failed."""
    if known is None or not item.stat_key or known.stat_key != item.stat_key:
        return Decision.READ
    if known.state == "failed" and known.stage == "read" and retry_failed_reads:
        return Decision.READ
    return Decision.UNCHANGED


def same_content(known: FileRecord | None, version: str) -> bool:
    """Read, and the bytes are what the ledger has (touched, not changed): nothing to ingest."""
    return known is not None and known.version == version and known.state in ("stored", "skipped")


def skip_is_known(known: FileRecord | None, entry: FailedItem) -> bool:
    """An unlistable entry already recorded with the same reason: report it, write nothing."""
    return known is not None and known.state == "skipped" and known.error == entry.reason


def vanished(listing: Listing, known_files: Iterable[FileRecord], exists: Callable[[str], bool]) -> list[str]:
    """Uris the ledger has under the listing's root that are gone from the source. None when the
    listing is incomplete: an unlistable directory must not be mistaken for deleted files."""
    if not listing.complete:
        return []
    listed = {item.uri for item in listing.items} | {entry.uri for entry in listing.skipped}
    return [record.uri for record in known_files if record.uri not in listed and not exists(record.uri)]


def report_unchanged(report: IngestReport, ledger: LedgerState, item: SourceItem, known: FileRecord) -> int:
    """Report an item that did not change as its last run left it; the documents it holds."""
    if known.state == "failed":
        report.fail(item.uri, known.stage or "parse", f"{known.error} (unchanged since last run)")
        return 0
    if known.state == "skipped":
        report.count(Outcome.SKIPPED)
        report.skipped.append(FailedItem(item.uri, known.stage or "detect", known.error or ""))
        return 0
    # (a JSONL file whose every line is bad holds no document: 0, its lines are failures)
    n = ledger.count_documents_of_file(item.uri)
    report.count(Outcome.UNCHANGED, n)
    for problem in load_problems(known.error):  # a container's bad records, every run
        report.fail(problem.uri, problem.stage, problem.reason)
    return n
