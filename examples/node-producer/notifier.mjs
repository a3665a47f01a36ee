// A small notification producer for Node services, on npm `bullmq` (CONTRACT §2).
//
//   import { NotificationProducer } from "./notifier.mjs";
//   const notifier = new NotificationProducer({ redis: "redis://127.0.0.1:6379/0" });
//   await notifier.notify("records:updated",
//     { namespace: "/data_owner", rooms: ["department:A"], id: "res-123", data: { status: "ready" } },
//     { jobId: `records:res-123:${updatedAt}` });   // idempotent: added once per id
//   await notifier.close();
//
// The gateway checks every job (an invalid one fails without retry, its failedReason
// naming the field); the Python producer API (producer/) checks before adding.
import { createHash, randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import IORedis from "ioredis";

export const DEFAULT_QUEUE = "critical-events";
// Retried with exponential backoff from 1 s; finished jobs kept for a while (a
// deterministic jobId stays taken while its job is kept).
export const DEFAULT_JOB_OPTIONS = Object.freeze({
  attempts: 3,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: 1000,
  removeOnFail: 5000,
});
// The Python producer's namespace (jobformat/job_ids.py): both derive the same trace id
// from the same (prefix, queue, jobId).
const TRACE_NAMESPACE = "0b3e6f52-8a4d-4c1e-b7a9-5d2f6c8e1a47";

export class NotificationProducer {
  /**
   * @param {{redis?: string, connection?: import("ioredis").Redis, prefix?: string,
   *          defaultQueue?: string, jobOptions?: object}} options
   */
  constructor({ redis = "redis://127.0.0.1:6379/0", connection, prefix = "bull",
                defaultQueue = DEFAULT_QUEUE, jobOptions = {} } = {}) {
    this.ownsConnection = !connection;
    this.connection = connection ?? new IORedis(redis, { maxRetriesPerRequest: null });
    this.prefix = prefix;
    this.defaultQueue = defaultQueue;
    this.jobOptions = { ...DEFAULT_JOB_OPTIONS, ...jobOptions };
    this.queues = new Map();
  }

  queue(name) {
    if (!this.queues.has(name)) {
      this.queues.set(name, new Queue(name, { connection: this.connection, prefix: this.prefix }));
    }
    return this.queues.get(name);
  }

  /**
   * Add one notification job; `event` is the Socket.IO event clients receive.
   * @returns {Promise<{queue: string, jobId: string, traceId: string}>}
   */
  async notify(event, { namespace, rooms, id, data = {}, metadata = {} },
               { queue = this.defaultQueue, jobId, ...options } = {}) {
    const traceId = metadata.trace_id
      ?? (jobId ? uuidv5(`${this.prefix}:${queue}:${jobId}`, TRACE_NAMESPACE) : randomUUID());
    const body = {
      namespace,
      rooms,
      id,
      data,
      metadata: { ...metadata, trace_id: traceId, timestamp: metadata.timestamp ?? new Date().toISOString() },
    };
    const job = await this.queue(queue).add(event, body, {
      ...this.jobOptions, ...options, ...(jobId && { jobId }),
    });
    return { queue, jobId: job.id, traceId };
  }

  async close() {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    if (this.ownsConnection) await this.connection.quit();
  }
}

/** RFC 4122 version 5 (SHA-1, name-based) UUID. */
export function uuidv5(name, namespace) {
  const hash = createHash("sha1")
    .update(Buffer.from(namespace.replaceAll("-", ""), "hex"))
    .update(name, "utf8")
    .digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}
