"""The broadcast fast path (gateway/transport/fastpath.py): one prebuilt websocket frame written to
every idle local websocket client.

Every test checks `gateway_fastpath_frames_total` so that it fails without the feature;
the last group fails loudly if a python-socketio, engineio or aiohttp upgrade moves what
the fast path relies on (and a stock/fast comparison shows the bytes on the wire are the
ones python-socketio's own path sends).
"""

import asyncio
import inspect
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import WebSocketWriter, WSMsgType
from aiohttp.web import WebSocketResponse
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager
from socketio.async_pubsub_manager import AsyncPubSubManager

from gateway.pod.state import METRICS, SOCKETIO
from gateway.realtime.adapter import RedisAdapter
from gateway.realtime.local_emit import FastPathManager
from gateway.transport.fastpath import BroadcastPacket, text_frame
from gateway.transport.send_queue import SendQueue
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, InProcessGateway, base_env, get_text
from tests.support.jobs import Producer, notification
from tests.support.node import NodeListener
from tests.support.raw_client import RawClient
from tests.support.stalled_client import StalledClient, wait_until
from tests.support.tokens import mint

NAMESPACE = "/data_owner"
ROOM = "department:A"
OUTCOMES = ("written", "queued", "normal", "dropped")


def fastpath_counts(gateway: InProcessGateway) -> dict[str, float]:
    registry = gateway.app[METRICS].registry
    return {
        outcome: registry.get_sample_value("gateway_fastpath_frames_total", {"outcome": outcome})
        or 0.0
        for outcome in OUTCOMES
    }


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {outcome: after[outcome] - before[outcome] for outcome in OUTCOMES}


def payload_of(seq: int) -> dict[str, Any]:
    return {"seq": seq, "text": f"Grüße {seq} 🚀"}


async def emit(gateway: InProcessGateway, seq: int, to: Any = ROOM, **options: Any) -> None:
    await gateway.app[SOCKETIO].emit("seq", payload_of(seq), to=to, namespace=NAMESPACE, **options)


async def sequence_until(client: RecordingClient, last: int, timeout: float = 20.0) -> list[int]:
    """The `seq` of every event the client gets, up to and including `last`."""
    received: list[int] = []
    async with asyncio.timeout(timeout):
        while not received or received[-1] != last:
            event, payload = await client.events.get()
            assert event == "seq" and payload["text"] == f"Grüße {payload['seq']} 🚀"
            received.append(payload["seq"])
    return received


async def node_sequence_until(
    listener: NodeListener, last: int, timeout: float = 20.0
) -> list[int]:
    received: list[int] = []
    while not received or received[-1] != last:
        line = await listener.next_line(timeout)
        if line["type"] == "connect":
            continue
        assert line["type"] == "event" and line["event"] == "seq", line
        [payload] = line["args"]
        assert payload["text"] == f"Grüße {payload['seq']} 🚀"
        received.append(payload["seq"])
    return received


async def node_listener(gateway: InProcessGateway, user: str, closing: list[Any]) -> NodeListener:
    listener = await NodeListener(f"{gateway.url}{NAMESPACE}", mint(user, "A")).start()
    closing.append(listener)
    assert (await listener.next_line())["type"] == "connect"
    return listener


async def python_client(
    gateway: InProcessGateway, user: str, closing: list[Any], **options: Any
) -> RecordingClient:
    client = RecordingClient(gateway.url, NAMESPACE, mint(user, "A"), **options)
    await client.connect()
    closing.append(client)
    return client


def eio_queue(gateway: InProcessGateway, client: RecordingClient) -> SendQueue:
    queue = gateway.app[SOCKETIO].eio.sockets[client.sio.eio.sid].queue
    assert isinstance(queue, SendQueue)
    return queue


async def writer_parked(queue: SendQueue) -> None:
    """Until the socket's engineio writer task waits in `queue.get()` with nothing
    queued (the state the fast path writes in)."""
    await wait_until(lambda: queue.waiting == 1 and queue.empty(), 5, "writer parked in get()")


# Delivery and ordering


async def test_events_arrive_intact_and_in_order_interleaved_with_normal_traffic(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """Each round: an event python-socketio's own `_send_packet` queues for one client
    (the way it queues connect acks), then a burst of concurrent broadcasts, then one
    broadcast through python-socketio's own emit path (`skip_sid` takes it); meanwhile
    pings every 0.2 s and clients connecting mid-stream, one upgrading from long-polling.
    Every client gets exactly its events, intact and in order; late joiners an unbroken
    run from where they joined."""
    gateway = await start_gateway(GATEWAY_PING_INTERVAL="0.2", GATEWAY_PING_TIMEOUT="5")
    server = gateway.app[SOCKETIO]
    steady = [await python_client(gateway, f"u{index}", closing) for index in range(4)]
    node = await node_listener(gateway, "node", closing)
    before = fastpath_counts(gateway)
    expected: dict[RecordingClient, list[int]] = {client: [] for client in steady}
    broadcast: list[int] = []

    late: list[RecordingClient] = []

    async def join_late(user: str, transports: list[str]) -> None:
        late.append(await python_client(gateway, user, closing, transports=transports))

    joins: list[asyncio.Task[None]] = []
    seq = 0
    for round_ in range(60):
        if round_ in (5, 20, 35):
            transports = ["polling", "websocket"] if round_ == 20 else ["websocket"]
            joins.append(asyncio.create_task(join_late(f"late{round_}", transports)))
        target = steady[round_ % len(steady)]
        unicast = server.packet_class(
            sio_packet.EVENT, namespace=NAMESPACE, data=["seq", payload_of(seq)]
        )
        await server._send_packet(target.sio.eio.sid, unicast)
        expected[target].append(seq)
        seq += 1
        # Concurrent emits: their local deliveries run in task order, before the writer
        # task of `target` has written the event above.
        burst = range(seq, seq + 8)
        await asyncio.gather(*(emit(gateway, number) for number in burst))
        await emit(gateway, seq + 8, skip_sid="nobody")  # python-socketio's own path
        broadcast.extend(range(seq, seq + 9))
        for client in steady:
            expected[client].extend(range(seq, seq + 9))
        seq += 9
    await asyncio.gather(*joins)
    last = seq - 1

    for client in steady:
        assert await sequence_until(client, last) == expected[client]
    assert await node_sequence_until(node, last) == broadcast
    assert len(late) == 3
    for client in late:
        received = await sequence_until(client, last)
        assert received == broadcast[broadcast.index(received[0]) :], "gap or reordering"
    counts = since(before, fastpath_counts(gateway))
    assert counts["written"] > 0 and counts["queued"] > 0 and counts["dropped"] == 0


async def test_emit_queues_behind_what_is_already_queued_for_a_socket(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """A socket with a packet in its engineio queue (here an event python-socketio's own
    `_send_packet` queued, as it queues connect acks) gets the broadcast queued behind
    it, not written ahead of it; an idle socket gets it written at once."""
    gateway = await start_gateway()
    server = gateway.app[SOCKETIO]
    busy = await python_client(gateway, "busy", closing)
    idle = await python_client(gateway, "idle", closing)
    for client in (busy, idle):
        await writer_parked(eio_queue(gateway, client))
    before = fastpath_counts(gateway)

    first = server.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=["seq", payload_of(0)])
    # Neither call suspends before its packet is queued or written: nothing runs between.
    await server._send_packet(busy.sio.eio.sid, first)
    await emit(gateway, 1)

    assert await sequence_until(busy, 1) == [0, 1]
    assert await sequence_until(idle, 1) == [1]
    assert since(before, fastpath_counts(gateway)) == {
        "written": 1,
        "queued": 1,
        "normal": 0,
        "dropped": 0,
    }


async def test_broadcasts_in_one_loop_iteration_reach_a_socket_in_one_write(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """Emits that happen in the same loop iteration (several jobs finishing together)
    share one transport write per socket, so their frames share TCP segments and the
    client's reads; they still arrive whole and in order."""
    gateway = await start_gateway()
    client = await python_client(gateway, "coalesced", closing)
    queue = eio_queue(gateway, client)
    await writer_parked(queue)
    transport = queue.connection.transport
    writes: list[bytes] = []

    class RecordingTransport:
        """The socket's real transport, with its writes recorded."""

        def __getattr__(self, name: str) -> Any:
            return getattr(transport, name)

        def write(self, data: Any) -> None:
            writes.append(bytes(data))
            transport.write(data)

    queue.connection.transport = RecordingTransport()
    before = fastpath_counts(gateway)
    await asyncio.gather(*(emit(gateway, seq) for seq in range(5)))
    assert await sequence_until(client, 4) == [0, 1, 2, 3, 4]
    assert since(before, fastpath_counts(gateway))["written"] == 5
    assert len(writes) == 1, [len(write) for write in writes]  # one per emit without it


async def test_socket_in_two_rooms_gets_one_copy(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    gateway = await start_gateway()
    client = await python_client(gateway, "two", closing)  # rooms user:two, department:A
    node = await node_listener(gateway, "nodetwo", closing)
    before = fastpath_counts(gateway)
    await emit(gateway, 0, to=["user:two", ROOM, "user:nodetwo"])
    await emit(gateway, 1, to=["user:two", "user:nodetwo"])  # the next one, as a marker
    assert await sequence_until(client, 1) == [0, 1]
    assert await node_sequence_until(node, 1) == [0, 1]
    assert since(before, fastpath_counts(gateway))["written"] == 4


async def test_long_polling_client_gets_everything_through_the_normal_path(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """A long-polling session (driven by hand: python-socketio's polling client takes
    30 s to disconnect) next to a websocket client in the same room."""
    gateway = await start_gateway()
    websocket = await python_client(gateway, "ws", closing)
    url = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
    total = 50
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            sid = json.loads((await response.text())[1:])["sid"]
        join = f"40{NAMESPACE},{json.dumps({'token': mint('poller', 'A')})}"
        async with http.post(f"{url}&sid={sid}", data=join) as response:
            assert response.status == 200
        async with http.get(f"{url}&sid={sid}") as response:
            assert f"40{NAMESPACE}," in await response.text()
        before = fastpath_counts(gateway)
        for seq in range(total):
            await emit(gateway, seq)

        polled: list[int] = []
        async with asyncio.timeout(10):
            while len(polled) < total:
                async with http.get(f"{url}&sid={sid}") as response:
                    body = await response.text()
                for text in body.split("\x1e"):
                    assert text.startswith(f"42{NAMESPACE},"), text
                    event, payload = json.loads(text[len(f"42{NAMESPACE},") :])
                    assert event == "seq" and payload["text"] == f"Grüße {payload['seq']} 🚀"
                    polled.append(payload["seq"])
    assert polled == list(range(total))
    assert await sequence_until(websocket, total - 1) == list(range(total))
    counts = since(before, fastpath_counts(gateway))
    assert counts["normal"] == total and counts["written"] + counts["queued"] == total


async def test_deflate_sockets_take_the_normal_path(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """With GATEWAY_WEBSOCKET_COMPRESSION on, a client that negotiated deflate (a raw one
    here, and Node's socket.io-client, which offers it like browsers) gets compressed
    frames the usual way; a client that did not (python-socketio's) gets prebuilt ones."""
    gateway = await start_gateway(GATEWAY_WEBSOCKET_COMPRESSION="true")
    plain = await python_client(gateway, "plain", closing)
    node = await node_listener(gateway, "node", closing)
    session = aiohttp.ClientSession()
    closing.append(session)
    url = f"{gateway.url}/socket.io/?EIO=4&transport=websocket"
    deflate = await session.ws_connect(url, compress=15)
    assert deflate.compress == 15
    assert (await deflate.receive_str(timeout=5)).startswith("0{")
    await deflate.send_str(f"40{NAMESPACE},{json.dumps({'token': mint('deflate', 'A')})}")
    assert (await deflate.receive_str(timeout=5)).startswith(f"40{NAMESPACE},")
    before = fastpath_counts(gateway)

    total = 30
    for seq in range(total):
        await emit(gateway, seq)
    received: list[int] = []
    async with asyncio.timeout(10):
        while len(received) < total:
            text = await deflate.receive_str()
            if text == "2":
                await deflate.send_str("3")
                continue
            event, payload = json.loads(text[len(f"42{NAMESPACE},") :])
            assert event == "seq"
            received.append(payload["seq"])
    await deflate.close()
    assert received == list(range(total))
    assert await sequence_until(plain, total - 1) == list(range(total))
    assert await node_sequence_until(node, total - 1) == list(range(total))
    counts = since(before, fastpath_counts(gateway))
    assert counts["normal"] == 2 * total  # the raw deflate client and Node
    assert counts["written"] + counts["queued"] == total


async def test_emits_from_another_pod_take_the_fast_path(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """Two pods on one Redis: an emit on pod A reaches pod B's clients through the
    adapter's listener, whose local delivery is the fast path too."""
    pod_a = await start_gateway()
    pod_b = await start_gateway()
    on_a = await python_client(pod_a, "on-a", closing)
    on_b = await python_client(pod_b, "on-b", closing)
    node_b = await node_listener(pod_b, "node-b", closing)
    before_a, before_b = fastpath_counts(pod_a), fastpath_counts(pod_b)
    total = 40
    for seq in range(total):
        await emit(pod_a, seq)
    for client in (on_a, on_b):
        assert await sequence_until(client, total - 1) == list(range(total))
    assert await node_sequence_until(node_b, total - 1) == list(range(total))
    counts_a = since(before_a, fastpath_counts(pod_a))
    counts_b = since(before_b, fastpath_counts(pod_b))
    assert counts_a["written"] + counts_a["queued"] == total
    assert counts_b["written"] + counts_b["queued"] == 2 * total
    assert counts_b["written"] > 0


@pytest.mark.slow
async def test_pod_process_delivers_real_jobs_through_the_fast_path(
    gateway_processes: Callable[..., GatewayProcess],
    redis_url: str,
    producer: Producer,
    closing: list[Any],
) -> None:
    """`python -m gateway` runs on uvloop, whose transports are not asyncio's; the
    notifications are real BullMQ jobs (gateway/realtime/notifier.py's emit)."""
    pod = await gateway_processes(base_env(redis_url)).started()
    client = RecordingClient(pod.url, NAMESPACE, mint("u1", "A"))
    await client.connect()
    closing.append(client)
    listener = await NodeListener(f"{pod.url}{NAMESPACE}", mint("node", "A")).start()
    closing.append(listener)
    assert (await listener.next_line())["type"] == "connect"
    total = 20
    for seq in range(total):
        await producer.add("seq", notification([ROOM], f"r-{seq}", data=payload_of(seq)))
    received = [payload["data"]["seq"] for _, payload in await client.events_until_quiet(total)]
    node_received = [(await listener.next_line())["args"][0]["data"]["seq"] for _ in range(total)]
    # One worker with concurrency: jobs may be emitted out of order, but both clients see
    # the same order, and every job once.
    assert sorted(received) == list(range(total)) and node_received == received
    _, metrics = await get_text(f"{pod.url}/metrics")
    written = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('gateway_fastpath_frames_total{outcome="written"}')
    ]
    assert written and written[0] >= total


async def test_fast_path_can_be_turned_off(start_gateway: StartGateway, closing: list[Any]) -> None:
    gateway = await start_gateway(GATEWAY_BROADCAST_FASTPATH="false")
    client = await python_client(gateway, "off", closing)
    for seq in range(5):
        await emit(gateway, seq)
    assert await sequence_until(client, 4) == list(range(5))
    assert fastpath_counts(gateway) == dict.fromkeys(OUTCOMES, 0.0)


# Back-pressure


async def test_stalled_client_is_dropped_by_the_fast_path_bound(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """A bound below asyncio's 64 KiB high-water mark, so the fast path's own check (the
    transport's buffer, before each write) is what drops the client that stopped
    reading; the others get every event, written directly. (With the default 1 MiB the
    write that pauses the transport hands the client to its queue's bound instead:
    tests/gateway/transport/test_backpressure.py.)"""
    gateway = await start_gateway(GATEWAY_MAX_PENDING_BYTES="32768")
    server = gateway.app[SOCKETIO]
    good = [await python_client(gateway, f"good{index}", closing) for index in range(2)]
    node = await node_listener(gateway, "node", closing)
    slow = StalledClient(gateway.url)
    closing.append(slow)
    await slow.join(NAMESPACE, mint("slow", "A"))
    slow_queue = server.eio.sockets[slow.eio_sid].queue
    assert isinstance(slow_queue, SendQueue)
    await emit(gateway, 0)
    assert (await slow.next_event())[0] == "seq"
    before = fastpath_counts(gateway)

    padding = "x" * 8192
    seq = 1
    while not slow_queue.connection.dropped:  # the slow client reads nothing from here
        assert seq < 3000, "the stalled client was never dropped"
        await gateway.app[SOCKETIO].emit(
            "seq",
            {"seq": seq, "text": f"Grüße {seq} 🚀", "pad": padding},
            to=ROOM,
            namespace=NAMESPACE,
        )
        seq += 1
    await emit(gateway, seq)
    counts = since(before, fastpath_counts(gateway))
    assert counts["dropped"] == 1
    registry = gateway.app[METRICS].registry
    dropped = registry.get_sample_value(
        "gateway_slow_clients_dropped_total", {"reason": "buffer_full"}
    )
    assert dropped == 1.0
    await wait_until(lambda: slow.eio_sid not in server.eio.sockets, 5, "session forgotten")
    for client in good:
        assert await sequence_until(client, seq) == list(range(seq + 1))
    assert await node_sequence_until(node, seq) == list(range(seq + 1))
    assert counts["written"] > 0
    await slow.read_until_closed()


# What the fast path relies on; each check names what breaks if it stops being true.


@pytest.mark.parametrize("size", [10, 300, 70_000], ids=["len7", "len16", "len64"])
async def test_prebuilt_frame_is_what_python_socketio_and_aiohttp_send(size: int) -> None:
    """The frame built once is byte for byte what python-socketio's normal path sends:
    its Socket.IO and Engine.IO encoding, then aiohttp's uncompressed server frame, which
    aiohttp writes without awaiting between its transport writes (so a direct write can
    never land inside one of the writer's frames). All three length encodings."""
    event = ["records:updated", {"id": "r-1", "data": {"text": "é" * size}}]
    socketio_text = sio_packet.Packet(sio_packet.EVENT, namespace=NAMESPACE, data=event).encode()
    engineio_text = eio_packet.Packet(eio_packet.MESSAGE, socketio_text).encode()

    writes: list[bytes] = []

    class Transport(asyncio.Transport):
        def write(self, data: Any) -> None:
            writes.append(bytes(data))

        def is_closing(self) -> bool:
            return False

    writer = WebSocketWriter(BaseProtocol(asyncio.get_running_loop()), Transport())
    sending = writer.send_frame(engineio_text.encode(), WSMsgType.TEXT)
    with pytest.raises(StopIteration):
        sending.send(None)  # finished in one step: it never suspended

    packet = BroadcastPacket(socketio_text)
    assert packet.message == engineio_text
    assert packet.message.frame == b"".join(writes) == text_frame(engineio_text.encode())
    # A long-polling response encodes it with b64=True: still the same text.
    assert eio_payload.Payload(packets=[packet, packet]).encode() == (
        f"{engineio_text}\x1e{engineio_text}"
    )


async def test_the_wire_is_the_same_with_the_fast_path_on_and_off(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """What a raw websocket client receives for the same emit, through the fast path and
    through python-socketio's own path, is the same text frame."""
    received: dict[str, str] = {}
    for setting in ("true", "false"):
        gateway = await start_gateway(GATEWAY_BROADCAST_FASTPATH=setting)
        client = RawClient(gateway.url)
        closing.append(client)
        await client.open()
        assert (await client.join(NAMESPACE, mint("raw", "A"))).startswith(f"40{NAMESPACE},")
        before = fastpath_counts(gateway)
        await emit(gateway, 7)
        received[setting] = await client.receive_text()
        written = since(before, fastpath_counts(gateway))["written"]
        assert written == (1 if setting == "true" else 0)
    assert received["true"] == received["false"]
    assert received["true"] == '42/data_owner,["seq",{"seq":7,"text":"Grüße 7 🚀"}]'


def test_python_socketio_hands_local_emits_to_our_manager() -> None:
    """`AsyncPubSubManager.emit` and `_handle_emit` (messages from other pods) call
    `super().emit(event, data, namespace=, room=, skip_sid=, callback=)`: with our MRO
    that is `FastPathManager.emit`, which takes AsyncManager.emit's arguments."""
    mro = RedisAdapter.__mro__
    assert mro[mro.index(AsyncPubSubManager) + 1] is FastPathManager
    assert "super().emit(" in inspect.getsource(AsyncPubSubManager._handle_emit)
    assert "super().emit(" in inspect.getsource(AsyncPubSubManager.emit)
    stock = list(inspect.signature(AsyncManager.emit).parameters)
    ours = list(inspect.signature(FastPathManager.emit).parameters)
    assert stock == ours
    assert callable(AsyncManager.get_participants)


async def test_engineio_sockets_still_look_as_the_fast_path_expects(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """engineio's per-socket state the fast path reads, its writer task parking in the
    queue's `get()` when idle (SendQueue.waiting), and the connection state the driver
    filled in."""
    gateway = await start_gateway()
    client = await python_client(gateway, "probe", closing)
    socket = gateway.app[SOCKETIO].eio.sockets[client.sio.eio.sid]
    assert isinstance(socket, AsyncSocket)
    assert (socket.upgraded, socket.upgrading, socket.closing, socket.closed) == (
        True,
        False,
        False,
        False,
    )
    queue = socket.queue
    assert isinstance(queue, SendQueue)
    await writer_parked(queue)
    connection = queue.connection
    assert connection.raw_frames and not connection.response.closed
    assert not connection.protocol.writing_paused
    assert connection.response.compress == 0
    assert connection.transport is not None and connection.queue is queue
    assert isinstance(inspect.getattr_static(WebSocketResponse, "compress"), property)
    assert isinstance(inspect.getattr_static(WebSocketResponse, "closed"), property)
    assert "self.queue.get()" in inspect.getsource(AsyncSocket.poll)
    assert "await ws.send(pkt.encode())" in inspect.getsource(AsyncSocket._websocket_handler)
