"""The Engine.IO websocket transport under python-socketio: one `ClientConnection` per
connection with its delivery state (`connection`) and bounded `SendQueue` (`send_queue`),
dropping clients that stop reading (`backpressure`), the aiohttp websocket driver
(`websocket`), the lean per-connection socket and its ping timers (`lean_socket`), one
prebuilt frame per broadcast written to idle websockets (`fastpath`), sending clients away
so they reconnect (`closing`), one timer for many deadlines (`expiry`), and what it
reports (`observer`).

May import: engineio and aiohttp; nothing else of ours. Knows nothing of Socket.IO,
Redis or the pod. Where it overrides engineio's or aiohttp's internals is listed in
seams/register.py.
"""
