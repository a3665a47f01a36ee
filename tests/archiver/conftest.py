import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support.postgres import PostgresProcess

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProcess]:
    """One private PostgreSQL for the session; tests that stop it start their own."""
    server = PostgresProcess().start()
    yield server
    server.remove()


async def new_database(server: PostgresProcess) -> str:
    name = f"archive_{next(_databases)}"
    connection = await asyncpg.connect(server.url())
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return server.url(name)


@pytest.fixture
async def database_url(postgres: PostgresProcess) -> AsyncIterator[str]:
    """A new, empty database for each test (the archiver creates its table)."""
    yield await new_database(postgres)
