#!/usr/bin/env node
// Add BullMQ jobs on a Redis Cluster through an ioredis Cluster client, as a NestJS
// producer on a cluster does. One JSON document on stdin:
//
//   {"nodes": [{"host": "127.0.0.1", "port": 7000}, ...], "prefix": "{app-main}",
//    "queue": "critical-events", "jobs": [{"name": ..., "data": {...}, "opts": {...}}],
//    "timeout_ms": 10000}
//
// Prints one JSON line per job once it is completed or failed (or its state when
// timeout_ms runs out): {"id", "state", "returnvalue", "failedReason", "attemptsMade"}.
import { Queue } from "bullmq";
import IORedis from "ioredis";

const TERMINAL = new Set(["completed", "failed", "unknown"]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function readStdin() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

async function main() {
  const spec = await readStdin();
  const connection = new IORedis.Cluster(spec.nodes, {
    redisOptions: { maxRetriesPerRequest: null, connectTimeout: 5000 },
    clusterRetryStrategy: (times) => (times > 10 ? null : 200),
  });
  const queue = new Queue(spec.queue, { connection, prefix: spec.prefix });
  try {
    const ids = [];
    for (const { name, data = {}, opts = {} } of spec.jobs ?? []) {
      ids.push((await queue.add(name, data, opts)).id);
    }
    const deadline = Date.now() + (spec.timeout_ms ?? 10000);
    const states = new Map();
    for (;;) {
      for (const id of ids) {
        if (!TERMINAL.has(states.get(id))) states.set(id, await queue.getJobState(id));
      }
      if (ids.every((id) => TERMINAL.has(states.get(id))) || Date.now() >= deadline) break;
      await sleep(50);
    }
    for (const id of ids) {
      const job = await queue.getJob(id);
      emit({
        id,
        state: states.get(id),
        returnvalue: job?.returnvalue ?? null,
        failedReason: job?.failedReason ?? null,
        attemptsMade: job?.attemptsMade ?? 0,
      });
    }
  } finally {
    await queue.close().catch(() => {});
    connection.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`produce_cluster.mjs: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
