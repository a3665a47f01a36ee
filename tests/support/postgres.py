"""A private PostgreSQL server (Debian's binaries) on a free port, started and stopped by PID.

`initdb` refuses to run as root, so as root the cluster is made and run by the
`postgres` user (`runuser`) in a directory it owns; as anyone else, by that user. The
server listens on 127.0.0.1 only, with its socket in its own directory: the machine's
own PostgreSQL (if any, on 5432) is never touched.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.ports import free_port

DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are; skips (or, in CI, fails) when PostgreSQL is missing."""
    candidates = sorted(glob.glob(DEBIAN_BINARIES), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    reason = "PostgreSQL's initdb/pg_ctl are missing: run scripts/setup"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _version(directory: str) -> float:
    try:
        return float(Path(directory).parent.name)
    except ValueError:
        return 0.0


class PostgresProcess:
    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        """`durable=False` (tests) turns fsync off; benchmarks keep PostgreSQL's defaults."""
        self.port = port or free_port()
        self.durable = durable
        self.bindir = postgres_bindir()
        # Not under pytest's tmp_path: its parents are private to root, and the server
        # runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="archiver-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "PostgresProcess":
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8", "--locale", "C")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", "30", "start")
        pid_line = (self.data / "postmaster.pid").read_text().splitlines()[0]
        self.pid = int(pid_line)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT to the postmaster, by its PID): clients are cut off."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.02)  # polling the process table, not waiting on time

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr}\n{self.log_tail()}"
            )


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (the postmaster is not our
    child, so nothing here reaps it)."""
    if Path("/proc/self").exists():
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return status.rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
