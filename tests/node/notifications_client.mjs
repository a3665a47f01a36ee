#!/usr/bin/env node
// Drive client/notifications.js (the browser client module) from a test.
//
//   node tests/node/notifications_client.mjs <base-url> <namespace>
//
// The token getter asks the test: it prints {"type":"token_request","n":k} and waits
// for a {"token": "..."} line on stdin (tokens sent ahead are used in order).
// Other stdin lines: {"blip": true} closes the transport (socket.io-client reconnects on
// its own, recovering its connection state); {"set_pid": "..."} replaces the pid
// socket.io-client will present on its next reconnect (a forged one).
// Prints one JSON line per happening:
//   {"type":"state","state":...,"reason"?,"error"?,"attempt"?,"recovered"?}
//     ("recovered": socket.recovered, on "connected")
//   {"type":"notification","event":...,"payload":{id, data, metadata},"nargs":n}
//     (nargs: how many arguments the module's handler was called with)
//   {"type":"duplicate","event":...,"trace_id":...}
//   {"type":"resync"}   (onResync was called)
// Closes the client and exits 0 when stdin closes.
import { createInterface } from "node:readline";
import { connectNotifications } from "../../client/notifications.js";

const [url, namespace] = process.argv.slice(2);
if (!url || !namespace) {
  process.stderr.write("usage: notifications_client.mjs <base-url> <namespace>\n");
  process.exit(2);
}
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const tokens = [];
const waiting = [];
let requests = 0;

const client = connectNotifications({
  url,
  namespace,
  getToken: () => {
    requests += 1;
    emit({ type: "token_request", n: requests });
    return tokens.length ? tokens.shift() : new Promise((resolve) => waiting.push(resolve));
  },
  onStateChange: (change) =>
    emit({
      type: "state",
      ...change,
      ...(change.state === "connected" ? { recovered: client.socket.recovered ?? null } : {}),
    }),
  onDuplicate: (event, notification) =>
    emit({ type: "duplicate", event, trace_id: notification.metadata.trace_id }),
  onResync: () => emit({ type: "resync" }),
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});
client.onAny((...args) =>
  emit({ type: "notification", event: args[1], payload: args[0], nargs: args.length }),
);

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const command = JSON.parse(line);
    if (command.blip) client.socket.io.engine?.close();
    if (command.set_pid) client.socket._pid = command.set_pid; // socket.io-client's own field
    if (command.token === undefined) return;
    const resolve = waiting.shift();
    if (resolve) resolve(command.token);
    else tokens.push(command.token);
  })
  .on("close", () => {
    client.close();
    setTimeout(() => process.exit(0), 100);
  });
