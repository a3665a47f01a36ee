// The demo page: log in with a dev token, watch notifications, send test jobs.
import { connectNotifications } from "/demo/static/notifications.js";

const $ = (id) => document.getElementById(id);
const counts = { received: 0, duplicate: 0, connect: 0 };
let client = null;
let who = null;

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `${response.status} ${response.statusText}`);
  return answer;
}

function bump(name) {
  counts[name] += 1;
  $(`${name}-count`).textContent = String(counts[name]);
}

function showState({ state, error, reason }) {
  const badge = $("state");
  badge.dataset.state = state;
  badge.textContent = error ? `${state}: ${error}` : reason ? `${state} (${reason})` : state;
  if (state === "connected") bump("connect");
}

function show(notification, event) {
  bump("received");
  const { id, data, metadata } = notification;
  const item = document.createElement("li");
  item.dataset.traceId = metadata.trace_id;
  item.dataset.event = event;
  const cells = [
    ["event", event],
    ["id", String(id)],
    ["data", JSON.stringify(data)],
    ["time", new Date(metadata.timestamp).toLocaleTimeString()],
    ["trace", metadata.trace_id],
  ];
  for (const [kind, text] of cells) {
    const cell = document.createElement("span");
    cell.className = kind;
    cell.textContent = text;
    item.append(cell);
  }
  $("notifications").prepend(item);
}

function login(event) {
  event.preventDefault();
  client?.close();
  const user = $("user").value.trim();
  const department = $("department").value.trim();
  who = { user, department, namespace: $("namespace").value };
  $("who").textContent = `rooms: user:${user}${department ? `, department:${department}` : ""} on ${who.namespace}`;
  $("target").options[0].textContent = `me (user:${user})`;
  $("target").options[1].textContent = `my department (department:${department || "none"})`;
  client = connectNotifications({
    namespace: who.namespace,
    // Asked on every (re)connect: an expired token is replaced by a fresh one.
    getToken: async () => (await postJSON("/demo/token", { user, department })).token,
    onStateChange: showState,
    onDuplicate: () => bump("duplicate"),
  });
  client.onAny(show);
  $("send").disabled = false;
}

async function send(event) {
  event.preventDefault();
  const result = $("send-result");
  const room = $("target").value === "user" ? `user:${who.user}` : `department:${who.department}`;
  const traceId = $("trace-id").value.trim();
  try {
    const queued = await postJSON("/demo/jobs", {
      event: $("event").value,
      namespace: who.namespace,
      rooms: [room],
      id: $("resource-id").value.trim(),
      data: { status: $("status").value },
      metadata: { triggered_by: who.user, ...(traceId && { trace_id: traceId }) },
    });
    result.className = "hint";
    result.textContent = `queued job ${queued.job_id} on ${queued.queue} (trace ${queued.trace_id})`;
  } catch (error) {
    result.className = "hint error";
    result.textContent = error.message;
  }
}

async function start() {
  const config = await (await fetch("/demo/config")).json();
  for (const [select, values] of [[$("namespace"), config.namespaces], [$("event"), config.events]]) {
    for (const value of values) select.append(new Option(value, value));
  }
  $("login-form").addEventListener("submit", login);
  $("send-form").addEventListener("submit", send);
  document.body.dataset.ready = "true";
}

start();
