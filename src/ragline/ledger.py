"""The ledger: what ragline knows about every file and document of a namespace.

    ledger = state.ledger("default")              # ragline.state: any state backend
    ledger.file("file:///corpus/a.md")            # -> FileRecord | None

A document is recorded as stored only in the transaction that stored its chunks (local store),
or after the store acknowledged them (other stores): the ledger is never ahead of the store.
The protocol is ``ragline.state.base.LedgerState``; ``Ledger(db, namespace)`` is the SQLite one.
"""

from ragline.state.base import DocRecord, FileRecord, LedgerState
from ragline.state.sqlite import SQLiteLedger as Ledger

__all__ = ["DocRecord", "FileRecord", "Ledger", "LedgerState"]
