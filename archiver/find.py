"""`python -m archiver find`: the archived rows an operator asks for, as a table or as
JSON lines. Each filter maps to an index of the table (trace_id; resource_id with
finished_at; rooms, a GIN index, with finished_at), newest first."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_JSON_COLUMNS = ("data", "metadata", "return_value")
TABLE_COLUMNS = (
    "finished_at", "state", "queue", "event", "job_id", "resource_id", "rooms", "trace_id",
)


@dataclass(frozen=True, slots=True)
class Query:
    trace_id: str | None = None
    resource: str | None = None
    room: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    queue: str | None = None
    state: str | None = None
    limit: int = 100

    def sql(self) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        args: list[Any] = []

        def where(condition: str, value: Any) -> None:
            args.append(value)
            conditions.append(condition.format(f"${len(args)}"))

        for condition, value in (
            ("trace_id = {}", self.trace_id),
            ("resource_id = {}", self.resource),
            ("rooms @> ARRAY[{}::text]", self.room),
            ("finished_at >= {}", self.since),
            ("finished_at < {}", self.until),
            ("queue = {}", self.queue),
            ("state = {}", self.state),
        ):
            if value is not None:
                where(condition, value)
        args.append(self.limit)
        where_clause = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        return (
            f"SELECT * FROM notification_archive {where_clause}"
            f"ORDER BY finished_at DESC, id DESC LIMIT ${len(args)}",
            args,
        )


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """`1h`, `30m`, `2d`, `1w`, `90s` ago, or an ISO 8601 time (UTC unless it says)."""
    now = now or datetime.now(UTC)
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"expected a duration such as 1h, 30m, 2d or an ISO 8601 time, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def find(connection: asyncpg.Connection, query: Query) -> list[dict[str, Any]]:
    sql, args = query.sql()
    records = await connection.fetch(sql, *args, timeout=60)
    return [_row(record) for record in records]


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record.items())
    for column in _JSON_COLUMNS:
        if row.get(column) is not None:
            row[column] = orjson.loads(row[column])
    return row


def json_lines(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(row).decode() + "\n" for row in rows)


def table(rows: Sequence[dict[str, Any]]) -> str:
    cells = [[_cell(row.get(column)) for column in TABLE_COLUMNS] for row in rows]
    widths = [
        max([len(column), *(len(line[index]) for line in cells)])
        for index, column in enumerate(TABLE_COLUMNS)
    ]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(TABLE_COLUMNS), ["-" * width for width in widths], *cells]
    ]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
