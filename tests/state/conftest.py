"""A real PostgreSQL for the state tests: started once per session by pgserver (PostgreSQL 18 on
a Unix socket, from PyPI), each test in a schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import pgserver  # the postgres extra; `make test` installs it: a missing server is a failure

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture()
def postgres_uri(postgres_server: str) -> str:
    """A URI whose search_path is a fresh, empty schema."""
    return fresh_schema(postgres_server)


def fresh_schema(postgres_server: str) -> str:
    """A URI of the server whose search_path is a new, empty schema (another state)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_server else "?"
    return f"{postgres_server}{sep}options={quote(f'-csearch_path={schema}')}"
