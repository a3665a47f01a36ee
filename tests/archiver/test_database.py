"""The archive's side in PostgreSQL: a refused row does not hold back its batch, a batch
stored twice is stored once, migrations run once however many archivers start, and a
schema applied by hand is what the archiver expects."""

import asyncio
from typing import Any

import asyncpg
import pytest

from archiver.database import Database
from archiver.errors import DatabaseUnavailable
from archiver.migrations import apply_migrations, migrations
from config.archive import DatabaseSettings

CREATED = 1_764_000_000_000


def row(job_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "prefix": "bull", "queue": "critical-events", "job_id": job_id, "event": "e",
        "state": "completed", "created_ms": CREATED, "finished_ms": CREATED + 5,
        "rooms": ["user:1"], "data": {"a": [1, "x"]}, **overrides,
    }


async def count(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM notification_archive"))
    finally:
        await connection.close()


async def test_a_refused_row_is_reported_and_the_rest_of_its_batch_stored(
    database_url: str,
) -> None:
    database = Database(DatabaseSettings(database_url))
    try:
        # Beyond timestamptz's range: PostgreSQL refuses it (SQLSTATE 22008).
        stored = await database.store([row("1"), row("2", created_ms=10**17), row("3")])
        assert [r["job_id"] for r in stored.rows] == ["1", "3"]
        assert [(r["job_id"], "out of range" in reason) for r, reason in stored.refused] == [
            ("2", True)
        ]
        again = await database.store([row("1"), row("3")])
        assert len(again.rows) == 2 and not again.refused
    finally:
        await database.close()
    assert await count(database_url) == 2  # stored twice, there once


async def test_migrations_run_once_when_archivers_start_together(database_url: str) -> None:
    connections = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(apply_migrations(c) for c in connections))
        assert sorted(len(names) for names in applied) == [0, 0, len(migrations())]
        versions = await connections[0].fetch("SELECT version FROM archiver_schema_migrations")
        assert [r["version"] for r in versions] == [m.version for m in migrations()]
    finally:
        for connection in connections:
            await connection.close()


async def test_without_apply_it_waits_for_a_schema_applied_by_hand(database_url: str) -> None:
    database = Database(DatabaseSettings(database_url), apply_migrations=False)
    try:
        with pytest.raises(DatabaseUnavailable, match="0001_notification_archive"):
            await database.store([row("1")])
        connection = await asyncpg.connect(database_url)
        try:
            for migration in migrations():  # as `psql -1 -f` would
                async with connection.transaction():
                    await connection.execute(migration.sql)
        finally:
            await connection.close()
        assert len((await database.store([row("1")])).rows) == 1
    finally:
        await database.close()
    assert await count(database_url) == 1
