// One load-generator process: K socket.io-client websocket connections.
//
//   node bench/node/clients.mjs <base-url> <namespace> <secret> <first-user> <count> <department>
//
// Client n is user `u<first-user + n>` in `department:<department>`. Every received event's
// latency is `now - data.sent_at` (ms, same machine clock as the producer). stdin commands:
//   report  -> prints {"received": n, "latencies_ms": [...]} for what arrived since the
//              last report, then starts counting afresh
//   quit    -> closes the connections and exits
// Prints {"connected": count} once every connection is up.
import { createInterface } from "node:readline";
import jwt from "jsonwebtoken";
import { io } from "socket.io-client";

const [base, namespace, secret, firstUser, countText, department] = process.argv.slice(2);
const count = Number(countText);
let received = 0;
let latencies = [];
const sockets = [];

// Connected 50 at a time, as a ramp of real users would, not all in one instant.
const BATCH = 50;
// A connection refused or reset while connecting is tried again, as a real client
// would; how often is reported ("retries"), so a run that needed it says so.
const ATTEMPTS = 5;
let retries = 0;
function open(n, attempt = 1) {
  const token = jwt.sign({ sub: `u${Number(firstUser) + n}`, department }, secret, {
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
  socket.onAny((_event, payload) => {
    received += 1;
    const sentAt = payload?.data?.sent_at;
    if (typeof sentAt === "number") latencies.push(performance.timeOrigin + performance.now() - sentAt);
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => {
      sockets.push(socket);
      resolve();
    });
    socket.once("connect_error", (error) => {
      socket.close();
      if (attempt >= ATTEMPTS) {
        reject(error);
        return;
      }
      retries += 1;
      setTimeout(() => open(n, attempt + 1).then(resolve, reject), 250 * attempt);
    });
  });
}
for (let n = 0; n < count; n += BATCH) {
  const batch = [];
  for (let k = n; k < Math.min(count, n + BATCH); k++) batch.push(open(k));
  await Promise.all(batch);
}
process.stdout.write(`${JSON.stringify({ connected: count, retries })}\n`);

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "report") {
    process.stdout.write(`${JSON.stringify({ received, latencies_ms: latencies })}\n`);
    received = 0;
    latencies = [];
  } else if (line === "quit") {
    for (const socket of sockets) socket.close();
    setTimeout(() => process.exit(0), 100);
  }
});
