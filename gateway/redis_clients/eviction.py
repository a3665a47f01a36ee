"""Is Redis configured so that it never throws a job away?

With any `maxmemory-policy` but `noeviction`, a Redis under memory pressure evicts keys,
and an evicted job is a notification lost without a trace. The pod checks at start and
then every minute (a failover may promote a replica configured differently): it logs a
warning and sets `gateway_redis_maxmemory_policy{policy=...}`; with
`REDIS_REQUIRE_NOEVICTION=true` it refuses to start instead.

On a Redis Cluster every master is checked, as `CLUSTER SLOTS` names them at each check
(so a replica promoted since is checked too), and the least safe policy found is the
one reported. The master of the queue prefix's slot must answer, as a single Redis must;
another master that does not (a failover in progress) is checked at the next round.

A Redis that does not answer yet is no reason to exit: a pod started while Redis
restarts would crash-loop (with Kubernetes' growing back-off) exactly when it should
come up. `when_reachable` asks again until Redis answers, then checks; readiness
reports the wait meanwhile.
"""

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gateway.redis_clients.slot_master import SlotMasterPool

logger = logging.getLogger(__name__)

SAFE_POLICY = "noeviction"
UNKNOWN_POLICY = "unknown"
RECHECK_SECONDS = 60.0
# Asking an unreachable Redis again: after 0.5 s, then every second.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 1.0


class PolicyObserver(Protocol):
    """Who is told the policy (the pod's metrics: `gateway_redis_maxmemory_policy`)."""

    def set_redis_policy(self, policy: str) -> None:
        """`policy` is Redis' maxmemory-policy now (or `unknown`)."""


class UnsafeRedis(RuntimeError):
    """Start-up refused: Redis may evict jobs (REDIS_REQUIRE_NOEVICTION=true)."""


async def maxmemory_policy(client: "Redis") -> str:
    """The policy, or `unknown` where CONFIG is disabled or not permitted (managed Redis);
    on a cluster, the least safe of its masters' (`cluster_policy`)."""
    pool = client.connection_pool
    if isinstance(pool, SlotMasterPool):
        return await cluster_policy(pool)
    try:
        answer = await client.config_get("maxmemory-policy")
    except ResponseError as error:
        logger.debug("cannot read Redis maxmemory-policy: %s", error)
        return UNKNOWN_POLICY
    return _policy(answer)


async def cluster_policy(pool: SlotMasterPool) -> str:
    """Every master's policy, from the masters `CLUSTER SLOTS` names now; raises as a
    single Redis would when the master of the pool's slot does not answer."""
    slot_map = await pool.slot_map(need_slot=True)
    slot_master = slot_map.master_for(pool.slot)
    masters = slot_map.masters
    answers = await asyncio.gather(
        *(pool.node_command(master, "CONFIG GET", "maxmemory-policy") for master in masters),
        return_exceptions=True,
    )
    policies = {}
    for master, answer in zip(masters, answers, strict=True):
        if isinstance(answer, ResponseError):
            policies[master] = UNKNOWN_POLICY
        elif isinstance(answer, RedisError | OSError):
            if master == slot_master:
                raise answer
            logger.debug("maxmemory-policy of a cluster master not read: %s", answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            policies[master] = _policy(answer)
    unsafe = {f"{host}:{port}": policy for (host, port), policy in policies.items()
              if policy != SAFE_POLICY}
    if unsafe:
        logger.debug("cluster masters not on %s: %s", SAFE_POLICY, unsafe)
    return least_safe(policies.values())


def least_safe(policies: Iterable[str]) -> str:
    """An evicting policy if any (the first by name), else `unknown` if any, else
    `noeviction`."""
    seen = set(policies)
    evicting = sorted(seen - {SAFE_POLICY, UNKNOWN_POLICY})
    if evicting:
        return evicting[0]
    return UNKNOWN_POLICY if UNKNOWN_POLICY in seen or not seen else SAFE_POLICY


def _policy(answer: object) -> str:
    """`CONFIG GET maxmemory-policy` as redis-py answers it: a dict (parsed) or a flat
    [name, value] list (a raw reply)."""
    if isinstance(answer, dict):
        value = answer.get("maxmemory-policy") or answer.get(b"maxmemory-policy")
    elif isinstance(answer, list | tuple) and len(answer) >= 2:
        value = answer[1]
    else:
        value = None
    if isinstance(value, bytes):
        value = value.decode()
    return str(value) if value else UNKNOWN_POLICY


class EvictionPolicyCheck:
    def __init__(
        self, client: "Redis", observer: PolicyObserver, require_noeviction: bool
    ) -> None:
        self._client = client
        self._observer = observer
        self._require = require_noeviction
        self._policy: str | None = None

    async def at_start(self) -> str:
        policy = await maxmemory_policy(self._client)
        if policy != SAFE_POLICY and self._require:
            # The refusal is the one line that says it all; no warning before it.
            raise UnsafeRedis(
                f"REDIS_REQUIRE_NOEVICTION: Redis maxmemory-policy is {policy}, not "
                f"{SAFE_POLICY}; an evicted job is a lost notification"
            )
        self._record(policy)
        return policy

    async def when_reachable(self) -> str:
        """`at_start` once Redis answers, however long that takes; `UnsafeRedis` as
        `at_start` raises it."""
        delay = FIRST_RETRY_SECONDS
        waited = False
        while True:
            try:
                policy = await self.at_start()
            except (RedisError, OSError) as error:
                if not waited:
                    logger.warning(
                        "Redis does not answer (%s); /readyz is 503 until it does", error
                    )
                    waited = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            if waited:
                logger.info("Redis answers")
            return policy

    async def run(self, interval: float = RECHECK_SECONDS) -> None:
        """Re-check forever; Redis being unreachable is readiness' business, not ours."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self._check()
            except (RedisError, OSError) as error:
                logger.debug("maxmemory-policy re-check skipped: %s", error)

    async def _check(self) -> None:
        self._record(await maxmemory_policy(self._client))

    def _record(self, policy: str) -> None:
        if policy != self._policy:
            self._observer.set_redis_policy(policy)
            if policy != SAFE_POLICY:
                logger.warning(
                    "Redis maxmemory-policy is %s, not %s: under memory pressure Redis "
                    "will evict queued jobs and notifications will be lost",
                    policy, SAFE_POLICY,
                )
            self._policy = policy
