// In-memory stand-ins for what the client takes from a browser: a clock,
// WebSockets, EventSources and fetch, each driven by the test.

/** A clock whose time moves only when the test says. */
export class Clock {
  constructor() {
    this.time = 1_000_000;
    this.timers = new Map();
    this.nextId = 1;
  }
  now() {
    return this.time;
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  /** The delays of the timers set now, from now. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }
  /** Moves time on by `ms`, running each timer that falls due, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (let runs = 0; runs < 10_000; runs++) {
      let due;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      }
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].fn();
    }
    this.time = end;
  }
}

/** WebSockets the test opens, feeds and breaks. */
export function fakeWebSockets() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = false;
      sockets.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(text));
    }
    close() {
      this.closed = true;
      this.readyState = 3;
    }
    // -- the test's side
    accept() {
      this.readyState = 1;
      this.onopen?.({});
    }
    deliver(message) {
      this.onmessage?.({ data: JSON.stringify(message) });
    }
    fail() {
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({});
    }
    /** The requests sent since the last call. */
    take() {
      return this.sent.splice(0);
    }
  }
  return { WebSocket: FakeWebSocket, sockets, last: () => sockets.at(-1) };
}

/** EventSources the test opens, feeds and breaks. */
export function fakeEventSources() {
  const sources = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.listeners = {};
      this.closed = false;
      sources.push(this);
    }
    addEventListener(type, fn) {
      (this.listeners[type] ??= []).push(fn);
    }
    close() {
      this.closed = true;
    }
    // -- the test's side
    open() {
      this.onopen?.({});
    }
    emit(type, data) {
      for (const fn of this.listeners[type] ?? []) fn({ data: JSON.stringify(data) });
    }
    /** A message of the protocol, as the multi-topic stream sends it. */
    deliver(message) {
      this.onmessage?.({ data: JSON.stringify(message) });
    }
    /** The topics the stream names, each with its `since` (or undefined). */
    topics() {
      const params = new URL(this.url).searchParams;
      const since = new Map(params.getAll("since").map((s) => [s.slice(0, s.lastIndexOf(":")), Number(s.slice(s.lastIndexOf(":") + 1))]));
      return params.getAll("topic").map((topic) => [topic, since.get(topic)]);
    }
    fail() {
      this.onerror?.({});
    }
  }
  return { EventSource: FakeEventSource, sources, last: () => sources.at(-1) };
}

/** A fetch that answers from `routes` (path -> [status, body] or a function), or fails. */
export function fakeFetch(routes = {}) {
  const calls = [];
  const fetch = async (url) => {
    const path = new URL(url).pathname + new URL(url).search;
    calls.push(path);
    const route = typeof routes === "function" ? routes(path) : routes[path];
    if (!route) throw new TypeError("fetch failed");
    const [status, body] = typeof route === "function" ? route() : route;
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fetch, calls };
}

/** Lets pending promise callbacks run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));
