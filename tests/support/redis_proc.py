"""A private `redis-server` on a free port, started and stopped by PID."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from tests.support.ports import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    def __init__(
        self,
        directory: Path,
        *extra: str,
        port: int | None = None,
        config: Path | None = None,
        sentinel: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.directory = directory
        self.extra = extra
        self.config = config
        self.sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            # A config file that the server may rewrite (Sentinel keeps its state in it).
            command = [REDIS_SERVER, str(self.config)]
            if self.sentinel:
                command.append("--sentinel")
        else:
            command = [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(self.directory / "redis.log"),
            ]
        self.process = subprocess.Popen(
            [*command, *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until the server answers PING with anything (PONG, NOAUTH, LOADING): it listens.
        Whether a replica has synced is the caller's question."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64):
                        return
            except OSError:
                pass
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on {self.port} not answering")
            time.sleep(0.02)  # polling the port, not waiting on time

    def client(self) -> "redis.Redis":
        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text()[-2000:] if log.exists() else ""
