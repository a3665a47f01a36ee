"""Run `python -m archiver` as a real subprocess, and read what it left behind."""

import asyncio
import os
import signal
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "critical-events=8,general-events=2"


def archiver_env(redis_url: str, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "ARCHIVE_DATABASE_URL": database_url,
        "GATEWAY_QUEUES": QUEUES,
        "ARCHIVE_MIN_AGE_SECONDS": "0",
        "ARCHIVE_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
    }
    env.update(overrides)
    return env


class ArchiverProcess:
    """`python -m archiver <args>` with its output in a log file; killed by PID."""

    def __init__(self, env: dict[str, str], log_dir: Path, *args: str) -> None:
        self.metrics_port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "ARCHIVE_METRICS_PORT": str(self.metrics_port),
            "ARCHIVE_METRICS_HOST": "127.0.0.1",
            **env,
            "PYTHONUNBUFFERED": "1",
        }
        self.metrics_port = int(self.env["ARCHIVE_METRICS_PORT"])
        self.args = args
        self.log_path = log_dir / f"archiver-{id(self)}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> "ArchiverProcess":
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "archiver", *self.args,
                cwd=ROOT, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        return self

    async def exit_code(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"archiver did not exit:\n{self.log()}") from None

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the archiver."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), 10)

    async def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the archiver's /metrics, None while it is not exported."""
        text = await asyncio.to_thread(self._scrape)
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        series = f"{name}{{{wanted}}}" if wanted else name
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def _scrape(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            return ""


async def run_archiver(env: dict[str, str], *args: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run `python -m archiver <args>` to completion: (exit status, stdout + stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "archiver", *args,
        cwd=ROOT, env={"PATH": os.environ.get("PATH", ""), "ARCHIVE_METRICS_PORT": "0", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    *processes: "ArchiverProcess",
) -> None:
    """Poll external state (rows, Redis keys, lock waits) until `check` holds; on a
    time-out the message carries the logs of `processes`."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        logs = "".join(f"\n--- {p.log_path.name}:\n{p.log()}" for p in processes)
        raise AssertionError(f"not within {timeout} s: {what}{logs}") from None


async def archived_rows(database_url: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(database_url)
    try:
        exists = await connection.fetchval("SELECT to_regclass('notification_archive')")
        if exists is None:
            return []
        records = await connection.fetch("SELECT * FROM notification_archive ORDER BY id")
    finally:
        await connection.close()
    rows = []
    for record in records:
        row = dict(record.items())
        for column in ("data", "metadata", "return_value"):
            if row[column] is not None:
                row[column] = orjson.loads(row[column])
        rows.append(row)
    return rows


class HeldLock:
    """An exclusive PostgreSQL advisory lock: an archiver started with
    ARCHIVE_HOLD_AFTER_COMMIT_LOCK=<key> waits after each commit while it is held."""

    def __init__(self, database_url: str, key: int = 4242) -> None:
        self.database_url = database_url
        self.key = key
        self.connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> "HeldLock":
        self.connection = await asyncpg.connect(self.database_url)
        await self.connection.execute("SELECT pg_advisory_lock($1)", self.key)
        return self

    async def waiting(self) -> int:
        """How many sessions wait for the lock right now (in pg_locks, not granted)."""
        assert self.connection is not None
        count = await self.connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = $1 AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())", self.key,
        )
        return int(count)

    async def release(self) -> None:
        if self.connection is not None and not self.connection.is_closed():
            await self.connection.execute("SELECT pg_advisory_unlock($1)", self.key)
            await self.connection.close()
        self.connection = None

    async def __aexit__(self, *exc: object) -> None:
        if self.connection is not None and not self.connection.is_closed():
            self.connection.terminate()
        self.connection = None
