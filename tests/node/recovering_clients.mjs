#!/usr/bin/env node
// Many socket.io-client connections in one process, with default (browser) options and
// connection state recovery as the stock client does it.
//
//   node tests/node/recovering_clients.mjs '<json spec>'
//   spec: {"url": "<base-url><namespace>", "tokens": ["<jwt>", ...], "transports"?: [...]}
//
// Each client's auth is a callback that reads its token at every connect, so a test
// can hand it a fresh one ({"token": [index, "<jwt>"]} on stdin).
// stdin, one JSON command a line:
//   {"blip": [i, ...]}           close those clients' transports (they reconnect)
//   {"token": [i, "<jwt>"]}      the token client i sends from its next connect on
//   {"forget_pid": [i, ...]}     drop the pid (a client that never had one)
//   {"set_pid": [i, "<pid>"]}    replace the pid (a forged or foreign one)
//   {"set_offset": [i, "<o>"]}   replace the offset
// stdout, one JSON line per happening:
//   {"c": i, "type": "connect", "recovered": bool, "pid": "..."}
//   {"c": i, "type": "event", "event": ..., "id": ..., "offset": ..., "nargs": n}
//   {"c": i, "type": "disconnect", "reason": ...}
//   {"c": i, "type": "connect_error", "message": ...}
// Exits 0 when stdin closes.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const spec = JSON.parse(process.argv[2]);
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const tokens = [...spec.tokens];
const sockets = tokens.map((_, c) => {
  const options = {
    auth: (cb) => cb({ token: tokens[c] }),
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  };
  if (spec.transports) options.transports = spec.transports;
  const socket = io(spec.url, options);
  socket.on("connect", () =>
    emit({ c, type: "connect", recovered: socket.recovered, pid: socket._pid ?? null }),
  );
  socket.on("connect_error", (err) => emit({ c, type: "connect_error", message: err.message }));
  socket.on("disconnect", (reason) => emit({ c, type: "disconnect", reason }));
  socket.onAny((event, ...args) => {
    const last = args[args.length - 1];
    emit({
      c,
      type: "event",
      event,
      id: args[0]?.id ?? null,
      offset: typeof last === "string" ? last : null,
      nargs: args.length,
    });
  });
  return socket;
});

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if (command.blip) for (const c of command.blip) sockets[c].io.engine?.close();
  if (command.token) tokens[command.token[0]] = command.token[1];
  if (command.forget_pid) for (const c of command.forget_pid) sockets[c]._pid = undefined;
  if (command.set_pid) sockets[command.set_pid[0]]._pid = command.set_pid[1];
  if (command.set_offset) sockets[command.set_offset[0]]._lastOffset = command.set_offset[1];
});
rl.on("close", () => {
  for (const socket of sockets) socket.disconnect();
  setTimeout(() => process.exit(0), 100);
});
