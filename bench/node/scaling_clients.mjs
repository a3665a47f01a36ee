// One load-generator process for bench/scaling.py: K socket.io-client websocket
// connections to ONE pod, each in its own user room (JWT `sub`, no department claim).
//
//   node bench/node/scaling_clients.mjs <pod-url> <namespace> <secret> <first-user> <count>
//
// Client n is user `u<first-user + n>`. Only `socket.io-client` is needed (the
// repository's root node_modules has it); the HS256 token is signed with node:crypto, so
// no jsonwebtoken install is required.
//
// Every `records:updated` event is recorded as [user number, data.job]: the bench checks
// that each job reached its own user exactly once. Other events are counted apart.
// stdin commands:
//   report  -> prints {"got": [[user, job], ...], "other": n} for what arrived since the
//              last report, then counts afresh
//   quit    -> closes the connections and exits
// Prints {"connected": count, "retries": r} once every connection is up.
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [base, namespace, secret, firstText, countText] = process.argv.slice(2);
const first = Number(firstText);
const count = Number(countText);
let got = [];
let other = 0;
const sockets = [];

const b64 = (value) => Buffer.from(value).toString("base64url");
function token(sub) {
  const header = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 7200 }));
  const signature = createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${signature}`;
}

// Connected 50 at a time, as a ramp of real users would. A connection refused or reset
// while connecting is tried again (as a real client would); how often is reported.
const BATCH = 50;
const ATTEMPTS = 5;
let retries = 0;
function open(n, attempt = 1) {
  const user = first + n;
  const socket = io(base + namespace, {
    auth: { token: token(`u${user}`) },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 60000,
  });
  socket.onAny((event, payload) => {
    const job = payload?.data?.job;
    if (event === "records:updated" && typeof job === "number") got.push([user, job]);
    else other += 1;
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
    process.stdout.write(`${JSON.stringify({ got, other })}\n`);
    got = [];
    other = 0;
  } else if (line === "quit") {
    for (const socket of sockets) socket.close();
    setTimeout(() => process.exit(0), 100);
  }
});
