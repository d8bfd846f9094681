// live-resource: the browser client of the live-resource server.
//
// A live resource is a topic's state, kept current: the client subscribes,
// takes a snapshot, then folds every numbered update into it (RFC 7396 merge
// patches, RFC 6902 JSON Patch, or a replacement). What arrives before the
// snapshot is held and cut at its version. Duplicates are dropped; a
// gap, or a heartbeat that names an update never received, resumes from the
// last version; a server that cannot replay sends a new snapshot, swapped in
// whole. Many topics share one WebSocket per base URL; where WebSockets are
// blocked, one Server-Sent Events stream carries them all (see SseStream). A
// topic no subscriber follows any more is let go after a grace period, its
// state with it. No dependencies, no build step.
//
// Versions are JavaScript numbers: exact up to 2^53, which the crate's hubs
// stay below (versions from the clock are microseconds since 1970).
//
//   import { liveResource } from "/live/client.js";
//   const quotes = liveResource("", "quotes");
//   const subscription = quotes.subscribe((board) => render(board));
//   subscription.unsubscribe();
//
// The wire protocol is the crate's (see its `protocol` module).

const OBSERVABLE_KEYS = ["@@observable"];
if (typeof Symbol === "function" && typeof Symbol.observable === "symbol") {
  OBSERVABLE_KEYS.push(Symbol.observable);
}

const OPEN = 1; // WebSocket.OPEN, also for sockets that do not define it

const DEFAULTS = {
  transport: "auto",
  backoff: { initialMs: 500, maxMs: 30_000, healthyAfterMs: 60_000 },
  idleTimeoutMs: 45_000,
  maxBuffered: 10_000,
  lingerMs: 1_000,
  releaseAfterMs: 5_000,
  sseDebounceMs: 50,
};

/** An error of a resource: `code` is the server's error code, or one of the client's. */
export class LiveResourceError extends Error {
  constructor(code, message, topic) {
    super(message);
    this.name = "LiveResourceError";
    this.code = code;
    this.topic = topic;
  }
}

// ---------------------------------------------------------------- patches

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** Sets an own member, even one named `__proto__`, without touching prototypes. */
function setOwn(object, key, value) {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

/**
 * RFC 7396 JSON Merge Patch: `patch` merged into `target`, deep, `null`
 * deleting. Neither argument is changed: the result shares every member the
 * patch does not touch with `target`, so unchanged parts keep their identity.
 */
export function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const base = isObject(target) ? target : {};
  let out = isObject(target) ? null : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    const had = hasOwn(base, key);
    if (value === null) {
      if (had) {
        out ??= { ...base };
        delete out[key];
      }
      continue;
    }
    const before = had ? base[key] : undefined;
    const after = mergePatch(before, value);
    if (!had || after !== before) {
      out ??= { ...base };
      setOwn(out, key, after);
    }
  }
  return out ?? target;
}

/** A JSON Pointer (RFC 6901) as its reference tokens. */
function pointer(path, op) {
  if (path === "") return [];
  if (typeof path !== "string" || path[0] !== "/") {
    throw new LiveResourceError("apply_failed", `${op}: \`${path}\` is not a JSON Pointer`);
  }
  return path
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token)) {
        throw new LiveResourceError("apply_failed", `${op}: bad escape in \`${path}\``);
      }
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

/** The array index a token names, or an error; `-` is the end when `end` is allowed. */
function index(token, length, op, { end = false, past = false } = {}) {
  if (token === "-" && end) return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new LiveResourceError("apply_failed", `${op}: ${token} is not an array index`);
  }
  const at = Number(token);
  if (at > length || (at === length && !past)) {
    throw new LiveResourceError("apply_failed", `${op}: index ${at} out of bounds`);
  }
  return at;
}

function get(doc, tokens, op, what = "the path") {
  let node = doc;
  for (const token of tokens) {
    if (Array.isArray(node)) node = node[index(token, node.length, op)];
    else if (isObject(node) && hasOwn(node, token)) node = node[token];
    else throw new LiveResourceError("apply_failed", `${op}: nothing at ${what}`);
  }
  return node;
}

/**
 * `doc` with the container at `tokens[..-1]` replaced by `edit(container,
 * lastToken)`'s result, copying only the containers on the way.
 */
function edit(doc, tokens, op, change) {
  if (tokens.length === 0) return change(undefined, undefined);
  const [head, ...rest] = tokens;
  if (rest.length === 0) {
    if (Array.isArray(doc) || isObject(doc)) return change(doc, head);
    throw new LiveResourceError("apply_failed", `${op}: the parent is not a container`);
  }
  if (Array.isArray(doc)) {
    const at = index(head, doc.length, op);
    const copy = doc.slice();
    copy[at] = edit(doc[at], rest, op, change);
    return copy;
  }
  if (isObject(doc) && hasOwn(doc, head)) {
    const copy = { ...doc };
    setOwn(copy, head, edit(doc[head], rest, op, change));
    return copy;
  }
  throw new LiveResourceError("apply_failed", `${op}: the parent of the path does not exist`);
}

function add(doc, tokens, value, op) {
  if (tokens.length === 0) return value;
  return edit(doc, tokens, op, (parent, key) => {
    if (Array.isArray(parent)) {
      const at = index(key, parent.length, op, { end: true, past: true });
      const copy = parent.slice();
      copy.splice(at, 0, value);
      return copy;
    }
    const copy = { ...parent };
    setOwn(copy, key, value);
    return copy;
  });
}

function remove(doc, tokens, op) {
  if (tokens.length === 0) throw new LiveResourceError("apply_failed", `${op}: cannot remove the whole document`);
  return edit(doc, tokens, op, (parent, key) => {
    if (Array.isArray(parent)) {
      const at = index(key, parent.length, op);
      const copy = parent.slice();
      copy.splice(at, 1);
      return copy;
    }
    if (!hasOwn(parent, key)) throw new LiveResourceError("apply_failed", `${op}: nothing at the path`);
    const copy = { ...parent };
    delete copy[key];
    return copy;
  });
}

/** Whether two JSON values are equal (member order aside). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

/**
 * RFC 6902 JSON Patch: `operations` applied to `doc` in order, all or none.
 * `doc` is not changed; on failure a `LiveResourceError` (code
 * `apply_failed`) is thrown and nothing is applied.
 */
export function applyPatch(doc, operations) {
  if (!Array.isArray(operations)) throw new LiveResourceError("apply_failed", "a JSON Patch is an array");
  let out = doc;
  for (const operation of operations) {
    const op = operation?.op;
    const path = pointer(operation?.path, op);
    switch (op) {
      case "add":
        out = add(out, path, operation.value, op);
        break;
      case "remove":
        out = remove(out, path, op);
        break;
      case "replace":
        get(out, path, op);
        out = path.length === 0 ? operation.value : add(remove(out, path, op), path, operation.value, op);
        break;
      case "move": {
        const from = pointer(operation.from, op);
        if (from.length < path.length && from.every((token, i) => token === path[i])) {
          throw new LiveResourceError("apply_failed", "move: path is inside from");
        }
        const value = get(out, from, op, "from");
        out = add(remove(out, from, op), path, value, op);
        break;
      }
      case "copy":
        out = add(out, path, get(out, pointer(operation.from, op), op, "from"), op);
        break;
      case "test":
        if (!jsonEqual(get(out, path, op), operation.value)) {
          throw new LiveResourceError("apply_failed", `test: the value at \`${operation.path}\` differs`);
        }
        break;
      default:
        throw new LiveResourceError("apply_failed", `unknown operation \`${op}\``);
    }
  }
  return out;
}

/** One update of the wire protocol (`merge`, `patch` or `replace`) applied to `state`. */
export function applyUpdate(state, update) {
  if ("merge" in update) return mergePatch(state, update.merge);
  if ("patch" in update) return applyPatch(state, update.patch);
  if ("replace" in update) return update.replace;
  throw new LiveResourceError("bad_message", "an update with neither merge, patch nor replace");
}

/**
 * The delay before reconnect `attempt` (from 0 after a healthy period): up
 * to `initialMs` for the first, then a random 50 % to 150 % of `initialMs`
 * doubled each time, never more than `maxMs` (the Rust client's `Backoff`).
 */
export function backoffDelay(attempt, { initialMs = 500, maxMs = 30_000 } = {}, random = Math.random) {
  if (attempt <= 0) return Math.min(initialMs, maxMs) * random();
  const base = Math.min(initialMs * 2 ** (attempt - 1), maxMs);
  return Math.min(base * (0.5 + random()), maxMs);
}

// ---------------------------------------------------------------- observables

/** Calls an observer's callback; what it throws is reported, not let into the client. */
function call(fn, value) {
  if (typeof fn !== "function") return;
  try {
    fn(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function toObserver(nextOrObserver) {
  if (typeof nextOrObserver === "function") return { next: nextOrObserver };
  return nextOrObserver ?? {};
}

/** Gives `target` its `[Symbol.observable]()` (and `@@observable`) for RxJS's `from`. */
function observable(target) {
  for (const key of OBSERVABLE_KEYS) {
    Object.defineProperty(target, key, { value: function () { return this; }, configurable: true });
  }
}

/** A small observable of a changing value: the current one first, then each change. */
class Watch {
  constructor(value) {
    this.current = value;
    this.observers = new Set();
  }
  set(value) {
    if (value === this.current) return;
    this.current = value;
    for (const observer of [...this.observers]) call(observer.next?.bind(observer), value);
  }
  subscribe(nextOrObserver) {
    const observer = toObserver(nextOrObserver);
    this.observers.add(observer);
    call(observer.next?.bind(observer), this.current);
    return { unsubscribe: () => this.observers.delete(observer) };
  }
}
observable(Watch.prototype);

// ---------------------------------------------------------------- a resource

let nextSubscriptionId = 1;

/**
 * One topic's state. Made by `liveResource`; shared by every call for the
 * same topic and base URL. It follows the server while it has subscribers.
 */
class Resource {
  constructor(connection, topic) {
    this.connection = connection;
    this.topic = topic;
    /** The current state, `undefined` before the first snapshot. */
    this.value = undefined;
    /** The version of `value`. */
    this.version = undefined;
    /** The last error, recovered from or not. */
    this.error = undefined;
    /** What happened so far: for diagnostics and tests. */
    this.stats = { snapshots: 0, applied: 0, duplicates: 0, gaps: 0, resyncs: 0, reconnects: 0 };
    this.statuses = new Watch("connecting");
    this.observers = new Set();
    // What the client waits for: a snapshot (updates are held meanwhile), the
    // answer to a resume from `version`, or nothing (live).
    this.phase = "snapshot";
    this.buffer = [];
    this.recovery = { attempt: 0, liveSince: 0, timer: undefined };
    // While set, the last subscriber is gone and the topic is let go when
    // it fires, unless a subscriber comes back first.
    this.release = undefined;
  }

  /** `connecting`, `live`, `resyncing`, `reconnecting`, `failed` or `closed`. */
  get status() {
    return this.statuses.current;
  }

  /**
   * Follows the resource: `nextOrObserver` gets the current state at once (if
   * there is one), then every new state. Returns this subscriber's own
   * subscription: `unsubscribe()` ends it and no other.
   */
  subscribe(nextOrObserver) {
    return this.#add({ ...toObserver(nextOrObserver), id: nextSubscriptionId++ }, (o) => {
      if (this.value !== undefined) call(o.next?.bind(o), this.value);
    });
  }

  /** @internal Row-level change records, for `rowEvents`. */
  _subscribeChanges(change, error) {
    return this.#add({ change, error, id: nextSubscriptionId++ }, (o) => {
      if (this.value !== undefined) o.change({ reset: true, before: undefined, after: this.value, update: undefined });
    });
  }

  #add(observer, greet) {
    const first = this.observers.size === 0;
    this.observers.add(observer);
    if (first && this.release !== undefined) {
      // Back within the grace period: still followed, nothing to ask.
      this.connection.clock.clearTimeout(this.release);
      this.release = undefined;
    } else if (first) {
      if (this.status === "failed" || this.status === "closed") this.#setStatus("connecting");
      this.connection._activate(this);
    }
    greet(observer);
    let closed = false;
    return {
      get closed() {
        return closed;
      },
      unsubscribe: () => {
        if (closed) return;
        closed = true;
        if (this.observers.delete(observer) && this.observers.size === 0) this.#release();
      },
    };
  }

  /**
   * The last subscriber is gone: after `releaseAfterMs` the server is told
   * and the state dropped, so that a page that follows many short-lived
   * topics stays bounded. A subscriber that comes back before finds it as
   * it was.
   */
  #release() {
    const { clock, options } = this.connection;
    const go = () => {
      this.release = undefined;
      this.#stop("closed");
      this.value = this.version = undefined;
      this.buffer = [];
      this.phase = "snapshot";
      this.connection._forget(this);
    };
    if (options.releaseAfterMs > 0) this.release = clock.setTimeout(go, options.releaseAfterMs);
    else go();
  }

  #stop(status, subscribed = true) {
    this.connection.clock.clearTimeout(this.recovery.timer);
    this.recovery.timer = undefined;
    this.connection._deactivate(this, subscribed);
    this.#setStatus(status);
  }

  #setStatus(status) {
    if (status === "live" && this.status !== "live") this.recovery.liveSince = this.connection.clock.now();
    this.statuses.set(status);
  }

  // -- what a transport tells the resource

  /** The transport can carry requests: subscribe, or resume from `version`. */
  _ask() {
    this.connection.clock.clearTimeout(this.recovery.timer);
    this.recovery.timer = undefined;
    if (this.version === undefined) {
      this.phase = "snapshot";
      this.buffer = [];
    } else {
      this.phase = "resume";
    }
    this.connection._subscribe(this, this.phase === "resume" ? this.version : undefined);
  }

  /**
   * What a new stream asks for this topic: the version to resume from, or
   * `undefined` for a snapshot. A resume waits for its answer (a replay, or
   * a heartbeat at the version).
   */
  _resumeFrom() {
    if (this.phase === "snapshot" || this.version === undefined) return undefined;
    this.phase = "resume";
    return this.version;
  }

  _disconnected() {
    if (this.observers.size > 0 && this.status !== "failed") this.#setStatus("reconnecting");
  }

  _snapshot(version, data) {
    if (this.phase !== "snapshot") return;
    const held = this.buffer;
    this.buffer = [];
    let state = data;
    let at = version;
    let gap = false;
    // Held updates older than the snapshot are in it; newer ones follow it.
    try {
      for (const update of held) {
        if (update.seq <= at) continue;
        if (update.seq !== at + 1) {
          gap = true;
          break;
        }
        state = applyUpdate(state, update);
        at = update.seq;
      }
    } catch (error) {
      this.#failedToApply(error);
      return;
    }
    const before = this.value;
    this.value = state;
    this.version = at;
    this.stats.snapshots += 1;
    this.phase = "live";
    this.#emit({ reset: true, before, after: state, update: undefined });
    if (gap) this.#recover("gap");
    else this.#setStatus("live");
  }

  _update(update) {
    if (this.phase === "snapshot") {
      this.buffer.push(update);
      if (this.buffer.length > this.connection.options.maxBuffered) {
        // Too much came before the snapshot: ask for a newer one.
        this.buffer = [];
        this.#recover("resync");
      }
      return;
    }
    const seq = update.seq;
    if (typeof seq === "number" && seq <= this.version) {
      this.stats.duplicates += 1;
      return;
    }
    if (typeof seq === "number" && seq !== this.version + 1) {
      // While a resume is asked for, the old stream's later updates may
      // still be on their way: the replay brings them again, in order.
      if (this.phase !== "resume") this.#recover("gap");
      return;
    }
    let state;
    try {
      state = applyUpdate(this.value, update);
    } catch (error) {
      this.#failedToApply(error);
      return;
    }
    const before = this.value;
    this.value = state;
    if (typeof seq === "number") this.version = seq;
    this.stats.applied += 1;
    this.phase = "live";
    this.#emit({ reset: false, before, after: state, update });
    this.#setStatus("live");
  }

  _heartbeat(seq) {
    if (typeof seq !== "number") return;
    if (this.phase === "resume" && seq === this.version) {
      this.phase = "live";
      this.#setStatus("live");
    } else if (this.phase === "live" && seq > this.version) {
      // The server sent an update this client never received, and nothing
      // since to show the gap: resume from what it has.
      this.#recover("gap");
    }
  }

  _resync() {
    this.#recover("resync");
  }

  _error(code, message) {
    this.error = new LiveResourceError(code, message, this.topic);
    if (code === "unknown_topic" || code === "forbidden") {
      const observers = [...this.observers];
      this.observers.clear();
      // The server holds no subscription after this error: none to end.
      this.#stop("failed", false);
      for (const o of observers) call(o.error?.bind(o), this.error);
      return;
    }
    // Unavailable for now, or too many topics on this connection: later.
    this.#recover("retry");
  }

  #failedToApply(error) {
    this.error = error;
    this.#recover("resync");
  }

  /**
   * Recovers from a gap (resume from `version`, at once) or a lost replay
   * (a new snapshot). The first new snapshot after a healthy period is asked
   * for at once, further ones after a backoff: a server (or a cache in
   * front of it) that keeps answering with resyncs cannot cause a storm of
   * snapshots.
   */
  #recover(why) {
    if (why === "gap") this.stats.gaps += 1;
    if (why === "resync") this.stats.resyncs += 1;
    const { clock, options } = this.connection;
    const wantSnapshot = why === "resync" || this.version === undefined;
    let delay = 0;
    if (wantSnapshot) {
      if (clock.now() - this.recovery.liveSince >= options.backoff.healthyAfterMs) this.recovery.attempt = 0;
      const attempt = this.recovery.attempt++;
      if (attempt > 0) delay = backoffDelay(attempt, options.backoff, this.connection.random);
    }
    this.#setStatus("resyncing");
    // Set now, so that what arrives meanwhile is held or ignored as it must.
    this.phase = wantSnapshot ? "snapshot" : "resume";
    if (wantSnapshot) this.buffer = [];
    clock.clearTimeout(this.recovery.timer);
    const go = () => {
      this.recovery.timer = undefined;
      if (!this.connection.active.has(this)) return;
      this.connection._subscribe(this, wantSnapshot ? undefined : this.version);
    };
    if (delay === 0) go();
    else this.recovery.timer = clock.setTimeout(go, delay);
  }

  #emit(change) {
    for (const o of [...this.observers]) {
      if (o.change) call(o.change, change);
      else call(o.next?.bind(o), this.value);
    }
  }
}
observable(Resource.prototype);

// ---------------------------------------------------------------- Server-Sent Events

/**
 * Every topic of a connection whose WebSockets are blocked, on one event
 * stream (`GET /live/sse`): over HTTP/1.1 a browser opens at most six
 * connections to a server, so one stream per topic would not do. Its
 * messages are the WebSocket protocol's, each naming its topic.
 *
 * The stream names its topics when it opens, each with the version to
 * resume from (none: a snapshot first). So a topic added or let go, or one
 * that must ask again (a gap, a resync), opens the stream anew, with every
 * topic's current version: topics asked for together (a page's first
 * render) wait `sseDebounceMs` and share one new stream. The client opens
 * it again itself after a failure, with backoff; the event `id` (every
 * topic's version) is for other clients.
 */
class SseStream {
  constructor(connection) {
    this.connection = connection;
    this.source = undefined;
    this.attempt = 0;
    this.openedAt = undefined;
    this.lastEvent = 0;
    // A new stream due (after the debounce or a backoff), and the idle watch.
    this.timer = undefined;
    this.idle = undefined;
  }

  /** The topics or their resume points changed: a new stream soon. */
  renew() {
    if (this.timer !== undefined) return;
    const { clock, options } = this.connection;
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.#open();
    }, options.sseDebounceMs);
  }

  /** `resource` left; a new stream without it if the server still sends it. */
  drop(resource, subscribed) {
    if (this.connection.active.size === 0) this.close();
    else if (subscribed) this.renew();
  }

  #open() {
    this.#closeSource();
    const { connection } = this;
    const topics = [...connection.active].map((resource) => [resource.topic, resource._resumeFrom()]);
    if (topics.length === 0) return;
    const source = new connection.EventSource(connection.urls.stream(topics), {
      withCredentials: connection.options.withCredentials ?? false,
    });
    this.source = source;
    source.onmessage = (event) => {
      if (this.source !== source) return;
      this.lastEvent = connection.clock.now();
      connection._receive(event.data);
    };
    source.onopen = () => {
      if (this.source !== source) return;
      this.lastEvent = this.openedAt = connection.clock.now();
      connection._streamOpened();
      this.#watch();
    };
    // A refusal of the whole stream (a 400) and a lost one alike: again
    // after a backoff. Refusals of topics come as their `error` messages.
    source.onerror = () => {
      if (this.source === source) this.#lost();
    };
  }

  #watch() {
    const { clock, options } = this.connection;
    if (!(options.idleTimeoutMs > 0)) return;
    const check = () => {
      const quiet = clock.now() - this.lastEvent;
      if (quiet >= options.idleTimeoutMs) this.#lost();
      else this.idle = clock.setTimeout(check, options.idleTimeoutMs - quiet);
    };
    this.idle = clock.setTimeout(check, options.idleTimeoutMs);
  }

  /** The stream failed or fell silent: again after a backoff. */
  #lost() {
    const { connection } = this;
    const { clock, options } = connection;
    if (this.openedAt !== undefined && clock.now() - this.openedAt >= options.backoff.healthyAfterMs) this.attempt = 0;
    this.#closeSource();
    for (const resource of connection.active) resource._disconnected();
    connection._streamLost();
    clock.clearTimeout(this.timer);
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.#open();
    }, backoffDelay(this.attempt++, options.backoff, connection.random));
  }

  #closeSource() {
    this.connection.clock.clearTimeout(this.idle);
    this.idle = this.openedAt = undefined;
    if (this.source) {
      const source = this.source;
      this.source = undefined;
      source.onopen = source.onerror = source.onmessage = null;
      source.close();
    }
  }

  close() {
    this.connection.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.#closeSource();
  }
}

// ---------------------------------------------------------------- a connection

function urlsFor(baseUrl) {
  const here = globalThis.location?.href;
  const url = new URL(baseUrl || "/", here);
  const root = url.origin + url.pathname.replace(/\/+$/, "");
  const query = url.search;
  return {
    key: root + query,
    ws: root.replace(/^http/, "ws") + "/live/ws" + query,
    listing: root + "/live" + query,
    /** The stream of `topics`, `[topic, since]` pairs (`since` may be undefined). */
    stream: (topics) => {
      const params = new URLSearchParams(query);
      for (const [topic] of topics) params.append("topic", topic);
      for (const [topic, since] of topics) {
        if (since !== undefined) params.append("since", `${topic}:${since}`);
      }
      return `${root}/live/sse?${params}`;
    },
  };
}

/**
 * One WebSocket to a server, shared by every resource of its base URL, or
 * one event stream when WebSockets are blocked (`transport`).
 */
class Connection {
  constructor(baseUrl, options = {}) {
    this.urls = urlsFor(baseUrl);
    this.options = {
      ...DEFAULTS,
      ...options,
      backoff: { ...DEFAULTS.backoff, ...options.backoff },
    };
    const g = globalThis;
    this.WebSocket = options.WebSocket ?? g.WebSocket;
    this.EventSource = options.EventSource ?? g.EventSource;
    this.fetch = options.fetch ?? ((...args) => g.fetch(...args));
    this.clock = options.clock ?? {
      now: () => Date.now(),
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id),
    };
    this.random = options.random ?? Math.random;
    /** `websocket` or `sse`: what carries the topics now. */
    this.transport = this.options.transport === "sse" || !this.WebSocket ? "sse" : "websocket";
    /** `idle`, `connecting`, `open` or `reconnecting`. */
    this.statuses = new Watch("idle");
    /** How many times the connection was made again after it was lost. */
    this.reconnects = 0;
    // The backoff's retry count: back to 0 only after a healthy period.
    this.attempt = 0;
    this.resources = new Map();
    this.active = new Set();
    this.socket = undefined;
    this.socketOpen = false;
    this.sse = undefined;
    this.everOpened = false;
    this.openedAt = 0;
    this.lastMessage = 0;
    this.timers = { reconnect: undefined, idle: undefined, linger: undefined };
  }

  get status() {
    return this.statuses.current;
  }

  /** The resource of `topic` on this connection, made on first use. */
  resource(topic) {
    let resource = this.resources.get(topic);
    if (!resource) {
      resource = new Resource(this, topic);
      this.resources.set(topic, resource);
    }
    return resource;
  }

  /** Ends the connection and every resource's following, for good. */
  close() {
    this.sse?.close();
    this.active.clear();
    this.#dropSocket();
    for (const timer of Object.values(this.timers)) this.clock.clearTimeout(timer);
    this.statuses.set("idle");
    if (registry.get(this.urls.key) === this) registry.delete(this.urls.key);
  }

  _activate(resource) {
    // Let go before and asked for again: it takes its place back.
    if (!this.resources.has(resource.topic)) this.resources.set(resource.topic, resource);
    this.active.add(resource);
    this.clock.clearTimeout(this.timers.linger);
    if (this.transport === "sse") {
      resource._ask();
    } else if (this.socketOpen) {
      // Its answer is on its way: silence is counted from now.
      this.lastMessage = this.clock.now();
      resource._ask();
    } else if (!this.socket && this.timers.reconnect === undefined) {
      this.#open();
    }
  }

  _deactivate(resource, subscribed) {
    if (!this.active.delete(resource)) return;
    if (this.transport === "sse") this.sse?.drop(resource, subscribed);
    else if (subscribed) this.#send({ type: "unsubscribe", topic: resource.topic });
    if (this.active.size === 0 && this.socket) {
      this.timers.linger = this.clock.setTimeout(() => {
        if (this.active.size === 0) {
          this.#dropSocket();
          this.statuses.set("idle");
        }
      }, this.options.lingerMs);
    }
  }

  /** `resource` was let go: a later `liveResource` for its topic makes a new one. */
  _forget(resource) {
    if (this.resources.get(resource.topic) === resource) this.resources.delete(resource.topic);
  }

  /** Asks for `resource`'s topic: from `since`, or with a snapshot first. */
  _subscribe(resource, since) {
    if (!this.active.has(resource)) return;
    if (this.transport === "sse") {
      // The stream names each topic's version when it opens.
      this.sse ??= new SseStream(this);
      this.sse.renew();
      return;
    }
    const request = { type: "subscribe", topic: resource.topic };
    if (since !== undefined) request.since = since;
    this.#send(request);
  }

  _streamOpened() {
    if (this.status === "reconnecting") this.reconnects += 1;
    this.statuses.set("open");
  }

  _streamLost() {
    this.statuses.set("reconnecting");
  }

  #send(message) {
    if (this.socket && this.socketOpen) this.socket.send(JSON.stringify(message));
  }

  #open() {
    this.timers.reconnect = undefined;
    if (this.active.size === 0) return;
    let socket;
    try {
      socket = new this.WebSocket(this.urls.ws);
    } catch {
      this.#lost(false);
      return;
    }
    this.socket = socket;
    this.socketOpen = false;
    if (this.status !== "reconnecting") this.statuses.set("connecting");
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.socketOpen = true;
      if (this.everOpened) {
        this.reconnects += 1;
        for (const resource of this.active) resource.stats.reconnects += 1;
      }
      this.everOpened = true;
      this.openedAt = this.lastMessage = this.clock.now();
      this.statuses.set("open");
      this.#watch();
      for (const resource of [...this.active]) resource._ask();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.lastMessage = this.clock.now();
      this._receive(event.data);
    };
    socket.onclose = socket.onerror = () => {
      if (this.socket === socket) this.#lost(this.socketOpen);
    };
  }

  /** A message of the protocol, from the socket or the event stream. */
  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const resource = this.resources.get(message.topic);
    if (!resource || !this.active.has(resource)) return;
    switch (message.type) {
      case "snapshot":
        resource._snapshot(message.version, message.data);
        break;
      case "update":
        resource._update(message);
        break;
      case "heartbeat":
        resource._heartbeat(message.seq);
        break;
      case "resync":
        resource._resync();
        break;
      case "error":
        resource._error(message.code, message.message);
        break;
      default:
        break;
    }
  }

  /** A silent connection is taken for dead: no heartbeat for `idleTimeoutMs`. */
  #watch() {
    const limit = this.options.idleTimeoutMs;
    if (!(limit > 0)) return;
    const check = () => {
      const quiet = this.clock.now() - this.lastMessage;
      // Heartbeats come per topic: with none followed, silence says nothing.
      if (this.active.size > 0 && quiet >= limit) {
        this.#lost(true);
      } else {
        this.timers.idle = this.clock.setTimeout(check, this.active.size > 0 ? limit - quiet : limit);
      }
    };
    this.clock.clearTimeout(this.timers.idle);
    this.timers.idle = this.clock.setTimeout(check, limit);
  }

  #dropSocket() {
    const socket = this.socket;
    this.socket = undefined;
    this.socketOpen = false;
    this.clock.clearTimeout(this.timers.idle);
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // Closing a socket that never opened may throw; it is gone either way.
      }
    }
  }

  #lost(wasOpen) {
    if (wasOpen && this.clock.now() - this.openedAt >= this.options.backoff.healthyAfterMs) this.attempt = 0;
    this.#dropSocket();
    for (const resource of this.active) resource._disconnected();
    if (this.active.size === 0) {
      this.statuses.set("idle");
      return;
    }
    this.statuses.set("reconnecting");
    if (!wasOpen && !this.everOpened && this.options.transport === "auto") {
      // No socket ever opened. If the server answers plain HTTP, something on
      // the way blocks WebSockets: follow each topic over SSE instead.
      this.fetch(this.urls.listing, { cache: "no-store" }).then(
        () => this.#fallBackToSse(),
        () => this.#retry(),
      );
      return;
    }
    this.#retry();
  }

  #retry() {
    const delay = backoffDelay(this.attempt, this.options.backoff, this.random);
    this.attempt += 1;
    this.clock.clearTimeout(this.timers.reconnect);
    this.timers.reconnect = this.clock.setTimeout(() => this.#open(), delay);
  }

  #fallBackToSse() {
    if (!this.EventSource) {
      this.#retry();
      return;
    }
    this.transport = "sse";
    this.statuses.set("connecting");
    for (const resource of [...this.active]) resource._ask();
  }
}

const registry = new Map();

/**
 * The connection to the server at `baseUrl` (`""` for the page's own), shared
 * by every resource of that URL: made on first use with `options`, which
 * later calls do not change.
 */
export function connect(baseUrl = "", options = {}) {
  const key = urlsFor(baseUrl).key;
  let connection = registry.get(key);
  if (!connection) {
    connection = new Connection(baseUrl, options);
    registry.set(key, connection);
  }
  return connection;
}

/**
 * The live resource of `topic` on the server at `baseUrl` (`""` for the
 * page's own origin, or such as `https://api.example.com`). Every call for
 * the same topic and base URL gives the same resource, and every resource of
 * one base URL shares one connection.
 *
 * Options (taken by the first call for a base URL): `transport` (`"auto"`,
 * `"websocket"` or `"sse"`), `backoff` (`{initialMs, maxMs, healthyAfterMs}`),
 * `idleTimeoutMs` (45 s: three of the server's default heartbeats),
 * `maxBuffered`, `lingerMs`, `releaseAfterMs` (5 s: how long a topic no one
 * follows is kept, state and server subscription, before it is let go),
 * `sseDebounceMs` (50 ms: topics asked for within it share one new event
 * stream), `withCredentials`, and for tests `WebSocket`,
 * `EventSource`, `fetch`, `clock`, `random`; or `connection`, one made by
 * `connect`.
 */
export function liveResource(baseUrl, topic, options = {}) {
  const connection = options.connection ?? connect(baseUrl, options);
  return connection.resource(topic);
}

// ---------------------------------------------------------------- keyed tables

/** The row events of one change of a table (an object keyed by row id). */
function rowChanges({ reset, before, after, update }) {
  if (reset || !isObject(before) || !isObject(after) || !update) return undefined;
  const changes = [];
  if ("merge" in update && isObject(update.merge)) {
    for (const id of Object.keys(update.merge)) {
      const had = hasOwn(before, id);
      if (update.merge[id] === null) {
        if (had) changes.push({ type: "removed", id, previous: before[id] });
      } else if (had) {
        changes.push({ type: "modified", id, row: after[id], previous: before[id], patch: update.merge[id] });
      } else {
        changes.push({ type: "added", id, row: after[id] });
      }
    }
    return changes;
  }
  if ("replace" in update) return undefined;
  // A JSON Patch: rows it did not touch keep their identity.
  for (const id of Object.keys(before)) {
    if (!hasOwn(after, id)) changes.push({ type: "removed", id, previous: before[id] });
    else if (after[id] !== before[id]) changes.push({ type: "modified", id, row: after[id], previous: before[id] });
  }
  for (const id of Object.keys(after)) {
    if (!hasOwn(before, id)) changes.push({ type: "added", id, row: after[id] });
  }
  return changes;
}

/**
 * The row events of a table resource, one emission per change:
 * `{ reset, rows, version, changes }`, where `rows` is the whole table,
 * `reset` says to rebuild from it (the first state, a new snapshot, a
 * replacement), and otherwise `changes` lists `{type: "added"|"modified"|
 * "removed", id, row, previous, patch}` as each merge patch's top-level keys
 * say.
 */
export function rowEvents(resource) {
  const events = {
    subscribe(nextOrObserver) {
      const observer = toObserver(nextOrObserver);
      return resource._subscribeChanges(
        (change) => {
          const changes = rowChanges(change);
          call(observer.next?.bind(observer), {
            reset: changes === undefined,
            rows: change.after,
            version: resource.version,
            changes: changes ?? [],
          });
        },
        (error) => call(observer.error?.bind(observer), error),
      );
    },
  };
  observable(events);
  return events;
}

/** `rowEvents(liveResource(baseUrl, topic, options))`. */
export function liveTable(baseUrl, topic, options = {}) {
  return rowEvents(liveResource(baseUrl, topic, options));
}
