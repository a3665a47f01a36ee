"""Every place where our code overrides, copies, replaces, owns or relies on non-public code
of python-engineio, python-socketio, aiohttp, redis-py or bullmq.

One entry per (module of ours, upstream piece). The hashes are of the upstream source as
installed when the entry was audited (python-engineio 4.15.1, python-socketio 5.18.1,
aiohttp 3.14.5, redis 7.4.1, bullmq 3.4.4); tests/seams/test_register.py fails, listing
every entry to re-audit, when an installed source differs. The upgrade procedure is in
docs/architecture.md ("Seams").
"""

from seams.entry import Kind, Seam

_ENGINEIO = (
    # --- the lean per-connection socket ----------------------------------------------
    Seam(
        module="gateway.transport.lean_socket",
        upstream="engineio.async_socket.AsyncSocket._websocket_handler",
        kind=Kind.COPY,
        why="An idle websocket costs no task of its own: the receive loop awaits `ws.wait()`"
        " under `asyncio.timeout` in the request's task instead of a `wait_for` task per"
        " read, and stops reading once the socket was closed by what it sent. The upgrade"
        " handshake and the writer task are engineio's, kept line for line.",
        breaks="A fix or change to the upgrade handshake, the writer or the close sequence is"
        " not ours until ported: upgrades fail, or sessions are left open.",
        sha256="27f120df4d717a24478b7b0f7389ce19eea8a881dd07e2c81fb1cf2493e006a5",
    ),
    Seam(
        module="gateway.transport.lean_socket",
        upstream="engineio.async_socket.AsyncSocket.schedule_ping",
        kind=Kind.OVERRIDE,
        why="Pings are due on one timer for all sockets (`PingTimers`) instead of a sleeping"
        " task per connection (1.2 to 1.5 KB each).",
        breaks="If engineio schedules pings elsewhere, pings stop (clients time out) or are"
        " sent twice.",
        sha256="fe316639159cd70d34cdb911a055fc1a0056ff15615b8460a1ab6593c95e9372",
    ),
    Seam(
        module="gateway.transport.lean_socket",
        upstream="engineio.async_socket.AsyncSocket._send_ping",
        kind=Kind.COPY,
        why="`PingTimers._ping` does what this does after its sleep: set `last_ping` and"
        " queue a PING, unless the socket is closing.",
        breaks="A changed ping (another packet or timestamp) is not followed: ping timeouts"
        " misfire.",
        sha256="67db82a704ea49d0ad34e967728cec06020d036431d67c1612162a907526cb43",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="engineio.async_server.AsyncServer._handle_connect",
        kind=Kind.RELY,
        why="Each new socket's class is swapped for `LeanSocket` in python-socketio's"
        " connect handler, which engineio calls after storing the socket in `sockets` and"
        " before its first `schedule_ping`.",
        breaks="Called after the first ping is scheduled, the swap leaves a ping task per"
        " connection; before the socket is stored, nothing is swapped (memory per idle"
        " connection grows back).",
        sha256="5bd7edc1d1ae115ae973b4a39b435d3b243a3c9b1e3218f21bbeb7ef6aa37e93",
    ),
    # --- the websocket driver ----------------------------------------------------------
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_drivers.aiohttp.WebSocket.__call__",
        kind=Kind.OVERRIDE,
        why="aiohttp's `WebSocketResponse` with `compress` as configured (engineio has no"
        " option: deflate was negotiated with every browser, ~20% CPU and 4x memory) and"
        " without aiohttp's unbounded drain (`writer_limit`); the connection's transport is"
        " recorded in its `ClientConnection` for the fast path and back-pressure.",
        breaks="If engineio builds or calls its driver differently, websocket connections"
        " fail, or deflate and unbounded buffering come back.",
        sha256="71f9a94476d737c35a2971f606da0937fc1ac8704d717cb5bac44960864c4453",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_drivers.aiohttp.WebSocket.send",
        kind=Kind.OVERRIDE,
        why="A prebuilt broadcast frame is written as it is; after a write that leaves the"
        " transport paused it drains, for at most the send timeout.",
        breaks="Whatever upstream's send adds (another encoding, binary handling) is skipped.",
        sha256="9acf5561b663a59f5acc0debe498efd58c69813f86f29ff470c71b175151c16c",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_drivers.aiohttp.WebSocket.close",
        kind=Kind.OVERRIDE,
        why="aiohttp's close drains without a timeout; here it is bounded by the send"
        " timeout, then the connection is reset.",
        breaks="A stalled client could hold a closing session and its drain for ever.",
        sha256="47a4e4b935d2b01931cee2f8f9a091f7d0d8ec9d6b0e6d2e3a7dd81e0ffc43b7",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_drivers.aiohttp.WebSocket.wait",
        kind=Kind.RELY,
        why="Kept as upstream's; it reads `self._sock`, which our `__call__` sets as"
        " upstream's does.",
        breaks="If it reads anything else our `__call__` does not set, every websocket read"
        " fails.",
        sha256="992c370917677d39695c70b6542d4b161798c5345642307a0d2f72d2d09ade7b",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_drivers.aiohttp._async",
        kind=Kind.REPLACE,
        why="The driver class is swapped in the server's own copy of this table"
        " (`server._async`), which engineio takes from the driver module when the server"
        " is made.",
        breaks="If the table is taken from elsewhere, the swap silently does nothing: deflate"
        " back on, no back-pressure, no fast path.",
        pinned="engineio.base_server.BaseServer.__init__",
        sha256="a06b17502fbd9646e3f29ec85f1e53dbbcdc9ceecce6c2969eb83e4ef1726ee2",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="engineio.async_socket.AsyncSocket._upgrade_websocket",
        kind=Kind.RELY,
        why="engineio looks the driver up in `server._async['websocket']` for each websocket"
        " and passes it the socket's bound `_websocket_handler`, through which the driver"
        " finds the socket and its `ClientConnection`.",
        breaks="Looked up elsewhere, the swapped driver is never used; passed another handler,"
        " the connection's state is never filled in (no fast path, no send timeout).",
        sha256="820b83efe96adb98ee63eef1096dd403c6690bf80aa00c49f3985afd30a4bf95",
    ),
    # --- the send queue and back-pressure ----------------------------------------------
    Seam(
        module="gateway.transport.backpressure",
        upstream="engineio.async_server.AsyncServer.create_queue",
        kind=Kind.REPLACE,
        why="Replaced on the server instance so every socket's queue is a `SendQueue`"
        " (bounded in bytes, lean) with its `ClientConnection`.",
        breaks="If engineio makes queues another way, slow clients are buffered for without"
        " bound again and nothing is on the fast path.",
        sha256="5ff5673a0c0176813f16592f7a50a08b19fa1c017e36789f5662cfac366f58e2",
    ),
    Seam(
        module="gateway.transport.backpressure",
        upstream="engineio.base_socket.BaseSocket.__init__",
        kind=Kind.RELY,
        why="A socket's queue is made by `server.create_queue()` when the socket is made.",
        breaks="A queue made otherwise is unbounded and unknown to the fast path.",
        sha256="8532b631a4dc815f51afe4d3a7f782ddea8dbc32e26e29c2a3476ef1291ae6b9",
    ),
    Seam(
        module="gateway.transport.send_queue",
        upstream="engineio.async_socket.AsyncSocket",
        kind=Kind.RELY,
        why="`SendQueue` has only the part of `asyncio.Queue` engineio's socket calls (put,"
        " put_nowait, get, get_nowait, task_done, join, empty, qsize); `get()` returns a"
        " future, so `poll`'s `wait_for` wraps no task around it.",
        breaks="A socket calling anything else raises AttributeError on a live connection:"
        " its packets are never sent.",
        sha256="af72dafc541d46e65340541ba34fd9ddee8380e84a97ecd20e88688c62804c71",
    ),
    # --- the broadcast fast path --------------------------------------------------------
    Seam(
        module="gateway.transport.fastpath",
        upstream="engineio.async_socket.AsyncSocket.send",
        kind=Kind.COPY,
        why="A broadcast is queued to a socket as `send` queues it, without its per-send"
        " ping-timeout check (the service task and every ping still make it) and its log"
        " line.",
        breaks="Anything `send` starts doing per packet is skipped for broadcasts.",
        sha256="0437276ccba7ab091471e29f4bc6a0f178da7b16a590c707d6c69a97609e6d14",
    ),
    Seam(
        module="gateway.transport.fastpath",
        upstream="engineio.async_socket.AsyncSocket.poll",
        kind=Kind.RELY,
        why="An idle websocket's writer task waits in `queue.get()`: `SendQueue.waiting and"
        " empty()` then means the writer holds no packet, the only state in which a frame"
        " is written to the transport directly.",
        breaks="If the writer takes packets another way, a direct write can overtake a packet"
        " the writer holds: events arrive out of order.",
        sha256="826f58a9f3606db208e5d1266f075ad655b6eeda47b0a5616748624899ca5954",
    ),
    Seam(
        module="gateway.transport.fastpath",
        upstream="engineio.base_socket.BaseSocket.__init__",
        kind=Kind.RELY,
        why="The socket state a direct write depends on: `upgraded`, `upgrading`, `closing`,"
        " `closed`, `queue`.",
        breaks="Renamed or differently meant, frames are written to sockets mid-upgrade or"
        " closing, or every broadcast takes the slow path.",
        sha256="8532b631a4dc815f51afe4d3a7f782ddea8dbc32e26e29c2a3476ef1291ae6b9",
    ),
    Seam(
        module="gateway.transport.fastpath",
        upstream="engineio.packet.Packet.encode",
        kind=Kind.OVERRIDE,
        why="A broadcast's packet is encoded once for all recipients and carries its"
        " websocket frame; a drain request encodes to nothing.",
        breaks="If engineio encodes packets another way, recipients get other text or the"
        " frame is built per socket again.",
        sha256="8f3d5d869711cbb8da4ea03dc81afef2672428c0faaba04c1e3d7d70b5affe29",
    ),
    # --- sending clients away -------------------------------------------------------------
    Seam(
        module="gateway.transport.closing",
        upstream="engineio.async_socket.AsyncSocket.close",
        kind=Kind.RELY,
        why="`close(wait=False, abort=True)` runs the disconnect handlers without a CLOSE"
        " packet (python-socketio's client stays away after one); the writer then flushes"
        " and ends on the `None` we queue.",
        breaks="Clients sent away on a drain or a token expiry don't come back, or their"
        " writers never end.",
        sha256="faa2e93902543244d2a1b772cdf4074d1615532e98fa6ca896739ca54ad64e76",
    ),
    Seam(
        module="gateway.transport.closing",
        upstream="engineio.base_server.BaseServer._get_socket",
        kind=Kind.RELY,
        why="A closed session is forgotten by deleting it from `sockets`, as engineio does"
        " here, so its next poll is refused.",
        breaks="A session left in `sockets` keeps its client connected to a dead session.",
        sha256="ae2f99e66d63294467faaf502df94ffa33926d5c098a7d1cfe78259504d08a62",
    ),
)

_SOCKETIO = (
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_eio_connect",
        kind=Kind.OVERRIDE,
        why="Connections beyond the cap are refused, a handshake timer is armed, and the"
        " socket becomes a `LeanSocket` before engineio schedules its first ping.",
        breaks="A changed connect sequence lets connections past the cap or leaves sockets"
        " unswapped.",
        sha256="76704886d944a7e648d24c37acb921c9866a58a6c1086f2cd9917ec0386e3517",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_eio_message",
        kind=Kind.OVERRIDE,
        why="Every packet a client sends passes its rate limit first.",
        breaks="Messages reaching the server by another method bypass the limit.",
        sha256="bef50fc0e1635921c922995dba721d05d1c5ccc95d6a6b7647a1db75c4e6032e",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_eio_disconnect",
        kind=Kind.OVERRIDE,
        why="The connection's rate bucket, ping timer and handshake timer are forgotten.",
        breaks="Per-connection state leaks if disconnects arrive another way.",
        sha256="9344593148b66fd9b4e7614e7a1427f641c74c8cbf1d85263c0ca70d8bfeace5",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_connect",
        kind=Kind.OVERRIDE,
        why="An unknown namespace is refused as Node's socket.io does (`Invalid namespace`);"
        " after the connect, recovery's replay is queued, and a socket that left while its"
        " connect handler awaited the log is disconnected.",
        breaks="JS clients see an unreadable refusal, replays are not queued, or a socket"
        " gone mid-connect keeps its rooms.",
        sha256="c97c480cf777de36bd6348c6335ac61b324e6ed16372660100d10223faf79a74",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_disconnect",
        kind=Kind.RELY,
        why="Called for a socket that went away while its connect handler awaited the log:"
        " python-socketio skipped its disconnect then, because the sid was still"
        " connecting.",
        breaks="Such sockets keep their rooms and count as connected.",
        sha256="c0b32ada5b3712302d5066d7102b7c36662ff91e859cf30c3bcadea5e16d91a9",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._send_packet",
        kind=Kind.OVERRIDE,
        why="The namespace CONNECT reply carries the recovery `pid` the connect handler"
        " chose.",
        breaks="Replies without the pid: no client is ever recovered.",
        sha256="a00022b42c1c29e908fd601c32aa1854aeaf2f131b3acc12461f6030e1ab9e9b",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_event",
        kind=Kind.OVERRIDE,
        why="Client events outside `CLIENT_EVENTS` are counted and dropped (python-socketio"
        " would dispatch an event named `connect` to the namespace's own handler).",
        breaks="Clients reach handlers they must not.",
        sha256="65178105ef8b593d1ebb63610cbabab0c29654cee50fd669ba0a66590f2e1f54",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.async_server.AsyncServer._handle_ack",
        kind=Kind.OVERRIDE,
        why="Client acks are counted and dropped: the gateway asks for none.",
        breaks="Acks reach python-socketio's callback table.",
        sha256="b7521c6c3097255159595c9dce09073780872606dffbbf8b8e71768982d8846c",
    ),
    Seam(
        module="gateway.realtime.server",
        upstream="socketio.base_server.BaseServer.__init__",
        kind=Kind.RELY,
        why="`manager_initialized`: the pod starts the adapter in its cleanup context"
        " (`GatewayServer.start_manager`) rather than at the first connect, and sets the"
        " flag python-socketio checks.",
        breaks="The adapter is started twice, or not before the first client.",
        sha256="6b998e091b34a5630d603af2af88d726877fe6a33a77f1772dec825353f42541",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager._publish",
        kind=Kind.OVERRIDE,
        why="The pub/sub manager's extension point: publish on our client, and raise"
        " (python-socketio's Redis manager drops a failed publish silently).",
        breaks="Publishes go elsewhere, or failures are swallowed again.",
        sha256="23e758d5094bdf7478aaa6c781335e7f4128d65382b4d27e3d85e65e1276073a",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager._listen",
        kind=Kind.OVERRIDE,
        why="The pub/sub manager's extension point: our subscription delivers logged"
        " notifications itself, catches up from the log after resubscribing, drops this"
        " pod's own emits by their bytes, and yields the rest.",
        breaks="Nothing is delivered from the channel, or a resubscription skips what was"
        " published meanwhile.",
        sha256="1fba9bbe5fb0c8013ccd6861b377a10c069134c1e68944c5c61157e3ad65da3e",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager._handle_emit",
        kind=Kind.OVERRIDE,
        why="Binary emits of other emitters take python-socketio's own path (the fast path"
        " encodes JSON only).",
        breaks="Binary emits are sent as broken JSON.",
        sha256="4284671be955f644db57572ca19e27c79b0444f89efd4583dac5654650f42c78",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager._thread",
        kind=Kind.RELY,
        why="It consumes what `_listen` yields (bytes, JSON-decoded here) and dispatches by"
        " `method`, skipping this host's.",
        breaks="Other emitters' messages are not delivered.",
        sha256="fa8d075729aac64de1d145663569451888de265e509c3c02dd947a9d54245d15",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager.emit",
        kind=Kind.RELY,
        why="Its message dict begins with `method` and ends with `host_id`: this pod's own"
        " emits are recognised by those bytes without decoding them.",
        breaks="Another key order delivers this pod's `server.emit`s twice.",
        sha256="6cc46e0ff9b6d7cfec7ad50b44b3738550b8107c477416e692e194bc0b19f311",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager.initialize",
        kind=Kind.RELY,
        why="It starts the listener as the `thread` task that `close()` cancels.",
        breaks="The listener outlives the pod's shutdown.",
        sha256="e8a2b026ecea320f34e220b583b2d426aa7ebd007b2eab961fd20ba60034cecb",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.base_manager.BaseManager.basic_enter_room",
        kind=Kind.OVERRIDE,
        why="`rooms[namespace][room][sid] = eio_sid`: the local rooms caught up from the log"
        " after a resubscription are read from it; routing by room, the override (a"
        " `super()` wrapper) holds a room's channel when its first local socket enters.",
        breaks="A catch-up reads no rooms, and clients miss what was published meanwhile;"
        " a room's channel is never subscribed, and its sockets get nothing.",
        sha256="3f509586d2d7f47ec92cc5113a80f5302ca1d82fb3689ee530edd3aa9ad6a1a3",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.base_manager.BaseManager.basic_leave_room",
        kind=Kind.OVERRIDE,
        why="Routing by room, a room's channel is released when its last local socket"
        " leaves; python-socketio's disconnect leaves every room through this method"
        " (`basic_disconnect`), so one wrapper sees every leave.",
        breaks="Channels stay subscribed after their last socket left (the pod receives"
        " rooms it does not hold), or are released while still held.",
        sha256="e27f3eea06d1c6a6ea295e99f62477330af4779e1f1853753e94f309ef0e74f2",
    ),
    Seam(
        module="gateway.realtime.adapter",
        upstream="socketio.base_manager.BaseManager.basic_disconnect",
        kind=Kind.RELY,
        why="A disconnect leaves each of the socket's rooms through `basic_leave_room`,"
        " where routing by room releases the room's channel.",
        breaks="A disconnected socket's rooms stay subscribed for ever.",
        sha256="2933b50bc4b2ea7b4367a84e05c2e22c52fed98b00afc3b88d06d61ab9fb9aa1",
    ),
    Seam(
        module="gateway.realtime.local_emit",
        upstream="socketio.async_manager.AsyncManager.emit",
        kind=Kind.OVERRIDE,
        why="The local emit: one prebuilt frame for all recipients through the fast path;"
        " the argument list is built exactly as upstream builds it (copied).",
        breaks="Other arguments or encodings than python-socketio's reach clients.",
        sha256="01ccd5b82b4f955e4f2e4d07b5fbf09cacef868e9f61bc2abe56d92118a5f3ac",
    ),
    Seam(
        module="gateway.realtime.local_emit",
        upstream="socketio.async_pubsub_manager.AsyncPubSubManager._handle_emit",
        kind=Kind.RELY,
        why="Emits from other python-socketio emitters end in `super().emit(...)`, which in"
        " `RedisAdapter`'s MRO is `FastPathManager.emit`.",
        breaks="They bypass the fast path (slower, still correct).",
        sha256="4284671be955f644db57572ca19e27c79b0444f89efd4583dac5654650f42c78",
    ),
    Seam(
        module="gateway.realtime.delivery",
        upstream="socketio.base_manager.BaseManager.get_participants",
        kind=Kind.RELY,
        why="A notification's local recipients are `(sid, eio_sid)` pairs from here, for the"
        " namespaces in the manager's `rooms`.",
        breaks="Notifications reach nobody, or the wrong sockets.",
        sha256="7d78ad681c95de5be0c4c9062fbaf5b668b0bb54e4b7bfc184bf2766f5d11b2d",
    ),
)

_AIOHTTP = (
    Seam(
        module="gateway.transport.websocket",
        upstream="aiohttp._websocket.writer.WebSocketWriter.send_frame",
        kind=Kind.RELY,
        why="aiohttp drains only once `_output_size` passes `writer_limit`: with a limit"
        " never reached, its unbounded drain is off and ours (with the send timeout) runs.",
        breaks="A writer that drains on its own again blocks a stalled client's writer for"
        " ever.",
        sha256="7ab812cc70561f8ede71bb76d97c75c20ebcae26751be5559e42cdd7fa019674",
    ),
    Seam(
        module="gateway.transport.websocket",
        upstream="aiohttp.base_protocol.BaseProtocol.writing_paused",
        kind=Kind.RELY,
        why="The one check after each write: drain only while the transport is paused.",
        breaks="Never draining, a slow client's kernel buffer is the only bound.",
        sha256="e86aacda0e35d0537fac73e80aad7e9b314e36d151fad248208f941c6950a2c9",
    ),
    Seam(
        module="gateway.transport.fastpath",
        upstream="aiohttp._websocket.writer.WebSocketWriter._write_websocket_frame",
        kind=Kind.COPY,
        why="`text_frame` builds the header aiohttp builds for an unmasked, uncompressed"
        " text frame; aiohttp writes such a frame in one synchronous step, so a direct"
        " write falls between two whole frames of the writer, never inside one.",
        breaks="Frames that differ from aiohttp's, or a write split by an await, corrupt the"
        " stream.",
        sha256="b677e4e11a7bdfb5054ccb793fb49566d508913edda115b21a6d18df245a42b2",
    ),
    Seam(
        module="gateway.transport.fastpath",
        upstream="aiohttp.base_protocol.BaseProtocol.writing_paused",
        kind=Kind.RELY,
        why="A socket whose transport is paused gets its broadcasts queued, not written.",
        breaks="Direct writes go on into a paused transport, past the back-pressure bound.",
        sha256="e86aacda0e35d0537fac73e80aad7e9b314e36d151fad248208f941c6950a2c9",
    ),
)

_REDIS = (
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.Redis.execute_command",
        kind=Kind.OVERRIDE,
        why="Ordinary commands go over one pipelined connection (a third of a busy"
        " consumer's CPU was redis-py's pool round trip), each reply with a deadline.",
        breaks="Commands that upstream starts treating specially are sent as plain ones.",
        sha256="9203207da5e544571694d22b4d7a23df9c8e395d8fd23f7a94f05b378c8c44c0",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.Redis.parse_response",
        kind=Kind.COPY,
        why="`execute_command` handles the options as this does (NEVER_DECODE keeps the"
        " pool, EMPTY_RESPONSE, `keys` dropped) and applies the response callbacks.",
        breaks="Replies parsed differently from redis-py's own (wrong types for bullmq).",
        sha256="d66cfb53d08c4160fed389e1cf2862d7ad74150a0fe63044bef457773e025fec",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.Redis.aclose",
        kind=Kind.OVERRIDE,
        why="Closes the pipelined connection too.",
        breaks="The pipelined connection outlives the client.",
        sha256="ab295a9c46c80ec144c22ca40ba0f7911257ad401686c81ad05c3c599f03556a",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.Redis.pubsub",
        kind=Kind.OVERRIDE,
        why="Pub/sub with deadlines (`DeadlinePubSub`); passes `self._event_dispatcher` as"
        " upstream does.",
        breaks="Pub/sub made without what upstream now passes.",
        sha256="604e8d4bfea773d4a5c78aaa1ec3e297f009125a2e97f41b883b02110e8b6301",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.connection.PythonRespSerializer.pack",
        kind=Kind.COPY,
        why="`pack` writes RESP as this does (a command name with a space is two"
        " arguments).",
        breaks="Commands packed differently from redis-py's.",
        sha256="235d7aef96b7a0d97e0dd158ce56f24d14e1ebd8785d8bdb33efaedc2c725c6b",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.connection.AbstractConnection.on_connect_check_health",
        kind=Kind.COPY,
        why="The pipelined connection's handshake (AUTH, SELECT, CLIENT SETNAME) is the part"
        " of this the gateway's settings use.",
        breaks="A setting upstream's handshake learns (credential providers, RESP3) is not"
        " applied to the pipelined connection.",
        sha256="7cbc3e76dece4dcfd2d1aa3cde3d74b2d894ffdfbd8812335a7c3ff76705c89c",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis._parsers.base.BaseParser.parse_error",
        kind=Kind.RELY,
        why="hiredis' reply errors become redis-py's exception classes (ReadOnlyError,"
        " MovedError, NoScriptError ...), which bullmq's scripts and the follow-up of a"
        " moved master (Sentinel's or a cluster slot's) catch.",
        breaks="Errors of the wrong class: a NOSCRIPT is not reloaded, a demoted master not"
        " left.",
        sha256="66c735931d7e365a9654fc37ab1cbb285022d50f6638e8442be85a75fed02829",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.PubSub.parse_response",
        kind=Kind.OVERRIDE,
        why="A blocking read is a loop of reads of at most the deadline, so a quiet"
        " subscription is not torn down by the pool's read timeout and a dead one is"
        " found by its unanswered health-check PING.",
        breaks="Subscriptions torn down every socket_timeout, or dead ones never noticed.",
        sha256="edb117d62fc74b41a88fd372e208fd7cd0f39d66437a70fbc507d1a815eeceb1",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.PubSub.listen",
        kind=Kind.RELY,
        why="`listen()` reads with `parse_response(block=True)`.",
        breaks="Another read path skips the deadline loop.",
        sha256="40df113a2509b673692cbc490c0f6bb94d0db15bc04a0b4d00b034d597e46340",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.client.PubSub.check_health",
        kind=Kind.RELY,
        why="Each step of the deadline loop lets redis-py send its health-check PING once"
        " `health_check_interval` has passed.",
        breaks="No PING is sent: a quiet subscription is taken for dead.",
        sha256="1c94061ca5825904ab047676a5c990075cc89f217ed3b68d25fd87d61b973002",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.connection.AbstractConnection.read_response",
        kind=Kind.RELY,
        why="Every reply moves the connection's `next_health_check` forward; the deadline"
        " loop reads it to tell a quiet subscription from a dead one.",
        breaks="Live subscriptions taken for dead, or dead ones for live.",
        sha256="e760868d15b6ceb9fe8a821850d4a23dd2834340d632da541ec11077609200d0",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.connection.ConnectionPool.__init__",
        kind=Kind.RELY,
        why="`connection_kwargs` and `connection_class`: the pipelined connection's address,"
        " password, database and encoding, and whether it can pipeline at all.",
        breaks="The pipelined connection connects elsewhere or with the wrong settings.",
        sha256="041e289095484f259958b44db4396985666828099284246b28e559558415b82f",
    ),
    Seam(
        module="gateway.redis_clients.pipelined",
        upstream="redis.asyncio.sentinel.SentinelConnectionPool.get_master_address",
        kind=Kind.RELY,
        why="Behind Sentinel the pipelined connection asks for the master before each"
        " connect (on a cluster it asks our `SlotMasterPool`, of the same shape).",
        breaks="After a failover it connects to the old master.",
        sha256="1fa6d36ea8f70aa38dc6b6272074909f04b916c0295fda29cb09ebcaafa18ef7",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.sentinel.SentinelManagedConnection.connect_to",
        kind=Kind.OVERRIDE,
        why="Marks the dial that follows a fresh master lookup, so `connect_check_health`"
        " lets it through.",
        breaks="If `connect()` no longer dials through it, every reconnect looks the master"
        " up again, or none does.",
        sha256="cfd2d5d8a18d71cbb66c85b9e95b3f58fd9f905d72d97208d9c84558797cdbbb",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.connection.AbstractConnection.connect_check_health",
        kind=Kind.OVERRIDE,
        why="A command's retry reconnects here, to the address the connection had (the dead"
        " master after a failover); sent through `connect()` instead, which asks the"
        " Sentinels (the first job after a failover waited 2.8 s).",
        breaks="Retries dial the old master for their whole budget again.",
        sha256="5cfa2c49e83e3645daf1b4938e68664781d3a87fbf73731517b2d2e7b94a3e09",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.sentinel.SentinelManagedConnection.connect",
        kind=Kind.RELY,
        why="Looks the master up from the Sentinels, then dials it through `connect_to`.",
        breaks="Reconnects after a failover go to the old master.",
        sha256="1ba5ea04207af629bf50630312105d6c6b561c83d0dbc7bc025a403faa5a1a46",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.connection.AbstractConnection.send_packed_command",
        kind=Kind.RELY,
        why="A command on a lost connection reconnects here through `connect_check_health`,"
        " the path the override sends to `connect()`.",
        breaks="Retries reconnect another way, past the override, to the old master.",
        sha256="baaeabd916209157db40455f034a0bac6fb3e2db902271313e0702bcbc678321",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.sentinel.SentinelManagedConnection._connect_retry",
        kind=Kind.RELY,
        why="How `connect()` dials each address the Sentinels name, through `connect_to`.",
        breaks="The dial after a lookup is no longer marked, and is refused by the override.",
        sha256="62b751ba11735f9d4c64f558a2eb601a59b0af757ca73e4788edd5a220b385f5",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.sentinel.Sentinel.__init__",
        kind=Kind.RELY,
        why="`sentinels`: the Sentinel clients that `SentinelMasterClient.aclose` closes"
        " (redis-py leaves them open).",
        breaks="Connections to the Sentinels leak on every close.",
        sha256="c4e34a77a27e2c88c0a2f396a713ccdc536c15f0d74a3cb1bb819d0af430e99a",
    ),
    Seam(
        module="gateway.redis_clients.factory",
        upstream="redis.asyncio.sentinel.SentinelConnectionPool.__init__",
        kind=Kind.RELY,
        why="`sentinel_manager`: how a master's pool reaches its Sentinels.",
        breaks="Connections to the Sentinels leak on every close.",
        sha256="9732690888baccccde5896b8fa25f1364ec2dc5ff21f066a04759050d3793f7a",
    ),
    # --- the master of the queue prefix's slot on a Redis Cluster -----------------------
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.AbstractConnection.connect",
        kind=Kind.OVERRIDE,
        why="Each attempt looks the slot's master up (`CLUSTER SLOTS`) before it dials, so"
        " a connect retried across a failover reaches the promoted replica; upstream's"
        " retries the address it had.",
        breaks="If the pool or `send_packed_command` connects another way, connections dial"
        " the old master after a failover or a migration.",
        sha256="08c5daf33e6e52ef3840d5635599ec0825757a40f261594ab67b6961956b32eb",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.AbstractConnection.connect_check_health",
        kind=Kind.OVERRIDE,
        why="A command's retry reconnects here, to the address the connection had (the dead"
        " or demoted master); sent through `connect()` instead, which looks the master up"
        " (the same fault as `MasterFollowingConnection`'s behind Sentinel).",
        breaks="Retries dial the old master for their whole budget.",
        sha256="5cfa2c49e83e3645daf1b4938e68664781d3a87fbf73731517b2d2e7b94a3e09",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.AbstractConnection.read_response",
        kind=Kind.OVERRIDE,
        why="A MOVED, ASK, CLUSTERDOWN, TRYAGAIN or READONLY reply drops the connection and"
        " becomes a retryable ConnectionError, so the retry looks the master up again (as"
        " redis-py's Sentinel connections do for READONLY).",
        breaks="After a migration or a failover the pool's commands fail with MOVED instead"
        " of following the slot.",
        sha256="e760868d15b6ceb9fe8a821850d4a23dd2834340d632da541ec11077609200d0",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.AbstractConnection.send_packed_command",
        kind=Kind.RELY,
        why="A command on a lost connection reconnects here through `connect_check_health`,"
        " the path the override sends to `connect()`.",
        breaks="Retries reconnect another way, past the override, to the old master.",
        sha256="baaeabd916209157db40455f034a0bac6fb3e2db902271313e0702bcbc678321",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.ConnectionPool.make_connection",
        kind=Kind.RELY,
        why="Connections are made with the pool's `connection_kwargs`, where the pool puts"
        " itself (`connection_pool`, as redis-py's Sentinel pool does) for the master"
        " look-up.",
        breaks="Connections have no pool to ask: every connect fails.",
        sha256="d6f95077e2414e79d02094f7ff57535429252c4433a675b81786f78b66c3a595",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis.asyncio.connection.ConnectionPool.ensure_connection",
        kind=Kind.RELY,
        why="A connection handed out by the pool is connected through `connect()`, the"
        " override that looks the master up.",
        breaks="New pool connections dial localhost:6379, the connection's default address.",
        sha256="177f413266a9de2722583b3af0ee38071961b8ab2adf8ac048ef962dfd04caa6",
    ),
    Seam(
        module="gateway.redis_clients.slot_master",
        upstream="redis._parsers.base.BaseParser.parse_error",
        kind=Kind.RELY,
        why="Reply errors arrive as redis-py's classes (MovedError, AskError,"
        " ClusterDownError, TryAgainError, ReadOnlyError), which the pool's connections and"
        " the pipelined link catch to look the master up again.",
        breaks="A moved slot's MOVED is raised to the caller instead of followed.",
        sha256="66c735931d7e365a9654fc37ab1cbb285022d50f6638e8442be85a75fed02829",
    ),
    Seam(
        module="consumers.unreadable",
        upstream="redis.asyncio.connection.ConnectionPool.__init__",
        kind=Kind.RELY,
        why="`connection_kwargs['encoding_errors']`, set before the first connection, makes"
        " every connection of the pool decode with surrogateescape.",
        breaks="A job with bytes that are not UTF-8 loops between wait and active again.",
        sha256="041e289095484f259958b44db4396985666828099284246b28e559558415b82f",
    ),
    Seam(
        module="producer.producer",
        upstream="redis.asyncio.connection.ConnectionPool.__init__",
        kind=Kind.RELY,
        why="`connection_kwargs['decode_responses']` says whether a client handed in decodes"
        " (bullmq reads empty job data from one that does not).",
        breaks="A client that does not decode is accepted, and jobs are added with empty data.",
        sha256="041e289095484f259958b44db4396985666828099284246b28e559558415b82f",
    ),
)

_BULLMQ = (
    # --- the worker loop (owned: consumers/slots.py) -------------------------------------
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.run",
        kind=Kind.OVERRIDE,
        why="The entry point of our own loop: `concurrency` long-lived slots, each"
        " completing a job and fetching the next in one `moveToFinished` call.",
        breaks="Whatever upstream's run starts (timers, tasks) and ours does not is missing.",
        sha256="abfb25f9c2a59142f21da8c1962209ec832445f5ef8e1b8aba9f32ac38871343",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.processJob",
        kind=Kind.OWN,
        why="`SlotWorker.run_job` does this job in our loop: complete with `fetch_next`,"
        " precedence checkpoints, no per-job task; upstream's is never called.",
        breaks="Nothing at once; a fix upstream (e.g. its abort signal for processors that"
        " take one) is not ours until ported.",
        sha256="1eb52a13d9cc583e67ed0c2f2451a3dd6de8db69bd8ebaaf685ada4ec7f31235",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.close",
        kind=Kind.OVERRIDE,
        why="Sets `closing` and opens the precedence gate before upstream's close, so waiting"
        " slots see it; upstream's close then waits for `processing`, which holds the slots.",
        breaks="A close that no longer waits for `processing` cuts running jobs.",
        sha256="b57051725bb026c75ae32265e79b799e40e1f66fa116737d4365bd06222a98e7",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.getNextJob",
        kind=Kind.OVERRIDE,
        why="Reports the queue not busy when a wake-up fetched nothing.",
        breaks="Precedence holds later queues back after a wake-up that found nothing.",
        sha256="cbcd06c8d92e6c319706e60703f3794647ad017bf51c410a4961c781d4aafe42",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.waitForJob",
        kind=Kind.OVERRIDE,
        why="A wake-up from the blocking wait counts the queue busy until its fetch answers.",
        breaks="Later queues start one job more when an earlier one wakes.",
        sha256="e58ff10db89461fd5e6bb41726047ab2418cafa80614dade83a4a6f702414395",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.nextJobFromJobData",
        kind=Kind.OVERRIDE,
        why="Every fetch's answer updates whether the queue is busy (`drained`).",
        breaks="Precedence sees stale busy states.",
        sha256="aef9dc4d3e211a78a0fafc5fcc5fd43bfe515abe9aac419df00383b9d8179997",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker._ensure_client_names",
        kind=Kind.RELY,
        why="Called as upstream's run does, so the worker's connections carry its name.",
        breaks="A renamed helper raises at start; a changed one leaves connections unnamed.",
        sha256="6a23b604672405aadb7017cf7c7047bedacc7f44d9bae29e09c2a0a98a4cf37a",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.__init__",
        kind=Kind.RELY,
        why="The run state our loop shares with upstream's close, pause and stalled checks:"
        " `processing`, `jobs`, `lockManager`, `closing`, `paused`, `resume_event`,"
        " `drained`, `waiting`, `forceClosing`, `running`, `backend`.",
        breaks="A renamed attribute breaks closing (jobs cut or waited for for ever) or lock"
        " renewal (jobs taken over as stalled while running).",
        sha256="8d37153b27b7eb6f8fa7cb5af1abbebd51b82e9a530e1517f876152769c10685",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.worker.Worker.retryIfFailed",
        kind=Kind.RELY,
        why="Each slot's fetch is retried with `runRetryDelay` as upstream's loop retries it.",
        breaks="A Redis outage ends the slots instead of waiting for Redis.",
        sha256="a94c1dec09b70606cf64059dd51b10cb4444548fa1ac8561a459d8ccde6c5c14",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.lock_manager.LockManager.track_job",
        kind=Kind.RELY,
        why="A running job's lock is renewed while it is tracked (no abort controller: our"
        " processor takes no signal).",
        breaks="Locks lapse during long jobs: they run twice.",
        sha256="34c0c9ab1d1ae114ba16cc936dee06f37594c730f954369b9d87c2a5c50f42b1",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.backends.redis_backend.RedisBackend.moveToCompleted",
        kind=Kind.RELY,
        why="With `fetch_next` it returns `{'result': next job}`, the job `moveToFinished`"
        " fetched and locked with the same token.",
        breaks="The next job is lost (left active until it stalls) or not fetched.",
        sha256="444c1cb4c74606e30703fab9768d653df0912ca774c6ba110ef7dcdc5b1977c2",
    ),
    Seam(
        module="consumers.slots",
        upstream="bullmq.timer.Timer.__init__",
        kind=Kind.RELY,
        why="The stalled-jobs check runs on it, as upstream's run starts it.",
        breaks="Stalled jobs are never moved back to wait.",
        sha256="7acc58d11b6a1be913b882ad3f9769486d79cc571024fd98837caf4d496b8bdd",
    ),
    Seam(
        module="consumers.fetching",
        upstream="bullmq.worker.Worker.getNextJob",
        kind=Kind.OVERRIDE,
        why="Fetches in flight start at one and double with jobs found (an empty queue is"
        " not probed `concurrency` times per job: 83 fetches per job measured).",
        breaks="The pacing is bypassed and quiet queues burn a core again.",
        sha256="cbcd06c8d92e6c319706e60703f3794647ad017bf51c410a4961c781d4aafe42",
    ),
    Seam(
        module="consumers.fetching",
        upstream="bullmq.worker.Worker.moveToActive",
        kind=Kind.OVERRIDE,
        why="Counts fetches (tests and metrics of the pacing).",
        breaks="The counts go wrong; nothing else.",
        sha256="926305f63d02a194956650f62774bd77deeb0904117fa0872c3ea0953009ea38",
    ),
    Seam(
        module="consumers.unreadable",
        upstream="bullmq.worker.Worker.nextJobFromJobData",
        kind=Kind.OVERRIDE,
        why="A job whose hash bullmq cannot parse is handed on with the unreadable fields"
        " replaced, so it fails at once instead of looping between wait and active.",
        breaks="Unreadable jobs loop for ever again.",
        sha256="aef9dc4d3e211a78a0fafc5fcc5fd43bfe515abe9aac419df00383b9d8179997",
    ),
    Seam(
        module="consumers.unreadable",
        upstream="bullmq.job.Job.fromJSON",
        kind=Kind.RELY,
        why="What raises on an unreadable hash (`json.loads` of data and opts, `int` of"
        " timestamp), and so what the stand-ins replace.",
        breaks="New parse failures are not caught; replaced fields no longer suffice.",
        sha256="a36e87f2199ed74c6e5bcee8df5caa603f6e3144b01b75b61ea21ef778bd08cb",
    ),
    Seam(
        module="consumers.workers",
        upstream="bullmq.redis_connection.RedisConnection.getRedisVersion",
        kind=Kind.RELY,
        why="Read on the worker's `blockingRedisConnection` before `run()`: without it"
        " sub-second delays are rounded up to whole seconds.",
        breaks="Retry backoffs under a second wait a second or more.",
        sha256="971a004c7c8c647f493cea04f97b4762a2a840564b782b7b76a4d0b034581c5e",
    ),
)

SEAMS: tuple[Seam, ...] = (*_ENGINEIO, *_SOCKETIO, *_AIOHTTP, *_REDIS, *_BULLMQ)
