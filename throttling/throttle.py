"""The cross-pod per-resource throttle of CONTRACT §3, on Redis.

Leading edge: the first notification of a window is emitted at once. Later ones are
held in Redis (the newest wins), and one trailing emit per window, scheduled by the
caller as a BullMQ delayed job with a deterministic id, emits the newest when the
window ends; that emit opens the next window. Each decision is one Lua call, so two
pods can't both take the leading edge, and the held state outlives the pod that held it.
Time is Redis' own (`TIME`), the same for every pod; tests may inject it.
"""

from collections.abc import Iterable
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis

from config import ThrottleRule
from throttling.decision import Decision, Flushed, Held, NotYet, Verdict
from throttling.keys import throttle_key, throttle_key_prefix

# A held notification outlives a late trailing job by this much at most, then expires.
HELD_LIFETIME_MS = 24 * 3600 * 1000
_REDIS_CLOCK = 0


def _script(name: str) -> str:
    return (files("throttling") / "lua" / f"{name}.lua").read_text()


class Throttle:
    def __init__(self, client: "Redis", rules: Iterable[ThrottleRule], prefix: str) -> None:
        self._client = client
        self._windows_ms = {rule.event: round(rule.window_seconds * 1000) for rule in rules}
        self._prefix = prefix
        self._decide = client.register_script(_script("decide"))
        self._take = client.register_script(_script("take"))
        self._flushed = client.register_script(_script("flushed"))

    def window_ms(self, event: str) -> int | None:
        """The event's window, or None when the event is not throttled."""
        return self._windows_ms.get(event)

    def key(self, namespace: str, event: str, resource_id: str | int) -> str:
        return throttle_key(self._prefix, namespace, event, resource_id)

    def owns(self, key: str) -> bool:
        """Whether `key` is one of this throttle's keys (trailing jobs name one)."""
        return key.startswith(throttle_key_prefix(self._prefix))

    async def decide(
        self,
        key: str,
        window_ms: int,
        encoded: bytes,
        created_at_ms: int,
        now_ms: int = _REDIS_CLOCK,
    ) -> Decision:
        verdict, window_end, superseded, now = await self._decide(
            keys=[key],
            args=[window_ms, encoded, created_at_ms, HELD_LIFETIME_MS, now_ms],
        )
        return Decision(Verdict(int(verdict)), key, int(window_end), bool(superseded), int(now))

    async def take(self, key: str, now_ms: int = _REDIS_CLOCK) -> Held | NotYet | None:
        """What a trailing job finds: the held notification once its window has ended,
        `NotYet` while the window is open, None when nothing is held."""
        verdict, encoded, version, window_end, now = await self._take(keys=[key], args=[now_ms])
        if verdict == 0:
            return None
        if verdict == 2:
            return NotYet(int(window_end), int(now))
        return Held(_as_bytes(encoded), _as_str(version))

    async def flushed(
        self, key: str, version: str, window_ms: int, now_ms: int = _REDIS_CLOCK
    ) -> Flushed:
        newer, window_end, now = await self._flushed(
            keys=[key], args=[version, window_ms, HELD_LIFETIME_MS, now_ms]
        )
        return Flushed(bool(newer), int(window_end), int(now))


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
