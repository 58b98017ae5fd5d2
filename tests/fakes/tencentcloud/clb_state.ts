/**
 * The in-memory CLB of the fake: load balancers, listeners, targets and the
 * asynchronous tasks that writes start. Request and response fields follow
 * `tencentcloud-sdk-nodejs` `clb/v20180317/clb_models.d.ts`.
 *
 * @module
 */
import { CloudApiError, ErrorCode } from "./cloud_api_error.ts";
import { seededRandom } from "../../test_seed.ts";

/**
 * A load balancer the test setup puts into the fake.
 *
 * @example
 * ```ts
 * const spec: LoadBalancerSpec = { id: "lb-a", vip: "203.0.113.7", listenerQuota: 10 };
 * ```
 */
export interface LoadBalancerSpec {
  /** Instance id, e.g. `lb-abcd1234`. */
  id: string;
  /** Its public (or private) VIP. @default {a 203.0.113.x address} */
  vip?: string;
  /** Region it lives in. @default {the fake's region} */
  region?: string;
  /** LoadBalancerName. @default {id} */
  name?: string;
  /** Most listeners it may hold (Tencent's TOTAL_LISTENER_QUOTA). @default {the fake's listenerQuota} */
  listenerQuota?: number;
  /** `OPEN` (public) or `INTERNAL`. @default {"OPEN"} */
  type?: "OPEN" | "INTERNAL";
  /** VPC id. @default {"vpc-fake0001"} */
  vpcId?: string;
}

/**
 * A target as the fake holds it.
 *
 * @example
 * ```ts
 * const t: TargetSnapshot = { type: "ENI", eniIp: "10.0.0.5", port: 7777, weight: 10 };
 * ```
 */
export interface TargetSnapshot {
  /** `ENI` when bound by IP, `CVM` when bound by instance id. */
  type: "ENI" | "CVM";
  /** The bound IP (ENI targets). */
  eniIp?: string;
  /** The bound instance (CVM targets). */
  instanceId?: string;
  /** Backend port. */
  port: number;
  /** Weight, 0 to 100. */
  weight: number;
}

/**
 * A listener as the fake holds it.
 *
 * @example
 * ```ts
 * const ports = cloud.loadBalancer("lb-a")!.listeners.map((l: ListenerSnapshot) => l.port);
 * ```
 */
export interface ListenerSnapshot {
  /** e.g. `lbl-ku486mr3`. */
  listenerId: string;
  /** ListenerName given at creation ("" when none). */
  name: string;
  /** TCP, UDP, TCP_SSL, QUIC, HTTP or HTTPS. */
  protocol: string;
  /** The listener (frontend) port. */
  port: number;
  /** Bound backends. */
  targets: TargetSnapshot[];
}

/**
 * A load balancer as the fake holds it.
 *
 * @example
 * ```ts
 * const lb: LoadBalancerSnapshot | undefined = cloud.loadBalancer("lb-a");
 * lb?.listeners.length;
 * ```
 */
export interface LoadBalancerSnapshot {
  /** Instance id. */
  id: string;
  /** LoadBalancerName. */
  name: string;
  /** The one VIP of its LoadBalancerVips. */
  vip: string;
  /** Region it lives in. */
  region: string;
  /** Most listeners it may hold. */
  listenerQuota: number;
  /** Its listeners, oldest first. */
  listeners: ListenerSnapshot[];
}

/**
 * A task as the fake holds it.
 *
 * @example
 * ```ts
 * const done = cloud.task(requestId)?.status === 0;
 * ```
 */
export interface TaskSnapshot {
  /** The RequestId of the write that started it. */
  taskId: string;
  /** The write action, e.g. `CreateListener`. */
  action: string;
  /** The load balancer it works on. */
  loadBalancerId: string;
  /** 0 succeeded, 1 failed, 2 running (as DescribeTaskStatus reports). */
  status: 0 | 1 | 2;
}

/**
 * Options for {@linkcode ClbState}.
 *
 * @example
 * ```ts
 * new ClbState({ region: "ap-guangzhou", listenerQuota: 50, taskDurationMs: 0, seed: 1 });
 * ```
 */
export interface ClbStateOptions {
  /** Region used when a load balancer names none. */
  region: string;
  /** Default TOTAL_LISTENER_QUOTA. */
  listenerQuota: number;
  /** How long a write's task runs. */
  taskDurationMs: number;
  /** Seed for generated ids. */
  seed: number;
}

/**
 * Who is calling and when; passed with every action.
 *
 * @example
 * ```ts
 * const ctx: CallContext = { region: "ap-guangzhou", requestId: crypto.randomUUID(), nowMs: Date.now() };
 * ```
 */
export interface CallContext {
  /** X-TC-Region of the call. */
  region: string;
  /** The RequestId the fake answers with; also the TaskId of a write. */
  requestId: string;
  /** The fake's clock, in milliseconds. */
  nowMs: number;
  /** Set when an injected fault makes this write's task fail, with its message. */
  failTaskWith?: string;
}

/**
 * Actions that start an asynchronous task (and are refused while one runs).
 *
 * @example
 * ```ts
 * WRITE_ACTIONS.has("CreateListener"); // true
 * ```
 */
export const WRITE_ACTIONS: ReadonlySet<string> = new Set([
  "CreateListener",
  "DeleteLoadBalancerListeners",
  "BatchRegisterTargets",
  "BatchDeregisterTargets",
]);

/**
 * Every action the fake serves.
 *
 * @example
 * ```ts
 * ACTIONS.has("DescribeTargets"); // true
 * ```
 */
export const ACTIONS: ReadonlySet<string> = new Set([
  ...WRITE_ACTIONS,
  "DescribeLoadBalancers",
  "DescribeListeners",
  "DescribeTargets",
  "DescribeTaskStatus",
  "DescribeQuota",
]);

/** Documented per-call limits (CreateListener's 50 ports is CLB's batch size). */
const MAX_PORTS_PER_CREATE = 50;
const MAX_LB_IDS_PER_DESCRIBE = 20;
const MAX_LISTENERS_PER_DELETE = 20;
const MAX_TARGETS_PER_BATCH = 500;
const MAX_REMEMBERED_TASKS = 100_000;
const PROTOCOLS = new Set(["TCP", "UDP", "TCP_SSL", "QUIC", "HTTP", "HTTPS"]);
/** Protocols share a port only when they ride different transports (TCP vs UDP). */
const TRANSPORT: Record<string, "tcp" | "udp"> = {
  TCP: "tcp",
  HTTP: "tcp",
  HTTPS: "tcp",
  TCP_SSL: "tcp",
  UDP: "udp",
  QUIC: "udp",
};

interface TargetRecord {
  type: "ENI" | "CVM";
  eniIp?: string;
  instanceId?: string;
  port: number;
  weight: number;
  registeredTime: string;
}

interface ListenerRecord {
  id: string;
  name: string;
  protocol: string;
  port: number;
  createTime: string;
  targets: Map<string, TargetRecord>;
}

interface LoadBalancerRecord {
  id: string;
  name: string;
  vip: string;
  region: string;
  listenerQuota: number;
  type: "OPEN" | "INTERNAL";
  vpcId: string;
  createTime: string;
  sequence: number;
  listeners: Map<string, ListenerRecord>;
  /** The last task started on this load balancer. */
  lastTask?: TaskRecord;
}

interface TaskRecord {
  id: string;
  action: string;
  lb: LoadBalancerRecord;
  doneAtMs: number;
  failWith?: string;
  undo: () => void;
  settled: boolean;
}

type Params = Record<string, unknown>;
type Result = Record<string, unknown>;

/**
 * The CLB service behind the fake's HTTP front: call {@linkcode ClbState.call}
 * with an action name and its JSON parameters; it returns the response fields
 * (without RequestId) or throws {@linkcode CloudApiError}.
 *
 * Writes apply at once and start a task of `taskDurationMs`; while it runs,
 * other writes to the same load balancer get `FailedOperation.ResourceInOperating`.
 * A task marked to fail undoes its change when it ends.
 *
 * @example
 * ```ts
 * const clb = new ClbState({ region: "ap-guangzhou", listenerQuota: 50, taskDurationMs: 0, seed: 1 });
 * clb.addLoadBalancer({ id: "lb-1", vip: "203.0.113.10" });
 * const ctx = { region: "ap-guangzhou", requestId: crypto.randomUUID(), nowMs: Date.now() };
 * clb.call("CreateListener", { LoadBalancerId: "lb-1", Ports: [7000], Protocol: "UDP" }, ctx);
 * ```
 */
export class ClbState {
  #region: string;
  #listenerQuota: number;
  #taskDurationMs: number;
  #random: () => number;
  #sequence = 0;
  #lbs = new Map<string, LoadBalancerRecord>();
  #tasks = new Map<string, TaskRecord>();
  #running: TaskRecord[] = [];
  #listenerIds = new Set<string>();

  constructor(options: ClbStateOptions) {
    this.#region = options.region;
    this.#listenerQuota = options.listenerQuota;
    this.#taskDurationMs = options.taskDurationMs;
    this.#random = seededRandom(options.seed ^ 0x5eed);
  }

  /** How long each write's task runs, in milliseconds. */
  get taskDurationMs(): number {
    return this.#taskDurationMs;
  }

  set taskDurationMs(ms: number) {
    if (!(ms >= 0)) throw new RangeError(`taskDurationMs must be >= 0, got ${ms}`);
    this.#taskDurationMs = ms;
  }

  /** Adds (or replaces) a load balancer with no listeners. */
  addLoadBalancer(spec: LoadBalancerSpec, nowMs: number): LoadBalancerSnapshot {
    if (!/^lb-[0-9a-z]+$/.test(spec.id)) {
      throw new TypeError(`Load balancer id "${spec.id}" must look like lb-xxxxxxxx`);
    }
    const sequence = ++this.#sequence;
    const record: LoadBalancerRecord = {
      id: spec.id,
      name: spec.name ?? spec.id,
      vip: spec.vip ?? `203.0.113.${(sequence % 254) + 1}`,
      region: spec.region ?? this.#region,
      listenerQuota: spec.listenerQuota ?? this.#listenerQuota,
      type: spec.type ?? "OPEN",
      vpcId: spec.vpcId ?? "vpc-fake0001",
      createTime: tencentTime(nowMs),
      sequence,
      listeners: new Map(),
    };
    this.#lbs.set(spec.id, record);
    return snapshotLb(record);
  }

  /** Removes a load balancer and everything on it; true when it existed. */
  removeLoadBalancer(id: string): boolean {
    return this.#lbs.delete(id);
  }

  /** The current state of a load balancer, or undefined. */
  loadBalancer(id: string, nowMs: number): LoadBalancerSnapshot | undefined {
    this.settle(nowMs);
    const lb = this.#lbs.get(id);
    return lb === undefined ? undefined : snapshotLb(lb);
  }

  /** Every load balancer, oldest first. */
  loadBalancers(nowMs: number): LoadBalancerSnapshot[] {
    this.settle(nowMs);
    return [...this.#lbs.values()].map(snapshotLb);
  }

  /** The state of a task, or undefined when no write had that RequestId. */
  task(taskId: string, nowMs: number): TaskSnapshot | undefined {
    this.settle(nowMs);
    const task = this.#tasks.get(taskId);
    return task === undefined ? undefined : snapshotTask(task);
  }

  /** Ends the tasks whose time is up, undoing the changes of failed ones. */
  settle(nowMs: number): void {
    if (this.#running.length === 0) return;
    const stillRunning: TaskRecord[] = [];
    for (const task of this.#running) {
      if (task.doneAtMs > nowMs) {
        stillRunning.push(task);
        continue;
      }
      task.settled = true;
      if (task.failWith !== undefined) task.undo();
    }
    this.#running = stillRunning;
  }

  /** Runs one API action; returns the response fields without RequestId. */
  call(action: string, params: Params, ctx: CallContext): Result {
    this.settle(ctx.nowMs);
    switch (action) {
      case "DescribeLoadBalancers":
        return this.#describeLoadBalancers(params, ctx);
      case "DescribeListeners":
        return this.#describeListeners(params, ctx);
      case "DescribeTargets":
        return this.#describeTargets(params, ctx);
      case "DescribeTaskStatus":
        return this.#describeTaskStatus(params);
      case "DescribeQuota":
        return this.#describeQuota(ctx);
      case "CreateListener":
        return this.#createListener(params, ctx);
      case "DeleteLoadBalancerListeners":
        return this.#deleteListeners(params, ctx);
      case "BatchRegisterTargets":
        return this.#registerTargets(params, ctx);
      case "BatchDeregisterTargets":
        return this.#deregisterTargets(params, ctx);
      default:
        throw new CloudApiError(
          ErrorCode.InvalidAction,
          `Action ${action} does not exist in CLB 2018-03-17 (or this fake does not serve it).`,
        );
    }
  }

  #describeLoadBalancers(params: Params, ctx: CallContext): Result {
    const ids = optionalStringList(params, "LoadBalancerIds");
    if (ids !== undefined && ids.length > MAX_LB_IDS_PER_DESCRIBE) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `LoadBalancerIds has ${ids.length} ids; at most ${MAX_LB_IDS_PER_DESCRIBE} per call.`,
      );
    }
    const offset = optionalInteger(params, "Offset", 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const limit = optionalInteger(params, "Limit", 1, 100) ?? 20;
    const vips = optionalStringList(params, "LoadBalancerVips");
    const matches = [...this.#lbs.values()]
      .filter((lb) => lb.region === ctx.region)
      .filter((lb) => ids === undefined || ids.includes(lb.id))
      .filter((lb) => vips === undefined || vips.includes(lb.vip))
      // Documented default order: CreateTime, newest first.
      .sort((a, b) => b.sequence - a.sequence);
    const withTargetCount = optionalStringList(params, "AdditionalFields")?.includes("TargetCount");
    return {
      TotalCount: matches.length,
      LoadBalancerSet: matches.slice(offset, offset + limit).map((lb) => {
        const shape: Result = {
          LoadBalancerId: lb.id,
          LoadBalancerName: lb.name,
          LoadBalancerType: lb.type,
          Forward: 1,
          Domain: "",
          LoadBalancerVips: [lb.vip],
          Status: 1,
          CreateTime: lb.createTime,
          StatusTime: lb.createTime,
          ProjectId: 0,
          VpcId: lb.vpcId,
          OpenBgp: 0,
          Snat: false,
          Isolation: 0,
          SubnetId: "",
          Tags: [],
          SecureGroups: [],
          AddressIPVersion: "ipv4",
          VipIsp: lb.type === "OPEN" ? "BGP" : "INTERNAL",
          ChargeType: "POSTPAID_BY_HOUR",
          IsDDos: false,
          LoadBalancerPassToTarget: false,
          AttributeFlags: [],
          LoadBalancerDomain: "",
          Exclusive: 0,
        };
        if (withTargetCount) {
          let count = 0;
          for (const listener of lb.listeners.values()) count += listener.targets.size;
          shape.TargetCount = count;
        }
        return shape;
      }),
    };
  }

  #describeListeners(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const ids = optionalStringList(params, "ListenerIds");
    const protocol = optionalString(params, "Protocol");
    const port = optionalInteger(params, "Port", 1, 65535);
    const listeners = [...lb.listeners.values()].filter((l) =>
      (ids === undefined || ids.includes(l.id)) &&
      (protocol === undefined || l.protocol === protocol) &&
      (port === undefined || l.port === port)
    );
    return { Listeners: listeners.map(listenerShape), TotalCount: listeners.length };
  }

  #describeTargets(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const ids = optionalStringList(params, "ListenerIds");
    const protocol = optionalString(params, "Protocol");
    const port = optionalInteger(params, "Port", 1, 65535);
    const ipFilter = filterValues(params, "private-ip-address");
    const listeners = [...lb.listeners.values()].filter((l) =>
      (ids === undefined || ids.includes(l.id)) &&
      (protocol === undefined || l.protocol === protocol) &&
      (port === undefined || l.port === port)
    );
    return {
      Listeners: listeners.map((listener) => {
        const targets = [...listener.targets.values()]
          .filter((t) => ipFilter === undefined || (t.eniIp && ipFilter.includes(t.eniIp)))
          .map(backendShape);
        const shape: Result = {
          ListenerId: listener.id,
          Protocol: listener.protocol,
          Port: listener.port,
          EndPort: 0,
        };
        // Layer-7 listeners bind targets under rules; layer-4 ones directly.
        if (listener.protocol === "HTTP" || listener.protocol === "HTTPS") shape.Rules = [];
        else shape.Targets = targets;
        return shape;
      }),
    };
  }

  #describeTaskStatus(params: Params): Result {
    const taskId = optionalString(params, "TaskId");
    if (taskId === undefined) {
      throw new CloudApiError(
        ErrorCode.MissingParameter,
        "DescribeTaskStatus needs TaskId (the RequestId of the write) or DealName.",
      );
    }
    const task = this.#tasks.get(taskId);
    if (task === undefined) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `TaskId ${taskId} is not the RequestId of any asynchronous CLB write.`,
      );
    }
    const status = snapshotTask(task).status;
    return {
      Status: status,
      LoadBalancerIds: [task.lb.id],
      Message: status === 1 ? task.failWith : "",
    };
  }

  #describeQuota(ctx: CallContext): Result {
    let open = 0;
    let internal = 0;
    for (const lb of this.#lbs.values()) {
      if (lb.region !== ctx.region) continue;
      if (lb.type === "OPEN") open++;
      else internal++;
    }
    // Per-instance quotas have no meaningful "current" value, so Tencent returns null.
    return {
      QuotaSet: [
        { QuotaId: "TOTAL_OPEN_CLB_QUOTA", QuotaCurrent: open, QuotaLimit: 500 },
        { QuotaId: "TOTAL_INTERNAL_CLB_QUOTA", QuotaCurrent: internal, QuotaLimit: 500 },
        { QuotaId: "TOTAL_LISTENER_QUOTA", QuotaCurrent: null, QuotaLimit: this.#listenerQuota },
        { QuotaId: "TOTAL_LISTENER_RULE_QUOTA", QuotaCurrent: null, QuotaLimit: 50 },
        { QuotaId: "TOTAL_TARGET_BIND_QUOTA", QuotaCurrent: null, QuotaLimit: 100 },
      ],
    };
  }

  #createListener(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const ports = requiredIntegerList(params, "Ports");
    if (ports.length === 0) {
      throw new CloudApiError(ErrorCode.MissingParameter, "Ports must name at least one port.");
    }
    if (ports.length > MAX_PORTS_PER_CREATE) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `Ports has ${ports.length} ports; CreateListener takes at most ${MAX_PORTS_PER_CREATE} ` +
          "per call. Split the ports into several calls.",
      );
    }
    for (const port of ports) {
      if (port < 1 || port > 65535) {
        throw new CloudApiError(
          ErrorCode.InvalidParameterValue,
          `Port ${port} is outside 1-65535.`,
        );
      }
    }
    const protocol = requiredString(params, "Protocol");
    if (!PROTOCOLS.has(protocol)) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        `Protocol "${protocol}" is not a CLB listener protocol; use one of ` +
          `${[...PROTOCOLS].join(", ")} (for TCP and UDP on one port create two listeners).`,
      );
    }
    const names = optionalStringList(params, "ListenerNames");
    if (names !== undefined && names.length !== ports.length) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `ListenerNames has ${names.length} names for ${ports.length} ports; they pair one to one.`,
      );
    }
    this.#assertIdle(lb, ctx);

    const transport = TRANSPORT[protocol];
    const seen = new Set<number>();
    for (const port of ports) {
      if (seen.has(port)) {
        throw new CloudApiError(
          ErrorCode.PortCheckFailed,
          `Port ${port} appears twice in Ports.`,
        );
      }
      seen.add(port);
      for (const existing of lb.listeners.values()) {
        if (existing.port === port && TRANSPORT[existing.protocol] === transport) {
          throw new CloudApiError(
            ErrorCode.PortCheckFailed,
            `Port ${port}/${protocol} on ${lb.id} clashes with listener ${existing.id} ` +
              `(${existing.port}/${existing.protocol}).`,
          );
        }
      }
    }
    if (lb.listeners.size + ports.length > lb.listenerQuota) {
      throw new CloudApiError(
        ErrorCode.LimitExceeded,
        `${lb.id} has ${lb.listeners.size} listeners; ${ports.length} more would exceed its ` +
          `quota of ${lb.listenerQuota} (TOTAL_LISTENER_QUOTA).`,
      );
    }

    const created: ListenerRecord[] = ports.map((port, i) => ({
      id: this.#newId("lbl-"),
      name: names?.[i] ?? "",
      protocol,
      port,
      createTime: tencentTime(ctx.nowMs),
      targets: new Map(),
    }));
    for (const listener of created) lb.listeners.set(listener.id, listener);
    this.#startTask("CreateListener", lb, ctx, () => {
      for (const listener of created) lb.listeners.delete(listener.id);
    });
    return { ListenerIds: created.map((l) => l.id) };
  }

  #deleteListeners(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const ids = optionalStringList(params, "ListenerIds") ?? [...lb.listeners.keys()];
    if (ids.length > MAX_LISTENERS_PER_DELETE) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `ListenerIds has ${ids.length} ids; DeleteLoadBalancerListeners takes at most ` +
          `${MAX_LISTENERS_PER_DELETE} per call.`,
      );
    }
    for (const id of ids) {
      if (!lb.listeners.has(id)) {
        throw new CloudApiError(
          ErrorCode.ListenerIdNotFound,
          `Listener ${id} does not exist on ${lb.id}.`,
        );
      }
    }
    this.#assertIdle(lb, ctx);
    const removed = ids.map((id) => lb.listeners.get(id)!);
    for (const listener of removed) lb.listeners.delete(listener.id);
    this.#startTask("DeleteLoadBalancerListeners", lb, ctx, () => {
      for (const listener of removed) lb.listeners.set(listener.id, listener);
    });
    return {};
  }

  #registerTargets(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const targets = batchTargets(params);
    this.#assertIdle(lb, ctx);
    const failed = new Set<string>();
    const undo: Array<() => void> = [];
    for (const target of targets) {
      const listener = lb.listeners.get(target.listenerId);
      if (listener === undefined) {
        failed.add(target.listenerId);
        continue;
      }
      const key = targetKey(target);
      const previous = listener.targets.get(key);
      // Binding what is already bound only updates its weight.
      listener.targets.set(key, {
        type: target.eniIp !== undefined ? "ENI" : "CVM",
        eniIp: target.eniIp,
        instanceId: target.instanceId,
        port: target.port,
        weight: target.weight ?? previous?.weight ?? 10,
        registeredTime: previous?.registeredTime ?? tencentTime(ctx.nowMs),
      });
      undo.push(() => {
        if (previous === undefined) listener.targets.delete(key);
        else listener.targets.set(key, previous);
      });
    }
    this.#startTask("BatchRegisterTargets", lb, ctx, () => undo.reverse().forEach((f) => f()));
    return failedResult(failed, lb.id, "bind");
  }

  #deregisterTargets(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const targets = batchTargets(params);
    this.#assertIdle(lb, ctx);
    const failed = new Set<string>();
    const undo: Array<() => void> = [];
    for (const target of targets) {
      const listener = lb.listeners.get(target.listenerId);
      if (listener === undefined) {
        failed.add(target.listenerId);
        continue;
      }
      const key = targetKey(target);
      const previous = listener.targets.get(key);
      if (previous === undefined) continue; // Unbinding what is not bound is a no-op.
      listener.targets.delete(key);
      undo.push(() => listener.targets.set(key, previous));
    }
    this.#startTask("BatchDeregisterTargets", lb, ctx, () => undo.reverse().forEach((f) => f()));
    return failedResult(failed, lb.id, "unbind");
  }

  #lbOf(params: Params, ctx: CallContext): LoadBalancerRecord {
    const id = requiredString(params, "LoadBalancerId");
    const lb = this.#lbs.get(id);
    if (lb === undefined || lb.region !== ctx.region) {
      throw new CloudApiError(
        ErrorCode.LBIdNotFound,
        `Load balancer ${id} does not exist in region ${ctx.region}.`,
      );
    }
    return lb;
  }

  #assertIdle(lb: LoadBalancerRecord, ctx: CallContext): void {
    const task = lb.lastTask;
    if (task !== undefined && !task.settled && task.doneAtMs > ctx.nowMs) {
      throw new CloudApiError(
        ErrorCode.ResourceInOperating,
        `Your task is working (${task.action}, TaskId ${task.id}) on ${lb.id}. ` +
          "Wait for the task to complete (DescribeTaskStatus) and try again.",
      );
    }
  }

  #startTask(action: string, lb: LoadBalancerRecord, ctx: CallContext, undo: () => void): void {
    const task: TaskRecord = {
      id: ctx.requestId,
      action,
      lb,
      doneAtMs: ctx.nowMs + this.#taskDurationMs,
      failWith: ctx.failTaskWith,
      undo,
      settled: false,
    };
    this.#tasks.set(task.id, task);
    // Old finished tasks are forgotten so long benchmarks do not grow without bound.
    if (this.#tasks.size > MAX_REMEMBERED_TASKS) {
      const oldest = this.#tasks.keys().next().value;
      if (oldest !== undefined) this.#tasks.delete(oldest);
    }
    lb.lastTask = task;
    this.#running.push(task);
    this.settle(ctx.nowMs);
  }

  #newId(prefix: string): string {
    const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (;;) {
      let id = prefix;
      for (let i = 0; i < 8; i++) id += alphabet[Math.floor(this.#random() * alphabet.length)];
      if (!this.#listenerIds.has(id)) {
        this.#listenerIds.add(id);
        return id;
      }
    }
  }
}

interface BatchTargetInput {
  listenerId: string;
  eniIp?: string;
  instanceId?: string;
  port: number;
  weight?: number;
}

function batchTargets(params: Params): BatchTargetInput[] {
  const raw = params.Targets;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new CloudApiError(ErrorCode.MissingParameter, "Targets must list at least one target.");
  }
  if (raw.length > MAX_TARGETS_PER_BATCH) {
    throw new CloudApiError(
      ErrorCode.InvalidParameter,
      `Targets has ${raw.length} entries; at most ${MAX_TARGETS_PER_BATCH} per call.`,
    );
  }
  return raw.map((entry, i) => {
    if (typeof entry !== "object" || entry === null) {
      throw new CloudApiError(ErrorCode.InvalidParameter, `Targets.${i} is not an object.`);
    }
    const t = entry as Params;
    const listenerId = requiredString(t, "ListenerId", `Targets.${i}.`);
    const eniIp = optionalString(t, "EniIp", `Targets.${i}.`);
    const instanceId = optionalString(t, "InstanceId", `Targets.${i}.`);
    if ((eniIp === undefined) === (instanceId === undefined)) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `Targets.${i} must carry exactly one of EniIp and InstanceId.`,
      );
    }
    const port = optionalInteger(t, "Port", 1, 65535, `Targets.${i}.`);
    if (port === undefined) {
      throw new CloudApiError(ErrorCode.MissingParameter, `Targets.${i}.Port is required.`);
    }
    const weight = optionalInteger(t, "Weight", 0, 100, `Targets.${i}.`);
    return { listenerId, eniIp, instanceId, port, weight };
  });
}

function failedResult(failed: Set<string>, lbId: string, verb: string): Result {
  return {
    FailListenerIdSet: [...failed],
    Message: failed.size === 0
      ? ""
      : `Could not ${verb} targets: listener(s) ${[...failed].join(", ")} not found on ${lbId}.`,
  };
}

function targetKey(t: { eniIp?: string; instanceId?: string; port: number }): string {
  return `${t.eniIp ?? t.instanceId}:${t.port}`;
}

function listenerShape(l: ListenerRecord): Result {
  const layer4 = l.protocol !== "HTTP" && l.protocol !== "HTTPS";
  return {
    ListenerId: l.id,
    Protocol: l.protocol,
    Port: l.port,
    HealthCheck: layer4
      ? { HealthSwitch: 1, TimeOut: 2, IntervalTime: 5, HealthNum: 3, UnHealthNum: 3 }
      : undefined,
    Scheduler: "WRR",
    SessionExpireTime: 0,
    SniSwitch: 0,
    ListenerName: l.name,
    CreateTime: l.createTime,
    EndPort: 0,
    TargetType: "NODE",
    SessionType: "NORMAL",
    KeepaliveEnable: 0,
    Toa: false,
    DeregisterTargetRst: false,
    AttrFlags: [],
    TargetGroupList: [],
    MaxConn: -1,
    MaxCps: -1,
    IdleConnectTimeout: TRANSPORT[l.protocol] === "udp" ? 300 : 900,
  };
}

function backendShape(t: TargetRecord): Result {
  return {
    Type: t.type,
    InstanceId: t.instanceId ?? "",
    Port: t.port,
    Weight: t.weight,
    PublicIpAddresses: [],
    PrivateIpAddresses: t.eniIp !== undefined ? [t.eniIp] : [],
    InstanceName: "",
    RegisteredTime: t.registeredTime,
    EniId: "",
    Tag: "",
    Zone: "",
  };
}

function snapshotLb(lb: LoadBalancerRecord): LoadBalancerSnapshot {
  return {
    id: lb.id,
    name: lb.name,
    vip: lb.vip,
    region: lb.region,
    listenerQuota: lb.listenerQuota,
    listeners: [...lb.listeners.values()].map((l) => ({
      listenerId: l.id,
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      targets: [...l.targets.values()].map((t) => ({
        type: t.type,
        ...(t.eniIp !== undefined ? { eniIp: t.eniIp } : {}),
        ...(t.instanceId !== undefined ? { instanceId: t.instanceId } : {}),
        port: t.port,
        weight: t.weight,
      })),
    })),
  };
}

function snapshotTask(task: TaskRecord): TaskSnapshot {
  const status = !task.settled ? 2 : task.failWith !== undefined ? 1 : 0;
  return { taskId: task.id, action: task.action, loadBalancerId: task.lb.id, status };
}

/** Tencent's time format, Beijing time: `2026-01-01 08:00:00`. */
function tencentTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace("T", " ");
}

function requiredString(params: Params, key: string, prefix = ""): string {
  const value = optionalString(params, key, prefix);
  if (value === undefined || value === "") {
    throw new CloudApiError(ErrorCode.MissingParameter, `${prefix}${key} is required.`);
  }
  return value;
}

function optionalString(params: Params, key: string, prefix = ""): string | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new CloudApiError(
      ErrorCode.InvalidParameter,
      `${prefix}${key} must be a string, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function optionalStringList(params: Params, key: string): string[] | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new CloudApiError(
      ErrorCode.InvalidParameter,
      `${key} must be an array of strings, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function requiredIntegerList(params: Params, key: string): number[] {
  const value = params[key];
  if (value === undefined || value === null) {
    throw new CloudApiError(ErrorCode.MissingParameter, `${key} is required.`);
  }
  if (!Array.isArray(value) || value.some((v) => !Number.isInteger(v))) {
    throw new CloudApiError(
      ErrorCode.InvalidParameter,
      `${key} must be an array of integers, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function optionalInteger(
  params: Params,
  key: string,
  min: number,
  max: number,
  prefix = "",
): number | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value)) {
    throw new CloudApiError(
      ErrorCode.InvalidParameter,
      `${prefix}${key} must be an integer, got ${JSON.stringify(value)}.`,
    );
  }
  const n = value as number;
  if (n < min || n > max) {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValue,
      `${prefix}${key} ${n} is outside ${min}-${max}.`,
    );
  }
  return n;
}

/** Values of the Filters entry named `name`, or undefined when absent. */
function filterValues(params: Params, name: string): string[] | undefined {
  const filters = params.Filters;
  if (!Array.isArray(filters)) return undefined;
  for (const filter of filters) {
    if (typeof filter === "object" && filter !== null && (filter as Params).Name === name) {
      const values = (filter as Params).Values;
      return Array.isArray(values) ? values.filter((v) => typeof v === "string") : [];
    }
  }
  return undefined;
}
