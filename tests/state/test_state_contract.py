"""The shipped state contract on every built-in backend: SQLite inside the local store's file,
a separate SQLite file (``sqlite:PATH``), and a real PostgreSQL (``postgresql://``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.errors import ConfigError
from ragline.state import open_state
from ragline.store.local import LocalStore
from ragline.testing.state import StateContract


class TestSQLiteInStore(StateContract):
    @pytest.fixture()
    def open_state(self, tmp_path: Path):
        stores: list[LocalStore] = []

        def make():
            stores.append(LocalStore(tmp_path / "store"))
            return open_state(None, stores[-1])

        yield make
        for store in stores:
            store.close()


class TestSQLiteFile(StateContract):
    @pytest.fixture()
    def open_state(self, tmp_path: Path):
        return lambda: open_state(f"sqlite:{tmp_path / 'state.db'}", None)


class TestPostgres(StateContract):
    @pytest.fixture()
    def open_state(self, postgres_uri: str):
        return lambda: open_state(postgres_uri, None)


def test_unknown_scheme_and_stateless_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown state scheme"):
        open_state("redis://x", None)
    with pytest.raises(ConfigError, match="--state sqlite:PATH"):
        open_state(None, object())


def test_postgres_schema_opens_concurrently(postgres_uri: str) -> None:
    """Processes opening a new database at once take turns on the schema (advisory lock)."""
    from concurrent.futures import ThreadPoolExecutor

    def open_close(_: int) -> int:
        state = open_state(postgres_uri, None)
        try:
            return state.ledger("ns").counts()["documents"]
        finally:
            state.close()

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_close, range(6))) == [0] * 6
