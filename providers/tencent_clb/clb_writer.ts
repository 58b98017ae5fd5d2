/**
 * Every CLB write gamenet makes goes through one {@linkcode ClbWriter}:
 * one write at a time per load balancer (a CLB instance answers
 * `ResourceInOperating` to a second write while the first one's task
 * runs), requests that arrive meanwhile merged into batches (one
 * `CreateListener` for up to 49 ports of one protocol and the same further
 * parameters, one `BatchRegisterTargets` for up to 500 targets), retries
 * with backoff on throttling and busy instances, and the task of each
 * asynchronous write (`CreateListener`, `DeleteLoadBalancerListeners`)
 * polled to its end. `Batch(De)RegisterTargets` are synchronous: their
 * answer is the outcome, and no task is polled for them.
 *
 * Writes whose answer was lost are safe to repeat: a listener that was in
 * fact created answers `PortCheckFailed` the second time and is adopted
 * when it carries the name gamenet asked for; deleting what is gone and
 * registering what is registered succeed.
 *
 * @example
 * ```ts
 * const writer = new ClbWriter(api);
 * const id = await writer.createListener("lb-a", { port: 501, protocol: "UDP", name: "gamenet-..." });
 * await writer.registerTarget("lb-a", { listenerId: id, ip: "10.0.0.7", port: 7777 });
 * ```
 * @module
 */

import { type ClbApi, ClbError, toClbError } from "./clb_api.ts";
import { backoffDelay } from "../backoff.ts";

/** A listener to create. */
export interface ListenerSpec {
  port: number;
  protocol: "TCP" | "UDP";
  /** How gamenet finds its listener again (and adopts it after a lost answer). */
  name: string;
  /**
   * Further `CreateListener` fields, sent with the call as they are
   * (`HealthCheck`, `SessionExpireTime`, `Scheduler`, ...). Only creates
   * with equal parameters share a call; `LoadBalancerId`, `Ports`,
   * `Protocol` and `ListenerNames` are the writer's and cannot be set here.
   * A listener adopted after a lost answer is not compared with them.
   *
   * @example
   * ```ts
   * const spec: ListenerSpec = {
   *   port: 501, protocol: "UDP", name: "gn-x",
   *   parameters: { Scheduler: "LEAST_CONN", HealthCheck: { HealthSwitch: 0 } },
   * };
   * ```
   * @default {{}}
   */
  parameters?: Record<string, unknown>;
}

/** A target (a Pod IP and container port) behind a listener. */
export interface TargetSpec {
  listenerId: string;
  /** The Pod IP (registered as `EniIp`). */
  ip: string;
  port: number;
  /** @default {10} */
  weight?: number;
}

/** Options of {@linkcode ClbWriter}. */
export interface ClbWriterOptions {
  /**
   * Ports per `CreateListener`. The API refuses 50 ("Length of .Ports
   * should be less than 50"), so at most 49. @default {49}
   */
  maxListenersPerCall?: number;
  /**
   * Targets per `BatchRegisterTargets` / `BatchDeregisterTargets` (the
   * API's documented limit). @default {500}
   */
  maxTargetsPerCall?: number;
  /** Listeners per `DeleteLoadBalancerListeners`. @default {20} */
  maxDeletesPerCall?: number;
  /** Wait before a load balancer's first write, so that a burst shares one call. @default {20} */
  lingerMs?: number;
  /** First retry delay; doubles up to `retryMaxMs`, with jitter. @default {200} */
  retryInitialMs?: number;
  /** @default {10_000} */
  retryMaxMs?: number;
  /** Tries of one call before its error is reported. @default {8} */
  attempts?: number;
  /** Between two `DescribeTaskStatus` (asynchronous writes only). @default {200} */
  taskPollMs?: number;
  /** A task still running after this is reported as failed. @default {120_000} */
  taskTimeoutMs?: number;
  /** Sleeps (tests pass a fast one). @default {setTimeout} */
  sleep?: (ms: number) => Promise<void>;
  /** Diagnostics, never with credentials. @default {() => {}} */
  log?: (message: string) => void;
}

type Op =
  | {
    kind: "create";
    spec: ListenerSpec;
    /** `spec.parameters` in canonical form: creates share a call only when these are equal. */
    parametersKey: string;
    resolve: (id: string) => void;
    reject: Rejector;
  }
  | { kind: "delete"; listenerId: string; resolve: () => void; reject: Rejector }
  | { kind: "register"; target: TargetSpec; resolve: () => void; reject: Rejector }
  | { kind: "deregister"; target: TargetSpec; resolve: () => void; reject: Rejector };
type Rejector = (err: Error) => void;

/**
 * The writes that answer before they are done and are followed with
 * `DescribeTaskStatus` on their RequestId (the SDK's docs: "本接口为异步接口").
 * `BatchRegisterTargets` and `BatchDeregisterTargets` are not: their answer
 * is the outcome (tke-extend-network-controller, confirmed with the CLB
 * team, waits for no task after them either).
 */
const ASYNC_WRITES: ReadonlySet<string> = new Set([
  "CreateListener",
  "DeleteLoadBalancerListeners",
]);

/** Counters, for benchmarks and metrics. */
export interface ClbWriterStats {
  /** Calls per action, retries included. */
  calls: Record<string, number>;
  /** Retries after a retryable error. */
  retries: number;
}

/** The writer: see the module documentation. */
export class ClbWriter {
  readonly #api: ClbApi;
  readonly #options: Required<ClbWriterOptions>;
  readonly #queues = new Map<string, Op[]>();
  readonly #draining = new Set<string>();
  readonly #stats: ClbWriterStats = { calls: {}, retries: 0 };

  constructor(api: ClbApi, options: ClbWriterOptions = {}) {
    this.#api = api;
    this.#options = {
      maxListenersPerCall: 49,
      maxTargetsPerCall: 500,
      maxDeletesPerCall: 20,
      lingerMs: 20,
      retryInitialMs: 200,
      retryMaxMs: 10_000,
      attempts: 8,
      taskPollMs: 200,
      taskTimeoutMs: 120_000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      log: () => {},
      ...options,
    };
  }

  /** A copy of the counters. */
  get stats(): ClbWriterStats {
    return { calls: { ...this.#stats.calls }, retries: this.#stats.retries };
  }

  /**
   * Creates a listener (or adopts gamenet's own on that port); resolves with its id.
   *
   * @example
   * ```ts
   * const id = await writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "gn-x" });
   * ```
   */
  createListener(lbId: string, spec: ListenerSpec): Promise<string> {
    const parametersKey = canonicalJson(spec.parameters ?? {});
    return new Promise((resolve, reject) =>
      this.#enqueue(lbId, { kind: "create", spec, parametersKey, resolve, reject })
    );
  }

  /**
   * Deletes a listener and its targets; a listener already gone is success.
   *
   * @example
   * ```ts
   * await writer.deleteListener("lb-a", "lbl-1");
   * ```
   */
  deleteListener(lbId: string, listenerId: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#enqueue(lbId, { kind: "delete", listenerId, resolve, reject })
    );
  }

  /**
   * Binds a Pod IP:port behind a listener (idempotent).
   *
   * @example
   * ```ts
   * await writer.registerTarget("lb-a", { listenerId: "lbl-1", ip: "10.0.0.7", port: 7777 });
   * ```
   */
  registerTarget(lbId: string, target: TargetSpec): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#enqueue(lbId, { kind: "register", target, resolve, reject })
    );
  }

  /**
   * Unbinds a target (idempotent).
   *
   * @example
   * ```ts
   * await writer.deregisterTarget("lb-a", { listenerId: "lbl-1", ip: "10.0.0.7", port: 7777 });
   * ```
   */
  deregisterTarget(lbId: string, target: TargetSpec): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#enqueue(lbId, { kind: "deregister", target, resolve, reject })
    );
  }

  /**
   * Runs a read with the same retries as writes (reads are throttled too).
   *
   * @example
   * ```ts
   * const res = await writer.read("DescribeListeners", () => api.DescribeListeners({ LoadBalancerId: "lb-a" }));
   * ```
   */
  async read<T>(action: string, call: () => Promise<T>): Promise<T> {
    return await this.#withRetries(action, call);
  }

  #enqueue(lbId: string, op: Op): void {
    let queue = this.#queues.get(lbId);
    if (!queue) this.#queues.set(lbId, queue = []);
    queue.push(op);
    if (!this.#draining.has(lbId)) {
      this.#draining.add(lbId);
      this.#drain(lbId);
    }
  }

  async #drain(lbId: string): Promise<void> {
    await this.#options.sleep(this.#options.lingerMs);
    const queue = this.#queues.get(lbId)!;
    while (queue.length > 0) {
      const batch = this.#takeBatch(queue);
      try {
        await this.#run(lbId, batch);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        for (const op of batch) op.reject(error);
      }
    }
    // In the same turn as the last emptiness check: an op enqueued by a
    // continuation of the batch above must start a new drain, not land in a
    // queue nobody reads.
    this.#queues.delete(lbId);
    this.#draining.delete(lbId);
  }

  /** The oldest op and every queued op that can share its call. */
  #takeBatch(queue: Op[]): Op[] {
    const first = queue[0];
    const limit = first.kind === "create"
      ? this.#options.maxListenersPerCall
      : first.kind === "delete"
      ? this.#options.maxDeletesPerCall
      : this.#options.maxTargetsPerCall;
    const batch: Op[] = [];
    const seenPorts = new Set<number>();
    for (let i = 0; i < queue.length && batch.length < limit;) {
      const op = queue[i];
      const fits = op.kind === first.kind &&
        (op.kind !== "create" ||
          (op.spec.protocol === (first as typeof op).spec.protocol &&
            op.parametersKey === (first as typeof op).parametersKey &&
            !seenPorts.has(op.spec.port)));
      if (fits) {
        if (op.kind === "create") seenPorts.add(op.spec.port);
        batch.push(op);
        queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  async #run(lbId: string, batch: Op[]): Promise<void> {
    switch (batch[0].kind) {
      case "create":
        return await this.#create(lbId, batch as Extract<Op, { kind: "create" }>[]);
      case "delete":
        return await this.#delete(lbId, batch as Extract<Op, { kind: "delete" }>[]);
      default:
        return await this.#targets(
          lbId,
          batch as Extract<Op, { kind: "register" | "deregister" }>[],
        );
    }
  }

  async #create(lbId: string, ops: Extract<Op, { kind: "create" }>[]): Promise<void> {
    const protocol = ops[0].spec.protocol;
    // Equal in every op of the batch (takeBatch compared them).
    const parameters = ops[0].spec.parameters ?? {};
    let pending = ops;
    // A clash fails the whole call: find who holds each port, adopt what is
    // ours, refuse what is not, and create the rest.
    while (pending.length > 0) {
      try {
        const res = await this.#write("CreateListener", () =>
          this.#api.CreateListener({
            ...parameters,
            LoadBalancerId: lbId,
            Ports: pending.map((op) => op.spec.port),
            Protocol: protocol,
            ListenerNames: pending.map((op) => op.spec.name),
          }));
        const ids = res.ListenerIds ?? [];
        pending.forEach((op, i) => {
          if (ids[i]) op.resolve(ids[i]);
          else {op.reject(
              new ClbError("CreateListener", "MissingListenerId", `port ${op.spec.port}`),
            );}
        });
        return;
      } catch (err) {
        if (!(err instanceof ClbError && err.code === "InvalidParameter.PortCheckFailed")) {
          throw err;
        }
        const existing = await this.#listenersOn(lbId, protocol);
        const rest: typeof pending = [];
        for (const op of pending) {
          const found = existing.get(`${protocol} ${op.spec.port}`);
          if (!found) rest.push(op);
          else if (found.name === op.spec.name) op.resolve(found.id);
          else {
            op.reject(
              new ClbError(
                "CreateListener",
                "InvalidParameter.PortCheckFailed",
                `${protocol} port ${op.spec.port} of ${lbId} is taken by listener ${found.id} ("${found.name}"), not gamenet's`,
                err.requestId,
              ),
            );
          }
        }
        if (rest.length === pending.length) throw err; // nothing explained the clash
        pending = rest;
      }
    }
  }

  /**
   * The CLB's listeners (of `protocol`, or all), keyed by protocol and
   * port: a TCP and a UDP listener may share a port number.
   */
  async #listenersOn(
    lbId: string,
    protocol: string,
  ): Promise<Map<string, { id: string; name: string }>> {
    const res = await this.read("DescribeListeners", () => {
      this.#count("DescribeListeners");
      return this.#api.DescribeListeners({
        LoadBalancerId: lbId,
        ...(protocol ? { Protocol: protocol } : {}),
      });
    });
    const out = new Map<string, { id: string; name: string }>();
    for (const l of res.Listeners ?? []) {
      if (l.Port !== undefined) {
        out.set(`${l.Protocol} ${Number(l.Port)}`, {
          id: l.ListenerId ?? "",
          name: l.ListenerName ?? "",
        });
      }
    }
    return out;
  }

  async #delete(lbId: string, ops: Extract<Op, { kind: "delete" }>[]): Promise<void> {
    let pending = ops;
    while (pending.length > 0) {
      try {
        await this.#write(
          "DeleteLoadBalancerListeners",
          () =>
            this.#api.DeleteLoadBalancerListeners({
              LoadBalancerId: lbId,
              ListenerIds: pending.map((op) => op.listenerId),
            }),
        );
        for (const op of pending) op.resolve();
        return;
      } catch (err) {
        if (!(err instanceof ClbError && err.code === "InvalidParameter.ListenerIdNotFound")) {
          throw err;
        }
        // Some are gone already (a lost answer, or someone else): delete the rest.
        const live = new Set(
          [...(await this.#listenersOn(lbId, "")).values()].map((l) => l.id),
        );
        const rest = pending.filter((op) => live.has(op.listenerId));
        for (const op of pending) if (!live.has(op.listenerId)) op.resolve();
        if (rest.length === pending.length) throw err;
        pending = rest;
      }
    }
  }

  async #targets(
    lbId: string,
    ops: Extract<Op, { kind: "register" | "deregister" }>[],
  ): Promise<void> {
    const register = ops[0].kind === "register";
    const action = register ? "BatchRegisterTargets" : "BatchDeregisterTargets";
    const Targets = ops.map(({ target: t }) => ({
      ListenerId: t.listenerId,
      EniIp: t.ip,
      Port: t.port,
      ...(register ? { Weight: t.weight ?? 10 } : {}),
    }));
    const res = await this.#write(
      action,
      () =>
        register
          ? this.#api.BatchRegisterTargets({ LoadBalancerId: lbId, Targets })
          : this.#api.BatchDeregisterTargets({ LoadBalancerId: lbId, Targets }),
    );
    const failed = new Set(res.FailListenerIdSet ?? []);
    for (const op of ops) {
      if (!failed.has(op.target.listenerId)) op.resolve();
      else {
        op.reject(
          new ClbError(
            action,
            "FailedListener",
            `listener ${op.target.listenerId} of ${lbId}: ${res.Message ?? "refused"}`,
            res.RequestId,
          ),
        );
      }
    }
  }

  /** A write: retried while retryable, then (an asynchronous one) its task polled to the end. */
  async #write<T extends { RequestId?: string }>(
    action: string,
    call: () => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const res = await this.#withRetries(action, () => {
        this.#count(action);
        return call();
      });
      const taskId = res.RequestId;
      if (!ASYNC_WRITES.has(action) || !taskId) return res;
      const outcome = await this.#awaitTask(action, taskId);
      if (outcome === "done") return res;
      // A failed task undid the write: it may be tried again, a few times.
      if (attempt + 1 >= this.#options.attempts) {
        throw new ClbError(action, "TaskFailed", `task ${taskId} failed`, taskId);
      }
      this.#stats.retries++;
      this.#options.log(`${action}: task ${taskId} failed; writing again`);
      await this.#options.sleep(this.#backoff(attempt));
    }
  }

  async #awaitTask(action: string, taskId: string): Promise<"done" | "failed"> {
    const deadline = Date.now() + this.#options.taskTimeoutMs;
    while (true) {
      const res = await this.#withRetries("DescribeTaskStatus", () => {
        this.#count("DescribeTaskStatus");
        return this.#api.DescribeTaskStatus({ TaskId: taskId });
      });
      if (res.Status === 0) return "done";
      if (res.Status === 1) return "failed";
      if (Date.now() > deadline) {
        throw new ClbError(action, "TaskTimeout", `task ${taskId} still running`, taskId);
      }
      await this.#options.sleep(this.#options.taskPollMs);
    }
  }

  async #withRetries<T>(action: string, call: () => Promise<T>): Promise<T> {
    // Throttling and a busy instance say "later", not "wrong": they wait
    // (with backoff, up to taskTimeoutMs) without using up the attempts
    // that faults get.
    const busyDeadline = Date.now() + this.#options.taskTimeoutMs;
    let waits = 0;
    for (let attempt = 0;;) {
      try {
        return await call();
      } catch (err) {
        const error = toClbError(action, err);
        const busy = error.code === "RequestLimitExceeded" ||
          error.code.startsWith("RequestLimitExceeded.") ||
          error.code === "FailedOperation.ResourceInOperating";
        if (!error.retryable) throw error;
        if (busy ? Date.now() > busyDeadline : ++attempt >= this.#options.attempts) throw error;
        this.#stats.retries++;
        const delay = this.#backoff(waits++);
        this.#options.log(`${error.message}; retrying in ${Math.round(delay)} ms`);
        await this.#options.sleep(delay);
      }
    }
  }

  #backoff(attempt: number): number {
    return backoffDelay(attempt, {
      initialMs: this.#options.retryInitialMs,
      maxMs: this.#options.retryMaxMs,
    });
  }

  #count(action: string): void {
    this.#stats.calls[action] = (this.#stats.calls[action] ?? 0) + 1;
  }
}

/**
 * JSON with every object's keys sorted, so that equal parameters compare
 * equal whatever order their keys were written in.
 */
function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : v,
  );
}
