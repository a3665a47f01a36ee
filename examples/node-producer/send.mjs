#!/usr/bin/env node
// Send one notification from the command line:
//
//   REDIS_URL=redis://127.0.0.1:6379/0 node examples/node-producer/send.mjs \
//     records:updated '{"namespace":"/data_owner","rooms":["user:42"],"id":"res-1","data":{"status":"ready"}}' \
//     [--job-id records:res-1:1] [--queue critical-events]
//
// Prints {"queue", "jobId", "traceId"} as one JSON line. Environment: REDIS_URL,
// QUEUE_PREFIX (default bull).
import { parseArgs } from "node:util";
import { NotificationProducer } from "./notifier.mjs";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { "job-id": { type: "string" }, queue: { type: "string" } },
});
const [event, payload] = positionals;
if (!event || !payload) {
  process.stderr.write("usage: send.mjs <event> '<json: namespace, rooms, id, data, metadata>' [--job-id ID] [--queue NAME]\n");
  process.exit(2);
}

const notifier = new NotificationProducer({
  redis: process.env.REDIS_URL || undefined,
  prefix: process.env.QUEUE_PREFIX || "bull",
});
try {
  const queued = await notifier.notify(event, JSON.parse(payload), {
    ...(values.queue && { queue: values.queue }),
    ...(values["job-id"] && { jobId: values["job-id"] }),
  });
  process.stdout.write(`${JSON.stringify(queued)}\n`);
} finally {
  await notifier.close();
}
