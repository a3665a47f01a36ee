"""Drive the Node.js tools under tests/node: npm bullmq producer, socket.io-client listener."""

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / "tests" / "node"


def require_node() -> str:
    """The node binary; skips (or, in CI, fails) when Node or the npm packages are missing."""
    node = shutil.which("node")
    installed = (ROOT / "node_modules" / "bullmq").is_dir() and (
        ROOT / "node_modules" / "socket.io-client"
    ).is_dir()
    if node and installed:
        return node
    reason = "Node.js or the npm packages are missing: run scripts/setup"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


async def node_produce(spec: dict[str, Any], timeout: float = 30.0) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        require_node(), str(NODE_TOOLS / "produce.mjs"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(
        process.communicate(json.dumps(spec).encode()), timeout
    )
    assert process.returncode == 0, stderr.decode()
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


class NodeListener:
    """`socket.io-client` in a Node process; its JSON lines are read as they come."""

    def __init__(self, url: str, token: str, events: str = "*", reconnect: bool = False) -> None:
        self.args = [str(NODE_TOOLS / "listen.mjs"), url, token, events]
        self.env = {**os.environ, "LISTEN_RECONNECT": "1" if reconnect else "0"}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> "NodeListener":
        self.process = await asyncio.create_subprocess_exec(
            require_node(), *self.args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env=self.env,
        )
        return self

    async def next_line(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "listener exited"
        return json.loads(line)

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)
