"""`python -m archiver [--once]` archives finished jobs; `python -m archiver find ...`
prints archived rows. A bad setting stops it with one line and exit status 2."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import asyncpg

from archiver.database import connect
from archiver.find import Query, find, json_lines, parse_time, table
from archiver.service import serve
from config.archive import ArchiveSettings, load_archive_settings
from config.errors import SettingsError

EXIT_BAD_SETTINGS = 2
EXIT_UNAVAILABLE = 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m archiver",
        description="Move finished notification jobs from Redis to PostgreSQL.",
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit 0")
    commands = parser.add_subparsers(dest="command")
    finder = commands.add_parser("find", help="print archived notifications, newest first")
    finder.add_argument("--trace-id", help="metadata.trace_id, as clients received it")
    finder.add_argument("--resource", help="the notification's resource id")
    finder.add_argument("--room", help="a room it was sent to, e.g. user:42")
    finder.add_argument("--since", type=parse_time, help="finished after: 1h, 30m, 2d or ISO")
    finder.add_argument("--until", type=parse_time, help="finished before: 1h, 30m, 2d or ISO")
    finder.add_argument("--queue")
    finder.add_argument("--state", choices=("completed", "failed"))
    finder.add_argument("--limit", type=_positive, default=100, help="at most (100)")
    finder.add_argument("--json", action="store_true", help="JSON lines, every column")
    args = parser.parse_args(argv)
    if args.command == "find":
        if args.once:
            parser.error("--once runs the archiver; it does not go with find")
        if not (args.trace_id or args.resource or args.room or args.since):
            finder.error("give at least one of --trace-id, --resource, --room, --since")
    return args


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


async def find_command(settings: ArchiveSettings, args: argparse.Namespace) -> int:
    query = Query(
        trace_id=args.trace_id, resource=args.resource, room=args.room, since=args.since,
        until=args.until, queue=args.queue, state=args.state, limit=args.limit,
    )
    try:
        connection = await connect(settings.database)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        print(f"archiver: cannot reach PostgreSQL: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        rows = await find(connection, query)
    except asyncpg.UndefinedTableError:
        print("archiver: nothing archived yet (no notification_archive table)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await connection.close()
    sys.stdout.write(json_lines(rows) if args.json else table(rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_archive_settings(os.environ)
    except SettingsError as error:
        print(f"archiver: invalid setting {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "find":
        return int(_run(find_command(settings, args)))
    try:
        _run(serve(settings, once=args.once))
    except SettingsError as error:  # found only when used: the metrics port is taken
        print(f"archiver: invalid setting {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    run: Callable[[Coroutine[Any, Any, Any]], Any]
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    return run(coroutine)


if __name__ == "__main__":
    sys.exit(main())
