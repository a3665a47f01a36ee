"""User rooms reach one user, department rooms one department, namespaces stay apart."""

import asyncio

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint


async def _connect(url: str, namespace: str, user: str, department: str | None) -> RecordingClient:
    return await RecordingClient(url, namespace, mint(user, department)).connect()


async def test_rooms_and_namespaces_route_only_to_their_members(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    alice = await _connect(gateway.url, "/data_owner", "alice", "A")
    bob = await _connect(gateway.url, "/data_owner", "bob", "A")
    carol = await _connect(gateway.url, "/data_owner", "carol", "B")
    no_department = await _connect(gateway.url, "/data_owner", "dave", None)
    alice_billing = await _connect(gateway.url, "/billing", "alice", "A")
    clients = [alice, bob, carol, no_department, alice_billing]
    try:
        await producer.add("to:alice", notification(["user:alice"]))
        assert (await alice.next_event())[0] == "to:alice"

        await producer.add("to:department-a", notification(["department:A"]))
        assert (await alice.next_event())[0] == "to:department-a"
        assert (await bob.next_event())[0] == "to:department-a"

        await producer.add("to:dave", notification(["user:dave"]))
        assert (await no_department.next_event())[0] == "to:dave"

        await producer.add("billing:alice", notification(["user:alice"], namespace="/billing"))
        assert (await alice_billing.next_event())[0] == "billing:alice"

        # A marker sent to everybody last: once it has arrived everywhere, anything
        # misrouted earlier would already be queued in front of it.
        everyone = ["user:alice", "user:bob", "user:carol", "user:dave"]
        await producer.add("marker", notification(everyone))
        await producer.add("marker", notification(["user:alice"], namespace="/billing"))
        for client in clients:
            assert (await client.next_event())[0] == "marker"
            client.assert_nothing_received()
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def test_socket_in_several_target_rooms_gets_one_copy(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    alice = await _connect(gateway.url, "/data_owner", "alice", "A")
    try:
        await producer.add("both", notification(["user:alice", "department:A"]))
        await producer.add("marker", notification(["user:alice"]))
        assert (await alice.next_event())[0] == "both"
        assert (await alice.next_event())[0] == "marker"
    finally:
        await alice.close()


async def test_client_cannot_join_rooms_or_emit_to_others(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    mallory = await _connect(gateway.url, "/data_owner", "mallory", "B")
    alice = await _connect(gateway.url, "/data_owner", "alice", "A")
    try:
        await mallory.sio.emit("join", "department:A", namespace="/data_owner")
        await mallory.sio.emit("enter_room", {"room": "user:alice"}, namespace="/data_owner")
        await mallory.sio.emit("records:updated", {"to": "user:alice"}, namespace="/data_owner")
        await producer.add("secret", notification(["department:A"]))
        await producer.add("marker", notification(["user:mallory", "user:alice"]))
        assert (await alice.next_event())[0] == "secret"
        assert (await alice.next_event())[0] == "marker"
        assert (await mallory.next_event())[0] == "marker"
        mallory.assert_nothing_received()
        alice.assert_nothing_received()
    finally:
        await asyncio.gather(mallory.close(), alice.close())
