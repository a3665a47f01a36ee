// @ts-check
/**
 * A small client for the notification gateway, on top of socket.io-client (v4).
 *
 * No build step: this is a plain ES module. "socket.io-client" resolves through
 * node_modules (Node, bundlers) or an import map (a plain page, see gateway/web/demo/).
 *
 *   import { connectNotifications } from "./notifications.js";
 *   const client = connectNotifications({
 *     url: "https://gateway.example.com",
 *     namespace: "/data_owner",
 *     getToken: () => auth.freshToken(),        // called on every (re)connect
 *     onStateChange: ({ state }) => render(state),
 *     onResync: () => reloadFromApi(),          // a reconnect that may have missed some
 *   });
 *   const off = client.on("records:updated", ({ id, data, metadata }) => update(id, data));
 *
 * - The token getter is called again on every reconnect, so an expired token (the
 *   gateway closes the connection when it expires) is replaced by a fresh one.
 * - Delivery is at least once: notifications whose `metadata.trace_id` was seen among
 *   the last `dedupeSize` (1,000) trace ids are dropped (`onDuplicate` hears of them).
 * - Websocket transport by default (no sticky sessions needed behind a load balancer).
 * - Connection state recovery: on a reconnect the gateway replays what this client missed
 *   and socket.io-client sets `socket.recovered`. When it could not (the gap was older
 *   than the gateway keeps, too long, or the gateway has recovery off), `onResync` is
 *   called once for that reconnect, so the app reloads its state from its own API.
 * - Each notification event carries its offset as a last argument, which socket.io-client
 *   keeps for recovery. Handlers here get `(notification, event)` only: the offset is
 *   the transport's business, and a handler that took a third parameter would break the
 *   day the gateway has recovery off.
 */
import { io } from "socket.io-client";

export const DEFAULT_DEDUPE_SIZE = 1000;

/** Refusals after which retrying with a fresh token can help. */
const TOKEN_ERRORS = new Set(["Invalid token", "Authentication failed"]);
const MAX_TOKEN_RETRIES = 3;

/**
 * @typedef {{ trace_id: string, timestamp: string, [key: string]: unknown }} NotificationMetadata
 */
/**
 * What every notification event carries (CONTRACT §4).
 * @template [D=Record<string, unknown>]
 * @typedef {{ id: string | number, data: D, metadata: NotificationMetadata }} Notification
 */
/**
 * @typedef {"connecting" | "connected" | "reconnecting" | "disconnected" | "failed"} ConnectionState
 * - connecting: first attempt; connected: receiving; reconnecting: lost, retrying on its own;
 * - disconnected: closed by `close()`; failed: refused for good (e.g. "Invalid namespace").
 */
/**
 * @typedef {object} StateChange
 * @property {ConnectionState} state
 * @property {string} [reason]   why the connection was lost (socket.io's disconnect reason)
 * @property {string} [error]    the gateway's refusal ("Invalid token", ...) or a transport error
 * @property {number} [attempt]  reconnection attempt, from 1
 */
/**
 * @typedef {object} NotificationClientOptions
 * @property {string} namespace            e.g. "/data_owner"
 * @property {() => (string | null | undefined | Promise<string | null | undefined>)} getToken
 *   the JWT to connect with; called on every connect and reconnect
 * @property {string} [url]                the gateway's base URL; default: this page's origin
 * @property {string[]} [transports]       default ["websocket"]
 * @property {number} [dedupeSize]         trace ids remembered, default 1000
 * @property {number} [reconnectionDelay]  ms before the first retry, default 500
 * @property {number} [reconnectionDelayMax] ms between retries at most, default 2000
 * @property {(change: StateChange) => void} [onStateChange]
 * @property {(event: string, notification: Notification) => void} [onDuplicate]
 * @property {() => void} [onResync]
 *   a reconnect was not recovered: notifications may have been missed, reload the state
 *   from the app's API. Not called on the first connect, nor on a recovered reconnect.
 * @property {Record<string, unknown>} [socketOptions] passed on to socket.io-client's `io()`
 */

/**
 * The last `capacity` trace ids, least recently seen evicted first.
 */
export class TraceIdCache {
  /** @type {Map<string, true>} */
  #ids = new Map();
  #capacity;

  /** @param {number} [capacity] */
  constructor(capacity = DEFAULT_DEDUPE_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /**
   * True when `id` was seen before (it becomes the most recent); otherwise remembers it.
   * @param {string} id
   * @returns {boolean}
   */
  seen(id) {
    const known = this.#ids.delete(id);
    this.#ids.set(id, true);
    if (!known && this.#ids.size > this.#capacity) {
      this.#ids.delete(/** @type {string} */ (this.#ids.keys().next().value));
    }
    return known;
  }

  get size() {
    return this.#ids.size;
  }
}

/**
 * @template {Record<string, unknown>} [Events=Record<string, Record<string, unknown>>]
 *   event name -> the type of its `data`
 */
export class NotificationClient {
  /** @type {ConnectionState} */
  #state = "disconnected";
  #options;
  #seen;
  /** @type {Map<string, Set<(notification: any, event: any) => void>>} */
  #handlers = new Map();
  #closed = true;
  #tokenRetries = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** Set by the first connect; any connect after it is a reconnect (even after `close()`). */
  #connectedBefore = false;

  /** @param {NotificationClientOptions} options */
  constructor(options) {
    if (!options || typeof options.getToken !== "function") {
      throw new TypeError("options.getToken must be a function");
    }
    if (typeof options.namespace !== "string" || !options.namespace.startsWith("/")) {
      throw new TypeError('options.namespace must look like "/service_name"');
    }
    this.#options = options;
    this.#seen = new TraceIdCache(options.dedupeSize ?? DEFAULT_DEDUPE_SIZE);
    const base = (options.url ?? "").replace(/\/+$/, "");
    /** The underlying socket.io-client Socket (for what this class doesn't cover). */
    this.socket = io(base + options.namespace, {
      autoConnect: false,
      transports: options.transports ?? ["websocket"],
      reconnectionDelay: options.reconnectionDelay ?? 500,
      reconnectionDelayMax: options.reconnectionDelayMax ?? 2000,
      ...options.socketOptions,
      // A function, so socket.io-client asks again on every (re)connect.
      auth: (callback) => {
        Promise.resolve()
          .then(() => options.getToken())
          .then(
            (token) => callback(token ? { token } : {}),
            () => callback({}), // the gateway answers "Authentication failed"
          );
      },
    });
    this.#wire();
  }

  /** @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  get connected() {
    return this.socket.connected;
  }

  /** Connect (again, after `close()`). */
  connect() {
    this.#closed = false;
    this.#tokenRetries = 0;
    this.#setState({ state: "connecting" });
    this.socket.connect();
    return this;
  }

  /**
   * Subscribe to one event (the BullMQ job name, e.g. "records:updated").
   * Each notification reaches the handlers once, even when delivered twice.
   * @template {keyof Events & string} E
   * @param {E} event
   * @param {(notification: Notification<Events[E]>, event: E) => void} handler
   * @returns {() => void} unsubscribes
   */
  on(event, handler) {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Subscribe to every notification event.
   * @param {(notification: Notification, event: string) => void} handler
   * @returns {() => void} unsubscribes
   */
  onAny(handler) {
    return this.on(/** @type {any} */ ("*"), /** @type {any} */ (handler));
  }

  /** Disconnect for good (until `connect()`). */
  close() {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.socket.disconnect();
    this.#setState({ state: "disconnected", reason: "io client disconnect" });
  }

  #wire() {
    const socket = this.socket;
    socket.on("connect", () => {
      this.#tokenRetries = 0;
      // `recovered` is true only when the gateway replayed everything since the last
      // offset; false, or undefined when the gateway handed out no pid (recovery off),
      // means a gap of unknown size.
      const resync = this.#connectedBefore && socket.recovered !== true;
      this.#connectedBefore = true;
      this.#setState({ state: "connected" });
      if (resync) this.#call(() => this.#options.onResync?.());
    });
    socket.on("disconnect", (reason) => {
      if (this.#closed) return;
      if (reason === "io server disconnect") socket.connect(); // not retried by socket.io
      this.#setState({ state: "reconnecting", reason });
    });
    socket.io.on("reconnect_attempt", (attempt) => {
      if (!this.#closed) this.#setState({ state: "reconnecting", attempt });
    });
    socket.on("connect_error", (error) => this.#refused(error));
    // args[0] is the notification; a last string argument is its offset (see above).
    socket.onAny((event, ...args) => this.#deliver(event, args[0]));
  }

  /** @param {Error} error */
  #refused(error) {
    if (this.#closed) return;
    if (this.socket.active) {
      // A transport error: socket.io-client retries on its own.
      this.#setState({ state: this.#state === "connecting" ? "connecting" : "reconnecting", error: error.message });
      return;
    }
    // Refused by the gateway. A token that expired between the getter and the
    // handshake is worth another try with a fresh one; anything else is final.
    if (TOKEN_ERRORS.has(error.message) && this.#tokenRetries < MAX_TOKEN_RETRIES) {
      this.#tokenRetries += 1;
      const delay = Math.min(
        (this.#options.reconnectionDelay ?? 500) * this.#tokenRetries,
        this.#options.reconnectionDelayMax ?? 2000,
      );
      this.#setState({ state: "reconnecting", error: error.message, attempt: this.#tokenRetries });
      this.#retryTimer = setTimeout(() => this.#closed || this.socket.connect(), delay);
      return;
    }
    this.#setState({ state: "failed", error: error.message });
  }

  /**
   * @param {string} event
   * @param {any} notification
   */
  #deliver(event, notification) {
    const traceId = notification?.metadata?.trace_id;
    if (typeof traceId === "string" && this.#seen.seen(traceId)) {
      this.#call(() => this.#options.onDuplicate?.(event, notification));
      return;
    }
    for (const key of [event, "*"]) {
      for (const handler of this.#handlers.get(key) ?? []) {
        this.#call(() => handler(notification, event));
      }
    }
  }

  /** @param {StateChange} change */
  #setState(change) {
    this.#state = change.state;
    this.#call(() => this.#options.onStateChange?.(change));
  }

  /** A throwing handler must not keep the others from running. @param {() => void} fn */
  #call(fn) {
    try {
      fn();
    } catch (error) {
      console.error("notifications: handler failed", error);
    }
  }
}

/**
 * Create a client and connect it.
 * @template {Record<string, unknown>} [Events=Record<string, Record<string, unknown>>]
 * @param {NotificationClientOptions} options
 * @returns {NotificationClient<Events>}
 */
export function connectNotifications(options) {
  return /** @type {NotificationClient<Events>} */ (new NotificationClient(options).connect());
}
