#!/usr/bin/env node
// Drive client/notifications.js (the browser client module) from a test.
//
//   node tests/node/notifications_client.mjs <base-url> <namespace>
//
// The token getter asks the test: it prints {"type":"token_request","n":k} and waits
// for a {"token": "..."} line on stdin (tokens sent ahead are used in order).
// Prints one JSON line per happening:
//   {"type":"state","state":...,"reason"?,"error"?,"attempt"?}
//   {"type":"notification","event":...,"payload":{id, data, metadata}}
//   {"type":"duplicate","event":...,"trace_id":...}
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
  onStateChange: (change) => emit({ type: "state", ...change }),
  onDuplicate: (event, notification) =>
    emit({ type: "duplicate", event, trace_id: notification.metadata.trace_id }),
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});
client.onAny((payload, event) => emit({ type: "notification", event, payload }));

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const { token } = JSON.parse(line);
    const resolve = waiting.shift();
    if (resolve) resolve(token);
    else tokens.push(token);
  })
  .on("close", () => {
    client.close();
    setTimeout(() => process.exit(0), 100);
  });
