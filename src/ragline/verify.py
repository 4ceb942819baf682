"""``ragline verify``: each store checks itself against the ledger (``VerifiableStore``); this
module only composes the check with the state's transaction.

    report = verify(store, ledger, repair=False, state=state)   # {"drift": 0, "problems": [], ...}

The local store checks SQLite, its ANN and BM25 files (``ragline.store.local._verify``); the
Milvus store checks its collection (``ragline.store._milvus_verify``).
"""

from __future__ import annotations

from typing import Any

from ragline.errors import ConfigError
from ragline.state.base import LedgerState, State
from ragline.store.base import VerifiableStore


def verify(store: Any, ledger: LedgerState, *, repair: bool = False, state: State | None = None) -> dict[str, Any]:
    """The store's own check (and repair). With a state that is not the store's own file, the
    repair's ledger writes commit together, after the store's."""
    if not isinstance(store, VerifiableStore):
        raise ConfigError(f"the store {getattr(store, 'uri', type(store).__name__)!r} cannot check itself "
                          "(it does not implement ragline.store.base.VerifiableStore)")
    if not repair or state is None or state.fused:
        return store.verify(ledger, repair=repair)
    with state.transaction():
        return store.verify(ledger, repair=True)
