"""Run the gateway in-process (aiohttp TestServer) or as `python -m gateway` subprocesses."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from config import load_settings
from gateway import build_app
from tests.support.ports import free_port
from tests.support.tokens import SECRET

ROOT = Path(__file__).resolve().parents[2]


def base_env(redis_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "JWT_SECRET": SECRET,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_NAMESPACES": "/data_owner,/billing",
        "GATEWAY_QUEUES": "critical-events=8,general-events=2",
        "THROTTLE_RULES": "",
        "QUEUE_LOCK_DURATION_MS": "4000",
        "QUEUE_STALLED_INTERVAL_MS": "2000",
        "GATEWAY_DRAIN_SECONDS": "10",
    }
    env.update(overrides)
    return env


class InProcessGateway:
    def __init__(self, env: dict[str, str]) -> None:
        self.settings = load_settings(env)
        self.app = build_app(self.settings)
        self.server = TestServer(self.app, host="127.0.0.1", port=free_port())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def start(self) -> "InProcessGateway":
        await self.server.start_server()
        await wait_ready(self.url)
        return self

    async def close(self) -> None:
        await self.server.close()


async def wait_ready(url: str, timeout: float = 15.0, expect: int = 200) -> None:
    """Poll /readyz until it answers `expect`: waiting on the state, bounded in time."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == expect:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def get_text(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


class GatewayProcess:
    """`python -m gateway` with its own port; output goes to a log file for diagnosis."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "GATEWAY_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.log_path = log_dir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GatewayProcess":
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    async def started(self, timeout: float = 20.0) -> "GatewayProcess":
        try:
            await wait_ready(self.url, timeout)
        except TimeoutError:
            raise AssertionError(f"gateway did not get ready:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def signal_term(self) -> None:
        assert self.process is not None
        self.process.terminate()

    async def exit_code(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway did not exit:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def run_module(env: dict[str, str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m gateway` to completion (for start-up failures)."""
    return subprocess.run(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


