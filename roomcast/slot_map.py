"""Which master serves each of the 16384 slots, from `CLUSTER SLOTS` of any node that
answers: the start-up nodes first, then every master seen so far."""

import bisect
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

Address = tuple[str, int]
HASH_SLOTS = 16384


class ClusterUnavailable(RuntimeError):
    """No node answered `CLUSTER SLOTS`, or none knows a master for every slot."""


class SlotMap:
    def __init__(self, ranges: Sequence[tuple[int, int, Address]]) -> None:
        """`ranges`: (first slot, last slot, master), covering the slots served now."""
        self._ranges = sorted(ranges)
        self._starts = [start for start, _, _ in self._ranges]

    @property
    def masters(self) -> list[Address]:
        return sorted({address for _, _, address in self._ranges})

    @property
    def covers_all(self) -> bool:
        return sum(end - start + 1 for start, end, _ in self._ranges) == HASH_SLOTS

    def master_for(self, slot: int) -> Address | None:
        i = bisect.bisect_right(self._starts, slot) - 1
        if i >= 0:
            start, end, address = self._ranges[i]
            if start <= slot <= end:
                return address
        return None

    @classmethod
    def single(cls, address: Address) -> "SlotMap":
        """One Redis (standalone, or the master Sentinel names) serving every slot:
        sharded pub/sub works there too, and one connection then receives every room
        channel in the order the server executed the publishes."""
        return cls([(0, HASH_SLOTS - 1, address)])

    @classmethod
    def parse(cls, reply: Iterable[Any], asked: Address) -> "SlotMap":
        """A `CLUSTER SLOTS` reply (RESP2: [first, last, [host, port, id, ...], replicas...])."""
        ranges = []
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = _text(master[0]) or asked[0]  # "" or "?" means: the node asked
            if host == "?":
                host = asked[0]
            ranges.append((start, end, (host, int(master[1]))))
        return cls(ranges)

    @classmethod
    async def fetch(
        cls,
        nodes: Iterable[Address],
        password: str | None = None,
        reply_timeout: float = 2.0,
    ) -> "SlotMap":
        """From the first node that answers with a master for every slot."""
        errors = []
        for host, port in dict.fromkeys(nodes):
            client = Redis(
                host=host,
                port=port,
                password=password,
                socket_timeout=reply_timeout,
                socket_connect_timeout=reply_timeout,
                retry=Retry(NoBackoff(), retries=0),  # the caller tries the next node
            )
            try:
                reply = await client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as error:
                errors.append(f"{host}:{port}: {error}")
                continue
            finally:
                await client.aclose()
            slot_map = cls.parse(reply, (host, port))
            if slot_map.covers_all:
                return slot_map
            errors.append(f"{host}:{port}: not every slot has a master")
        raise ClusterUnavailable("; ".join(errors) or "no cluster node given")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
