"""Planning as pure decisions: listing vs ledger rows, table-tested without a store."""

from __future__ import annotations

import pytest

from ragline.ingest.plan import Decision, decide, merge_listings, same_content, skip_is_known, vanished
from ragline.records import FailedItem, SourceItem
from ragline.sources.base import Listing
from ragline.state.base import FileRecord


def row(uri="file:///a", stat_key="1:2:3", version="v1", state="stored", stage=None, error=None):
    return FileRecord(uri, stat_key, version, state, stage, error, 1)


@pytest.mark.parametrize("item_key, known, retry, expected", [
    ("1:2:3", None, True, Decision.READ),                                   # new
    ("1:2:3", row(), True, Decision.UNCHANGED),                             # same fingerprint
    ("1:2:4", row(), True, Decision.READ),                                  # touched or changed
    ("", row(stat_key=""), True, Decision.READ),                            # no cheap fingerprint: hash it
    ("1:2:3", row(state="failed", stage="read"), True, Decision.READ),      # a failed read is retried
    ("1:2:3", row(state="failed", stage="read"), False, Decision.UNCHANGED),
    ("1:2:3", row(state="failed", stage="parse"), True, Decision.UNCHANGED),  # parsing it again fails again
    ("1:2:3", row(state="skipped", stage="detect"), True, Decision.UNCHANGED),
])
def test_decide(item_key, known, retry, expected):
    assert decide(SourceItem(uri="file:///a", stat_key=item_key), known, retry_failed_reads=retry) is expected


@pytest.mark.parametrize("known, version, expected", [
    (None, "v1", False), (row(), "v1", True), (row(), "v2", False),
    (row(state="skipped"), "v1", True), (row(state="failed"), "v1", False),
])
def test_same_content_after_read(known, version, expected):
    assert same_content(known, version) is expected


def test_known_skip_needs_the_same_reason():
    entry = FailedItem("file:///p", "list", "not a regular file: a named pipe (FIFO)")
    assert skip_is_known(row(state="skipped", error=entry.reason), entry)
    assert not skip_is_known(row(state="skipped", error="dangling symbolic link"), entry)
    assert not skip_is_known(row(), entry) and not skip_is_known(None, entry)


def test_merge_is_in_uri_order_and_the_first_listing_wins():
    a1, a2 = SourceItem(uri="file:///a", stat_key="1"), SourceItem(uri="file:///a", stat_key="2")
    b = SourceItem(uri="file:///b")
    error = FailedItem("file:///x/", "list", "cannot list directory")
    plan = merge_listings([Listing("file:///", items=[b, a1], errors=[error]), Listing("file:///", items=[a2])])
    assert plan.items == [a1, b] and plan.errors == [error]
    assert merge_listings([Listing("r", items=[a2, b]), Listing("r", items=[a1])]).items == [a2, b]


def test_merge_keeps_a_sequence_in_the_order_given():
    """An ordered listing (ingest_items) is a sequence: near-dup decisions follow its order, so it
    is not re-sorted; it comes after the uri-ordered items of other listings."""
    z, m, a, f = (SourceItem(uri=u) for u in ("upload://z", "upload://m", "upload://a", "file:///f"))
    m_again = SourceItem(uri="upload://m", version="later")
    plan = merge_listings([Listing("items:", items=[z, m, a, m_again], partial=True, ordered=True),
                           Listing("file:///", items=[f])])
    assert plan.items == [f, z, m, a]
    assert merge_listings([Listing("file:///", items=[m_again]),
                           Listing("items:", items=[z, m], ordered=True)]).items == [m_again, z]


def test_vanished_only_from_complete_listings_and_never_what_still_exists():
    listing = Listing("file:///r/", items=[SourceItem(uri="file:///r/a")],
                      skipped=[FailedItem("file:///r/fifo", "list", "pipe")])
    rows = [row("file:///r/a"), row("file:///r/fifo"), row("file:///r/gone"), row("file:///r/filtered")]
    assert vanished(listing, rows, lambda uri: uri.endswith("filtered")) == ["file:///r/gone"]
    listing.errors.append(FailedItem("file:///r/locked/", "list", "permission denied"))
    assert vanished(listing, rows, lambda uri: False) == []
    assert vanished(Listing("items:", partial=True), rows, lambda uri: False) == []
