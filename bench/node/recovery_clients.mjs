#!/usr/bin/env node
// Many stock socket.io-client connections in one process, counting what each receives,
// for bench/recovery_scenarios.py and bench/mass_reconnect.py.
//
//   node bench/node/recovery_clients.mjs     (the spec is the first line on stdin)
//   spec: {"url": "<base-url><namespace>", "tokens": ["<jwt>", ...],
//          "options"?: {...socket.io-client options...}, "batch"?: 50}
//
// Clients use socket.io-client's defaults (reconnection delay 1 s ± 50%, at most 5 s)
// plus `options`; each one's auth is a callback reading its current token, so it can be
// handed a fresh one. Connections are opened `batch` at a time.
// Further stdin lines, one JSON command each; each is answered with one JSON line:
//   {"blip": [i, ...]}              close those clients' transports (they reconnect)
//   {"tokens": [[i, "<jwt>"], ...]} the token each sends from its next connect on
//   {"status": true}                {"connected", "events", "connects", "at"}
//   {"report": ["<id>", ...]}       per-client accounting against the expected ids
//   {"connects_since": <ms>}        every connect and disconnect after that time (epoch ms)
// Exits when stdin closes.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const lines = createInterface({ input: process.stdin });
const iterator = lines[Symbol.asyncIterator]();
const spec = JSON.parse((await iterator.next()).value);

const tokens = [...spec.tokens];
const records = tokens.map(() => ({
  ids: [],
  offsets: [],
  offsetless: 0,
  connects: [], // [epoch ms, recovered]
  disconnects: [], // epoch ms
  errors: 0,
}));
let events = 0;

function open(c) {
  const socket = io(spec.url, { ...(spec.options ?? {}), auth: (cb) => cb({ token: tokens[c] }) });
  const record = records[c];
  socket.on("connect", () => record.connects.push([Date.now(), socket.recovered]));
  socket.on("disconnect", () => record.disconnects.push(Date.now()));
  socket.on("connect_error", () => (record.errors += 1));
  socket.onAny((_event, ...args) => {
    events += 1;
    record.ids.push(args[0]?.id ?? null);
    const last = args[args.length - 1];
    if (args.length > 1 && typeof last === "string") record.offsets.push(last);
    else record.offsetless += 1;
  });
  return socket;
}

const sockets = [];
const batch = spec.batch ?? 50;
for (let n = 0; n < tokens.length; n += batch) {
  const opened = [];
  for (let c = n; c < Math.min(tokens.length, n + batch); c++) {
    const socket = open(c);
    sockets.push(socket);
    opened.push(new Promise((resolve) => socket.once("connect", resolve)));
  }
  await Promise.all(opened);
}

const compare = (a, b) => {
  const [ams, aseq] = a.split("-").map(Number);
  const [bms, bseq] = b.split("-").map(Number);
  return ams - bms || aseq - bseq;
};

function account(record, expected) {
  const got = new Map();
  for (const id of record.ids) got.set(id, (got.get(id) ?? 0) + 1);
  let missed = 0;
  for (const id of expected) if (!got.has(id)) missed += 1;
  const wanted = new Set(expected);
  let stray = 0;
  for (const id of got.keys()) if (!wanted.has(id)) stray += 1;
  const sameOffset = record.offsets.length - new Set(record.offsets).size;
  let outOfOrder = 0;
  for (let i = 1; i < record.offsets.length; i++) {
    if (compare(record.offsets[i - 1], record.offsets[i]) > 0) outOfOrder += 1;
  }
  const reconnects = record.connects.slice(1);
  return {
    missed,
    duplicates: record.ids.length - got.size, // receipts of an id beyond its first
    same_offset_twice: sameOffset, // the same emit twice
    stray,
    out_of_order: outOfOrder,
    offsetless: record.offsetless,
    reconnects: reconnects.length,
    recovered: reconnects.filter(([, recovered]) => recovered).length,
    connect_errors: record.errors,
  };
}

function answer(command) {
  if (command.blip) {
    for (const c of command.blip) sockets[c].io.engine?.close();
    return { ok: true };
  }
  if (command.tokens) {
    for (const [c, token] of command.tokens) tokens[c] = token;
    return { ok: true };
  }
  if (command.status) {
    return {
      connected: sockets.filter((s) => s.connected).length,
      events,
      connects: records.reduce((n, r) => n + r.connects.length, 0),
      min_events: Math.min(...records.map((r) => r.ids.length)),
      at: Date.now(),
    };
  }
  if (command.report) return { clients: records.map((r) => account(r, command.report)) };
  if (command.connects_since !== undefined) {
    return {
      connects: records.map((r) => r.connects.filter(([at]) => at > command.connects_since)),
      disconnects: records.map((r) => r.disconnects.filter((at) => at > command.connects_since)),
    };
  }
  return { error: `unknown command ${JSON.stringify(command)}` };
}

emit({ ready: tokens.length });
for await (const line of iterator) {
  if (line.trim()) emit(answer(JSON.parse(line)));
}
for (const socket of sockets) socket.disconnect();
setTimeout(() => process.exit(0), 100);
