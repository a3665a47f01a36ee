"""The archive in PostgreSQL: one connection, batches inserted in one transaction each.

A batch is one `INSERT ... SELECT FROM jsonb_to_recordset($1)`: one round trip and one
statement whatever the batch size, with `ON CONFLICT DO NOTHING` on the job-and-outcome
key, so a batch already committed by a crashed run or by another archiver inserts
nothing twice. A batch PostgreSQL refuses for its data (SQLSTATE class 22) is inserted
row by row, so one bad job cannot hold back the others: the rows it refuses stay in
Redis and are reported.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from archiver.errors import DatabaseUnavailable
from archiver.migrations import SchemaMissing, apply_migrations, check_schema
from archiver.rows import Row, encode_rows
from config.archive import DatabaseSettings

logger = logging.getLogger("archiver.database")

APPLICATION_NAME = "notification-archiver"
CONNECT_TIMEOUT_SECONDS = 10.0
# Bounds each insert, so a PostgreSQL that stops answering fails the pass instead of
# hanging it (the wait on ARCHIVE_HOLD_AFTER_COMMIT_LOCK is not bounded).
COMMAND_TIMEOUT_SECONDS = 60.0

_COLUMNS = (
    ("prefix", "text"), ("queue", "text"), ("job_id", "text"), ("event", "text"),
    ("namespace", "text"), ("rooms", "text[]"), ("resource_id", "text"),
    ("data", "jsonb"), ("metadata", "jsonb"), ("job_data", "text"), ("trace_id", "text"),
    ("state", "text"), ("return_value", "jsonb"), ("failed_reason", "text"),
    ("attempts_made", "integer"), ("created_ms", "bigint"), ("processed_ms", "bigint"),
    ("finished_ms", "bigint"),
)
_MS = "timestamptz 'epoch' + r.{} * interval '1 millisecond'"
INSERT_SQL = f"""
INSERT INTO notification_archive (
    prefix, queue, job_id, event, namespace, rooms, resource_id, data, metadata, job_data,
    trace_id, state, return_value, failed_reason, attempts_made,
    created_at, processed_at, finished_at)
SELECT r.prefix, r.queue, r.job_id, r.event, r.namespace, coalesce(r.rooms, '{{}}'),
    r.resource_id, r.data, r.metadata, r.job_data, r.trace_id, r.state, r.return_value,
    r.failed_reason, coalesce(r.attempts_made, 0),
    {_MS.format("created_ms")}, {_MS.format("processed_ms")}, {_MS.format("finished_ms")}
FROM jsonb_to_recordset($1::jsonb) AS r({", ".join(f"{n} {t}" for n, t in _COLUMNS)})
ON CONFLICT ON CONSTRAINT notification_archive_job_outcome DO NOTHING
"""

# What a connection that broke, or a server that is away, raises.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, SchemaMissing,
)


@dataclass(slots=True)
class Stored:
    """Rows committed (or already there), and rows PostgreSQL refused with its reason."""

    rows: list[Row]
    refused: list[tuple[Row, str]] = field(default_factory=list)


async def connect(settings: DatabaseSettings) -> asyncpg.Connection:
    password = settings.password.reveal() if settings.password is not None else None
    connection: asyncpg.Connection = await asyncpg.connect(
        settings.url,
        password=password,
        timeout=CONNECT_TIMEOUT_SECONDS,
        server_settings={"application_name": APPLICATION_NAME},
    )
    return connection


class Database:
    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        apply_migrations: bool = True,
        hold_after_commit_lock: int | None = None,
    ) -> None:
        self._settings = settings
        self._apply_migrations = apply_migrations
        self._hold_lock = hold_after_commit_lock
        self._connection: asyncpg.Connection | None = None

    async def store(self, rows: Sequence[Row]) -> Stored:
        """Commit `rows` (those already archived are left as they are)."""
        try:
            connection = await self._connect()
            try:
                async with connection.transaction():
                    await connection.execute(
                        INSERT_SQL, encode_rows(rows), timeout=COMMAND_TIMEOUT_SECONDS
                    )
            except asyncpg.DataError as error:
                logger.warning("a batch was refused (%s): inserting its rows one by one", error)
                return await self._one_by_one(connection, rows)
            return Stored(list(rows))
        except CONNECTION_ERRORS as error:
            await self._drop()
            raise DatabaseUnavailable(_describe(error)) from error

    async def hold_after_commit(self) -> None:
        """Wait while someone else holds ARCHIVE_HOLD_AFTER_COMMIT_LOCK (a no-op unless set):
        the point between a batch's commit and its removal from Redis, where tests crash
        an archiver or stop PostgreSQL."""
        if self._hold_lock is None:
            return
        try:
            connection = await self._connect()
            await connection.execute("SELECT pg_advisory_lock_shared($1)", self._hold_lock)
            await connection.execute("SELECT pg_advisory_unlock_shared($1)", self._hold_lock)
        except CONNECTION_ERRORS as error:
            await self._drop()
            raise DatabaseUnavailable(_describe(error)) from error

    async def close(self) -> None:
        await self._drop()

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        connection = await connect(self._settings)
        try:
            if self._apply_migrations:
                applied = await apply_migrations(connection)
                if applied:
                    logger.info("applied migrations: %s", ", ".join(applied))
            else:
                await check_schema(connection)
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection
        return connection

    async def _one_by_one(self, connection: asyncpg.Connection, rows: Sequence[Row]) -> Stored:
        stored = Stored([])
        for row in rows:
            try:
                async with connection.transaction():
                    await connection.execute(
                        INSERT_SQL, encode_rows([row]), timeout=COMMAND_TIMEOUT_SECONDS
                    )
            except asyncpg.DataError as error:
                stored.refused.append((row, str(error)))
            else:
                stored.rows.append(row)
        return stored

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
