#!/usr/bin/env node
// Socket.IO test client.
//
//   node tests/node/listen.mjs <url-with-namespace> <token> <event>[,<event>...]|*
//
// Prints one JSON line per happening on stdout:
//   {"type":"connect"}
//   {"type":"connect_error","message":...}            -> exit 3
//   {"type":"event","event":...,"args":[...]}          (listed events only; "*" = all)
//   {"type":"disconnect","reason":...}                 -> exit 0
// Disconnects and exits 0 when a stdin pipe closes or on SIGTERM/SIGINT.
import { fstatSync } from "node:fs";
import { io } from "socket.io-client";

const [url, token, eventList] = process.argv.slice(2);
if (!url || token === undefined || !eventList) {
  process.stderr.write("usage: listen.mjs <url-with-namespace> <token> <event>[,<event>...]|*\n");
  process.exit(2);
}
const wanted = new Set(eventList.split(",").map((e) => e.trim()).filter(Boolean));
const all = wanted.has("*");

// stdout writes to pipes/files are synchronous on Linux, so each line is flushed at once.
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
// Short grace period so a client-side close frame reaches the server before exiting.
const exitSoon = (code) => setTimeout(() => process.exit(code), 100);

// LISTEN_RECONNECT=1: reconnect like a browser app does (after a transport close),
// printing each connect and disconnect, instead of exiting at the first disconnect.
const reconnect = process.env.LISTEN_RECONNECT === "1";
const socket = io(url, {
  auth: { token },
  transports: ["websocket"],
  reconnection: reconnect,
  reconnectionDelay: 500,
  reconnectionDelayMax: 2000,
});

socket.on("connect", () => emit({ type: "connect" }));
socket.on("connect_error", (err) => {
  emit({ type: "connect_error", message: err.message, ...(err.data !== undefined && { data: err.data }) });
  socket.close();
  exitSoon(3);
});
socket.onAny((event, ...args) => {
  if (all || wanted.has(event)) emit({ type: "event", event, args });
});
socket.on("disconnect", (reason) => {
  emit({ type: "disconnect", reason });
  if (!reconnect || reason === "io client disconnect") exitSoon(0);
});

function shutdown() {
  if (socket.connected) socket.disconnect(); // emits "disconnect" -> exit 0
  else {
    socket.close();
    exitSoon(0);
  }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

// Parent closing our stdin pipe means "stop". Only a pipe/socket counts: a
// /dev/null or TTY stdin is ignored. If it closes while still connecting, let
// the attempt settle first so a connect_error is still reported (exit 3).
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  const onStdinEnd = () => (socket.connected || !socket.active ? shutdown() : socket.once("connect", shutdown));
  process.stdin.once("end", onStdinEnd).resume();
}
