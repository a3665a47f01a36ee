// One load-generator process for bench/flood.py: K socket.io-client websocket connections.
//
//   node bench/node/flood_clients.mjs <base-url> <namespace> <secret> <first-user> <count>
//
// Client n is user `u<first-user + n>`. Two kinds of events are told apart by name:
// `system:alert` (the critical probe) carries data.sent_at (epoch ms, the producer's
// clock: same machine), and is recorded as [sent_at, latency_ms]; anything else is flood
// traffic, counted with the epoch ms of its last arrival. stdin commands:
//   report  -> prints {"alerts": [[sent_at, latency_ms], ...], "flood": n, "flood_last_ms": t}
//              for what arrived since the last report, then counts afresh
//   quit    -> closes the connections and exits
// Prints {"connected": count} once every connection is up.
import { createInterface } from "node:readline";
import jwt from "jsonwebtoken";
import { io } from "socket.io-client";

const [base, namespace, secret, firstUser, countText] = process.argv.slice(2);
const count = Number(countText);
const now = () => performance.timeOrigin + performance.now();
let alerts = [];
let flood = 0;
let floodLast = 0;
const sockets = [];

function open(n) {
  const token = jwt.sign({ sub: `u${Number(firstUser) + n}` }, secret, {
    algorithm: "HS256",
    expiresIn: "2h",
  });
  const socket = io(base + namespace, {
    auth: { token },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 60000,
  });
  socket.onAny((event, payload) => {
    const at = now();
    if (event === "system:alert") {
      const sentAt = payload?.data?.sent_at;
      if (typeof sentAt === "number") alerts.push([sentAt, at - sentAt]);
    } else {
      flood += 1;
      floodLast = at;
    }
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => {
      sockets.push(socket);
      resolve();
    });
    socket.once("connect_error", reject);
  });
}

const BATCH = 50;
for (let n = 0; n < count; n += BATCH) {
  const batch = [];
  for (let k = n; k < Math.min(count, n + BATCH); k++) batch.push(open(k));
  await Promise.all(batch);
}
process.stdout.write(`${JSON.stringify({ connected: count })}\n`);

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "report") {
    process.stdout.write(
      `${JSON.stringify({ alerts, flood, flood_last_ms: floodLast })}\n`,
    );
    alerts = [];
    flood = 0;
  } else if (line === "quit") {
    for (const socket of sockets) socket.close();
    setTimeout(() => process.exit(0), 100);
  }
});
