// The gateway's contract in Node.js, written the way the socket.io, redis-adapter and
// BullMQ docs show: the reference bench/compare.py measures the Python gateway against.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 JWT_SECRET=... GATEWAY_PORT=8090 \
//   GATEWAY_NAMESPACES=/data_owner GATEWAY_QUEUES=critical-events=32,general-events=8 \
//     node bench/node/reference.mjs
//
// Same settings names as the Python gateway; no throttling (the bench events have no
// rule). Prints "ready" on stdout once listening and consuming.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Worker } from "bullmq";
import jwt from "jsonwebtoken";

const env = process.env;
const redisUrl = env.REDIS_URL ?? "redis://127.0.0.1:6379/0";
const secret = env.JWT_SECRET;
const port = Number(env.GATEWAY_PORT ?? 8090);
const namespaces = (env.GATEWAY_NAMESPACES ?? "/data_owner").split(",");
const queues = (env.GATEWAY_QUEUES ?? "critical-events=32,general-events=8")
  .split(",")
  .map((item) => item.split("="))
  .map(([name, concurrency]) => ({ name, concurrency: Number(concurrency) }));
const prefix = env.QUEUE_PREFIX ?? "bull";

const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const httpServer = createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404).end();
});
const io = new Server(httpServer, {
  adapter: createAdapter(pub, sub),
  transports: ["websocket", "polling"],
  perMessageDeflate: false,
});

for (const name of namespaces) {
  const nsp = io.of(name);
  nsp.use((socket, next) => {
    const token = socket.handshake.auth?.token;
    if (!token) return next(new Error("Authentication failed"));
    try {
      socket.data.claims = jwt.verify(token, secret, { algorithms: ["HS256"] });
      next();
    } catch {
      next(new Error("Invalid token"));
    }
  });
  nsp.on("connection", (socket) => {
    const { sub: user, department } = socket.data.claims;
    socket.join(`user:${user}`);
    if (department) socket.join(`department:${department}`);
  });
}

const workers = queues.map(
  ({ name, concurrency }) =>
    new Worker(
      name,
      async (job) => {
        const { namespace, rooms, id, data = {}, metadata = {} } = job.data;
        const meta = {
          ...metadata,
          trace_id: metadata.trace_id ?? `${name}:${job.id}:${job.timestamp}`,
          timestamp: metadata.timestamp ?? new Date(job.timestamp).toISOString(),
        };
        io.of(namespace).to(rooms).emit(job.name, { id, data, metadata: meta });
        return { emitted: true };
      },
      { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix, concurrency },
    ),
);

await Promise.all(workers.map((worker) => worker.waitUntilReady()));
httpServer.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));

const stop = async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
