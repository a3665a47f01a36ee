"""Connection state recovery with the stock npm socket.io-client (default options): real
pods as subprocesses behind a loopback balancer, notifications streaming at 50 a second
to one department throughout; whatever happens to the connections, every acknowledged
notification reaches every client exactly once, in offset order, and `socket.recovered`
tells the client whether it missed nothing."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.balancer import Balancer
from tests.support.gateway import GatewayProcess, base_env, get_text
from tests.support.jobs import Producer, notification
from tests.support.recovery import JobStream, NodeClients, assert_each_once_in_order
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

StartProcess = Callable[[dict[str, str]], GatewayProcess]
CLIENTS = 8
NS = "/data_owner"


@pytest.fixture
async def balancer() -> AsyncIterator[Balancer]:
    balancer = Balancer([])
    await balancer.start()
    yield balancer
    await balancer.close()


@pytest.fixture(params=["channel", "room"])
def routing(request: pytest.FixtureRequest) -> dict[str, str]:
    """GATEWAY_ADAPTER_ROUTING: the scenarios that disrupt pods or Redis run both ways."""
    return {"GATEWAY_ADAPTER_ROUTING": request.param}


@pytest.fixture
async def clients_closing() -> AsyncIterator[list[NodeClients]]:
    started: list[NodeClients] = []
    yield started
    for clients in started:
        await clients.close()


async def two_pods(
    env: dict[str, str], start: StartProcess, balancer: Balancer
) -> tuple[GatewayProcess, GatewayProcess]:
    first, second = start(env), start(env)
    await first.started()
    await second.started()
    balancer.backends.extend([first.port, second.port])
    return first, second


def department_tokens(count: int = CLIENTS, expires_in: float = 3600) -> list[str]:
    return [mint(f"u{n}", "A", expires_in=expires_in) for n in range(count)]


async def streaming(
    producer: Producer, clients: NodeClients, during: Callable[[], object]
) -> list[str]:
    """Stream to department A, do `during()` once a few notifications are through, keep
    streaming a little after, then return the acknowledged ids (and wait until every
    client has had as many events as there are, or time runs out)."""
    stream = JobStream(producer, ["department:A"]).start()
    await clients.until(lambda: all(len(c.events) >= 5 for c in clients.clients), "first events")
    result = during()
    if asyncio.iscoroutine(result):
        await result
    await asyncio.sleep(0.5)  # the scenario: the stream goes on after the disruption
    return await finished(stream, clients)


async def finished(stream: JobStream, clients: NodeClients) -> list[str]:
    """Stop the stream; once every acknowledged notification reached every client (or
    time ran out), the acknowledged ids."""
    await stream.stop()
    acknowledged = await stream.acknowledged()
    await clients.until(
        lambda: all(set(acknowledged) <= set(c.ids) for c in clients.clients),
        "every acknowledged notification at every client",
        timeout=30,
    )
    await asyncio.sleep(0.3)  # a duplicate right behind the last one would show now
    return acknowledged


def assert_recovered(clients: NodeClients, indices: list[int]) -> None:
    for index in indices:
        reconnects = clients.clients[index].connects[1:]
        assert reconnects and all(c["recovered"] for c in reconnects), (index, reconnects)


async def test_a_transport_blip_is_recovered_and_nothing_is_missed(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    await two_pods(base_env(redis_url), gateway_processes, balancer)
    clients = await NodeClients(f"{balancer.url}{NS}", department_tokens()).start()
    clients_closing.append(clients)
    half = list(range(0, CLIENTS, 2))
    acknowledged = await streaming(
        producer, clients, lambda: clients.command(blip=half)
    )
    assert_each_once_in_order(clients, acknowledged)
    assert_recovered(clients, half)


async def test_a_blip_before_the_first_notification_is_recovered(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    await two_pods(base_env(redis_url), gateway_processes, balancer)
    clients = await NodeClients(f"{balancer.url}{NS}", department_tokens()).start()
    clients_closing.append(clients)
    half = list(range(0, CLIENTS, 2))
    await clients.command(blip=half)  # before any notification: no offset yet, only the pid
    stream = JobStream(producer, ["department:A"]).start()
    await clients.until(
        lambda: all(len(clients.clients[i].connects) >= 2 for i in half), "reconnects"
    )
    await asyncio.sleep(0.3)  # the scenario: the stream goes on after the reconnects
    acknowledged = await finished(stream, clients)
    assert_each_once_in_order(clients, acknowledged)
    assert_recovered(clients, half)


async def test_a_token_that_expires_is_replaced_and_nothing_is_missed(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    await two_pods(base_env(redis_url), gateway_processes, balancer)
    half = list(range(0, CLIENTS, 2))
    tokens = [mint(f"u{n}", "A", expires_in=4 if n in half else 3600) for n in range(CLIENTS)]
    clients = await NodeClients(f"{balancer.url}{NS}", tokens).start()
    clients_closing.append(clients)

    for index in half:  # the app's token getter has a fresh token from now on
        await clients.command(token=[index, mint(f"u{index}", "A")])

    async def refresh_and_wait() -> None:
        await clients.until(
            lambda: all(len(clients.clients[i].connects) >= 2 for i in half),
            "reconnects after expiry",
        )

    acknowledged = await streaming(producer, clients, refresh_and_wait)
    assert_each_once_in_order(clients, acknowledged)
    assert_recovered(clients, half)


async def test_a_rolling_update_of_two_pods_loses_nothing(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients], routing: dict[str, str],
) -> None:
    env = base_env(
        redis_url, GATEWAY_DISCONNECT_SPREAD_SECONDS="0.5", GATEWAY_DRAIN_SECONDS="8", **routing
    )
    old = await two_pods(env, gateway_processes, balancer)
    clients = await NodeClients(f"{balancer.url}{NS}", department_tokens()).start()
    clients_closing.append(clients)

    async def roll() -> None:
        for leaving in old:
            new = await gateway_processes(env).started()
            balancer.backends.append(new.port)
            balancer.remove(leaving.port)
            leaving.signal_term()
            assert await leaving.exit_code() == 0

    acknowledged = await streaming(producer, clients, roll)
    assert_each_once_in_order(clients, acknowledged)
    moved = [c for c in clients.clients if len(c.connects) > 1]
    assert moved and all(all(x["recovered"] for x in c.connects[1:]) for c in moved)


async def test_clients_of_a_sigkilled_pod_recover_on_the_other(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients], routing: dict[str, str],
) -> None:
    first, _ = await two_pods(base_env(redis_url, **routing), gateway_processes, balancer)
    clients = await NodeClients(f"{balancer.url}{NS}", department_tokens()).start()
    clients_closing.append(clients)

    def kill() -> None:
        balancer.remove(first.port)
        first.kill()

    acknowledged = await streaming(producer, clients, kill)
    # A job whose pod died after publishing it and before completing it is emitted again
    # (at least once): each emit reaches every client once, in order.
    for index, record in enumerate(clients.clients):
        missing = set(acknowledged) - set(record.ids)
        assert not missing, f"client {index} missed {sorted(missing)[:10]}"
        offsets = [e["offset"] for e in record.events]
        assert len(offsets) == len(set(offsets)), f"client {index} got an emit twice"
    moved = [c for c in clients.clients if len(c.connects) > 1]
    assert moved and all(all(x["recovered"] for x in c.connects[1:]) for c in moved)


async def test_a_redis_restart_under_two_pods_loses_nothing(
    gateway_processes: StartProcess, balancer: Balancer, clients_closing: list[NodeClients],
    tmp_path: Path, routing: dict[str, str],
) -> None:
    redis = RedisProcess(tmp_path / "redis", "--appendonly", "yes").start()
    producer = Producer(redis.url)
    try:
        await two_pods(base_env(redis.url, **routing), gateway_processes, balancer)
        clients = await NodeClients(f"{balancer.url}{NS}", department_tokens()).start()
        clients_closing.append(clients)

        def restart() -> None:
            redis.kill()  # SIGKILL: what was acknowledged is in the AOF
            redis.start()

        acknowledged = await streaming(producer, clients, restart)
        assert_each_once_in_order(clients, acknowledged)
    finally:
        await producer.close()
        redis.stop()


async def test_an_offset_older_than_retention_is_not_recovered_and_nothing_replayed(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    first = await gateway_processes(base_env(redis_url, GATEWAY_RECOVERY_SECONDS="1")).started()
    balancer.backends.append(first.port)
    clients = await NodeClients(f"{balancer.url}{NS}", department_tokens(2)).start()
    clients_closing.append(clients)
    await producer.add("records:created", notification(["department:A"], "before"))
    await clients.until(lambda: all(c.ids == ["before"] for c in clients.clients), "first")
    await asyncio.sleep(1.5)  # the scenario: longer than GATEWAY_RECOVERY_SECONDS passes
    await producer.add("records:created", notification(["department:A"], "while-away"))
    await clients.until(lambda: all(c.ids == ["before", "while-away"] for c in clients.clients),
                        "live")
    # Client 0 claims to have seen nothing since it connected, more than the retention
    # ago; its room got notifications since, which the log may no longer hold.
    await clients.command(set_offset=[0, "1-0"])
    await clients.command(blip=[0])
    await clients.until(lambda: len(clients.clients[0].connects) == 2, "reconnect")
    assert clients.clients[0].connects[1]["recovered"] is False
    assert clients.clients[0].connects[1]["pid"] != clients.clients[0].connects[0]["pid"]
    await producer.add("records:created", notification(["department:A"], "after"))
    await clients.until(lambda: "after" in clients.clients[0].ids, "live after")
    # Nothing was replayed (not "before" and "while-away" again).
    assert clients.clients[0].ids == ["before", "while-away", "after"]
    _, metrics = await get_text(f"{first.url}/metrics")
    assert 'gateway_recoveries_total{outcome="expired"} 1.0' in metrics


async def test_a_pid_of_another_user_yields_nothing_of_theirs(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    first = await gateway_processes(base_env(redis_url)).started()
    balancer.backends.append(first.port)
    tokens = [mint("alice", None), mint("mallory", None)]
    clients = await NodeClients(f"{balancer.url}{NS}", tokens).start()
    clients_closing.append(clients)
    await producer.add("records:created", notification(["user:alice"], "alice-1"))
    await clients.until(lambda: clients.clients[0].ids == ["alice-1"], "alice's first")
    alice = clients.clients[0]
    # Mallory presents Alice's pid and offset, then reconnects while Alice gets more.
    await clients.command(set_pid=[1, alice.connects[0]["pid"]])
    await clients.command(set_offset=[1, alice.events[0]["offset"]])
    await clients.command(blip=[1])
    for n in range(2, 6):
        await producer.add("records:created", notification(["user:alice"], f"alice-{n}"))
    await producer.add("records:created", notification(["user:mallory"], "mallory-1"))
    await clients.until(lambda: "mallory-1" in clients.clients[1].ids, "mallory's own")
    assert clients.clients[1].ids == ["mallory-1"]
    # A pid that is not ours: not recovered.
    await clients.command(set_pid=[1, "1-0.1-0.forged"])
    await clients.command(blip=[1])
    await clients.until(lambda: len(clients.clients[1].connects) == 3, "third connect")
    assert clients.clients[1].connects[2]["recovered"] is False
    assert clients.clients[1].ids == ["mallory-1"]


async def test_a_long_polling_client_is_recovered(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    first = await gateway_processes(base_env(redis_url)).started()
    balancer.backends.append(first.port)
    clients = await NodeClients(
        f"{balancer.url}{NS}", department_tokens(4), transports=["polling"]
    ).start()
    clients_closing.append(clients)
    acknowledged = await streaming(producer, clients, lambda: clients.command(blip=[0, 1]))
    assert_each_once_in_order(clients, acknowledged)
    assert_recovered(clients, [0, 1])


async def test_a_quiet_client_recovers_after_longer_than_the_retention(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer,
    clients_closing: list[NodeClients],
) -> None:
    first = await gateway_processes(base_env(redis_url, GATEWAY_RECOVERY_SECONDS="1")).started()
    balancer.backends.append(first.port)
    clients = await NodeClients(f"{balancer.url}{NS}", [mint("quiet", None)]).start()
    clients_closing.append(clients)
    await producer.add("records:created", notification(["user:someone-else"], "other"))
    await asyncio.sleep(1.5)  # the scenario: longer than GATEWAY_RECOVERY_SECONDS passes
    await clients.command(blip=[0])
    await clients.until(lambda: len(clients.clients[0].connects) == 2, "reconnect")
    assert clients.clients[0].connects[1]["recovered"] is True
    await producer.add("records:created", notification(["user:quiet"], "mine"))
    await clients.until(lambda: clients.clients[0].ids == ["mine"], "live after")
