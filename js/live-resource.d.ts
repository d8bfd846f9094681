// Type declarations of live-resource.js, the browser client of live-resource.

declare global {
  interface SymbolConstructor {
    /** The interop symbol of Observables (RxJS's `from`, Angular's `async` pipe). */
    readonly observable: symbol;
  }
}

/** A JSON value, as the server sends it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What follows a resource: a callback, or an observer. */
export interface Observer<T> {
  next?(value: T): void;
  error?(error: LiveResourceError): void;
  complete?(): void;
}

/** One subscriber's subscription: `unsubscribe()` ends it and no other. */
export interface Subscription {
  unsubscribe(): void;
  readonly closed: boolean;
}

/** Anything with `subscribe`, as RxJS's `from` and Angular take it. */
export interface Subscribable<T> {
  subscribe(nextOrObserver?: ((value: T) => void) | Observer<T>): Subscription;
  [Symbol.observable](): Subscribable<T>;
  "@@observable"(): Subscribable<T>;
}

/** Where a resource is: the current state is good only when `live`. */
export type Status = "connecting" | "live" | "resyncing" | "reconnecting" | "failed" | "closed";

/** A wire update: `{seq, merge}`, `{seq, patch}` or `{seq, replace}`. */
export type Update =
  | { seq?: number; merge: Json }
  | { seq?: number; patch: JsonPatchOperation[] }
  | { seq?: number; replace: Json };

/** An RFC 6902 operation. */
export interface JsonPatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: Json;
}

/** Counts of what happened to a resource, for diagnostics and tests. */
export interface ResourceStats {
  snapshots: number;
  applied: number;
  duplicates: number;
  gaps: number;
  resyncs: number;
  reconnects: number;
}

/** A topic's state, kept current while it has subscribers. */
export interface LiveResource<T = Json> extends Subscribable<T> {
  readonly topic: string;
  /** The current state; `undefined` before the first snapshot. */
  readonly value: T | undefined;
  /** The version (`seq`) of `value`. */
  readonly version: number | undefined;
  readonly status: Status;
  /** The status now, then each change. */
  readonly statuses: Subscribable<Status>;
  /** The last error, recovered from or not. */
  readonly error: LiveResourceError | Error | undefined;
  readonly stats: Readonly<ResourceStats>;
  readonly connection: Connection;
}

/** The connection of one base URL, shared by its resources. */
export interface Connection {
  readonly status: "idle" | "connecting" | "open" | "reconnecting";
  readonly statuses: Subscribable<Connection["status"]>;
  /** `websocket`, or `sse` where WebSockets are blocked. */
  readonly transport: "websocket" | "sse";
  /** How many times the connection was made again after it was lost. */
  readonly reconnects: number;
  resource<T = Json>(topic: string): LiveResource<T>;
  /** Ends the connection and every resource's following, for good. */
  close(): void;
}

export interface BackoffOptions {
  /** The first retry waits up to this (500 ms). */
  initialMs?: number;
  /** No retry waits longer (30 s). */
  maxMs?: number;
  /** A connection live this long starts the delays over (60 s). */
  healthyAfterMs?: number;
}

export interface Options {
  /** `auto` (WebSocket, SSE where WebSockets are blocked), `websocket` or `sse`. */
  transport?: "auto" | "websocket" | "sse";
  backoff?: BackoffOptions;
  /** A connection silent this long is taken for dead (45 s; 0: never). */
  idleTimeoutMs?: number;
  /** Updates held while a snapshot is on its way (10,000). */
  maxBuffered?: number;
  /** How long an unused connection stays open (1 s). */
  lingerMs?: number;
  /**
   * How long a topic whose last subscriber left is still followed (5 s): a
   * subscriber back within it finds its state; after it the server is told
   * and the state dropped (0: at once).
   */
  releaseAfterMs?: number;
  /** Over SSE, topics asked for within this long share one new stream (50 ms). */
  sseDebounceMs?: number;
  /** Send cookies to another origin's SSE stream. */
  withCredentials?: boolean;
  /** A connection made by `connect`, instead of the base URL's shared one. */
  connection?: Connection;
  WebSocket?: unknown;
  EventSource?: unknown;
  fetch?: unknown;
  clock?: { now(): number; setTimeout(fn: () => void, ms: number): unknown; clearTimeout(id: unknown): void };
  random?: () => number;
}

export class LiveResourceError extends Error {
  /** The server's error code (`unknown_topic`, `forbidden`, ...) or `apply_failed`, `bad_message`. */
  readonly code: string;
  readonly topic: string | undefined;
}

/**
 * The live resource of `topic` on the server at `baseUrl` (`""`: the page's
 * own origin). The same topic and base URL give the same resource; the
 * resources of one base URL share one connection.
 */
export function liveResource<T = Json>(baseUrl: string, topic: string, options?: Options): LiveResource<T>;

/** The shared connection to `baseUrl`, made with `options` on first use. */
export function connect(baseUrl?: string, options?: Options): Connection;

/** A row event of a keyed table. */
export type RowChange<R> =
  | { type: "added"; id: string; row: R }
  | { type: "modified"; id: string; row: R; previous: R; patch?: Json }
  | { type: "removed"; id: string; previous: R };

/** One change of a table: rebuild from `rows` when `reset`, else apply `changes`. */
export interface RowEvents<R> {
  reset: boolean;
  rows: Record<string, R>;
  version: number | undefined;
  changes: RowChange<R>[];
}

/** The row events of a table resource (an object keyed by row id). */
export function rowEvents<R = Json>(resource: LiveResource<Record<string, R>>): Subscribable<RowEvents<R>>;

/** `rowEvents(liveResource(baseUrl, topic, options))`. */
export function liveTable<R = Json>(baseUrl: string, topic: string, options?: Options): Subscribable<RowEvents<R>>;

/** RFC 7396: `patch` merged into `target`; neither is changed. */
export function mergePatch(target: Json | undefined, patch: Json): Json;

/** RFC 6902: `operations` applied to `doc`, all or none; `doc` is not changed. */
export function applyPatch(doc: Json, operations: JsonPatchOperation[]): Json;

/** One wire update applied to `state`. */
export function applyUpdate(state: Json | undefined, update: Update): Json;

/** Whether two JSON values are equal. */
export function jsonEqual(a: Json, b: Json): boolean;

/** The jittered delay before reconnect `attempt`. */
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
