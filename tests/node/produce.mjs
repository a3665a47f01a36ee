#!/usr/bin/env node
// Add BullMQ jobs described by one JSON document on stdin.
//
//   {"redis": "redis://127.0.0.1:6379/0", "prefix": "bull", "queue": "critical-events",
//    "jobs": [{"name": "records:updated", "data": {...}, "opts": {"jobId": "x"}}],
//    "wait": false, "timeout_ms": 10000}
//
// Prints one JSON line per job, in order: {"id": ...}, or with "wait": true
// {"id", "state", "returnvalue", "failedReason", "attemptsMade"} once each job is
// completed/failed (or its current state when timeout_ms runs out). Exit 0 on
// success, 1 (error on stderr) on any error.
import { Queue } from "bullmq";
import IORedis from "ioredis";

const TERMINAL = new Set(["completed", "failed", "unknown"]); // unknown: job removed
const POLL_MS = 50;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function readStdin() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

async function waitForJobs(queue, ids, timeoutMs) {
  const states = new Map();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const id of ids) {
      if (!TERMINAL.has(states.get(id))) states.set(id, await queue.getJobState(id));
    }
    if (ids.every((id) => TERMINAL.has(states.get(id))) || Date.now() >= deadline) break;
    await sleep(POLL_MS);
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
}

async function main() {
  const spec = await readStdin();
  if (!spec || typeof spec.redis !== "string" || typeof spec.queue !== "string") {
    throw new Error('stdin must be a JSON object with string "redis" and "queue"');
  }
  const jobs = spec.jobs ?? [];
  if (!Array.isArray(jobs)) throw new Error('"jobs" must be an array');

  // bullmq 6.x no longer depends on ioredis (it is an optional peer dependency),
  // so we pass our own client. Bounded retries: fail instead of hanging forever
  // when Redis is unreachable.
  const connection = new IORedis(spec.redis, {
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
    retryStrategy: (times) => (times > 10 ? null : 200),
  });
  let lastError;
  connection.on("error", (err) => (lastError = err));
  const queue = new Queue(spec.queue, { connection, prefix: spec.prefix ?? "bull" });
  queue.on("error", (err) => (lastError = err));

  try {
    const ids = [];
    for (const { name, data = {}, opts = {} } of jobs) {
      const job = await queue.add(name, data, opts);
      ids.push(job.id);
    }
    if (spec.wait) {
      await waitForJobs(queue, ids, spec.timeout_ms ?? 10000);
    } else {
      for (const id of ids) emit({ id });
    }
  } catch (err) {
    throw lastError && err?.message === "Connection is closed." ? lastError : err;
  } finally {
    await queue.close().catch(() => {});
    connection.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`produce.mjs: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
