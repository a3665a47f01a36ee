"""Versioned schema migrations: SQL files in archiver/migrations/, applied in order.

Versioned files rather than a `CREATE TABLE IF NOT EXISTS` at start: the schema will
change (a column, an index, partitioning) while old rows stay, and each change must run
exactly once, in order, also when a DBA applies it by hand because the archiver's role
may not run DDL (ARCHIVE_APPLY_MIGRATIONS=false). Each file records its own version in
`archiver_schema_migrations` (the first file creates that table), so both ways agree.
Two archivers starting at once apply nothing twice: the work runs under an advisory
transaction lock.
"""

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

MIGRATIONS_TABLE = "archiver_schema_migrations"
# pg_advisory_xact_lock key: b"archiver" as a big-endian 64-bit integer.
_MIGRATION_LOCK = int.from_bytes(b"archiver", "big")
_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaMissing(RuntimeError):
    """The schema is not (fully) there and the archiver may not apply it."""


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("archiver").joinpath("migrations").iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name[:-4], entry.read_text("utf-8")))
    return sorted(found, key=lambda migration: migration.version)


async def applied_versions(connection: asyncpg.Connection) -> set[int]:
    exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", MIGRATIONS_TABLE)
    if not exists:
        return set()
    rows = await connection.fetch(f"SELECT version FROM {MIGRATIONS_TABLE}")
    return {row["version"] for row in rows}


async def apply_migrations(connection: asyncpg.Connection) -> list[str]:
    """Apply what is missing; returns the names applied."""
    applied = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        done = await applied_versions(connection)
        for migration in migrations():
            if migration.version not in done:
                await connection.execute(migration.sql)
                applied.append(migration.name)
    return applied


async def check_schema(connection: asyncpg.Connection) -> None:
    done = await applied_versions(connection)
    missing = [m.name for m in migrations() if m.version not in done]
    if missing:
        raise SchemaMissing(
            f"the archive schema lacks {', '.join(missing)}: apply archiver/migrations/"
            "*.sql in order, or set ARCHIVE_APPLY_MIGRATIONS=true"
        )
