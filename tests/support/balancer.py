"""A TCP load balancer on loopback, like a Kubernetes Service in front of the pods: new
connections go round-robin to the backends in rotation; taking a backend out of
rotation (its readiness turned 503) leaves its open connections alone."""

import asyncio
import contextlib
import itertools

from tests.support.ports import free_port


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self.port = free_port()
        self.backends = list(backends)
        self.connections: dict[int, int] = {port: 0 for port in backends}
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "Balancer":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    def remove(self, backend: int) -> None:
        self.backends.remove(backend)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(max(1, len(self.backends))):
            if not self.backends:
                break
            backend = self.backends[next(self._turn) % len(self.backends)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                continue
            self.connections[backend] = self.connections.get(backend, 0) + 1
            for source, sink in ((reader, up_writer), (up_reader, writer)):
                task = asyncio.create_task(_pipe(source, sink))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()
