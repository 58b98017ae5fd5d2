/**
 * The in-memory CLB of the fake: load balancers, listeners, targets and the
 * asynchronous tasks that some writes start. Request and response fields
 * follow `tencentcloud-sdk-nodejs` `clb/v20180317/clb_models.d.ts`, and so
 * does which write is asynchronous: its client docs say so of
 * `CreateListener`, `DeleteLoadBalancerListeners`, `CreateLoadBalancer` and
 * `DeleteLoadBalancer`, and not of `Batch(De)RegisterTargets`, which take
 * effect before they answer.
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
  /** Its tags, key to value. @default {{}} */
  tags?: Readonly<Record<string, string>>;
  /** The VIP's line: `BGP`, `CMCC`, `CTCC` or `CUCC`. @default {"BGP" when OPEN, "INTERNAL" otherwise} */
  vipIsp?: string;
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
  /** Its health check as DescribeListeners answers it (undefined for HTTP/HTTPS). */
  healthCheck?: Record<string, unknown>;
  /** `WRR` or `LEAST_CONN`. */
  scheduler: string;
  /** Session persistence in seconds, 0 when off. */
  sessionExpireTime: number;
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
  /** `OPEN` (public) or `INTERNAL`. */
  type: "OPEN" | "INTERNAL";
  /** 0 while it is being created (a CreateLoadBalancer's task runs), then 1. */
  status: 0 | 1;
  /** Its tags, key to value. */
  tags: Record<string, string>;
  /** The VIP's line (`BGP`, ..., or `INTERNAL`). */
  vipIsp: string;
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
  /** The load balancer it works on (the first one, for a purchase of several). */
  loadBalancerId: string;
  /** Every load balancer it works on. */
  loadBalancerIds: string[];
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
  /** Load balancers of each type (OPEN, INTERNAL) per region: TOTAL_OPEN_CLB_QUOTA and TOTAL_INTERNAL_CLB_QUOTA. @default {500} */
  loadBalancerQuota?: number;
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
 * Actions that answer before they are done and start an asynchronous task
 * (DescribeTaskStatus follows it; a taskFailure fault can fail it).
 *
 * @example
 * ```ts
 * TASK_ACTIONS.has("CreateListener"); // true
 * TASK_ACTIONS.has("BatchRegisterTargets"); // false: it is done when it answers
 * ```
 */
export const TASK_ACTIONS: ReadonlySet<string> = new Set([
  "CreateListener",
  "DeleteLoadBalancerListeners",
  "CreateLoadBalancer",
  "DeleteLoadBalancer",
]);

/**
 * Actions that change something: the asynchronous ones and
 * `Batch(De)RegisterTargets`. Those naming an instance are refused with
 * `ResourceInOperating` while a task runs on it.
 *
 * @example
 * ```ts
 * WRITE_ACTIONS.has("BatchRegisterTargets"); // true
 * ```
 */
export const WRITE_ACTIONS: ReadonlySet<string> = new Set([
  ...TASK_ACTIONS,
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

/**
 * Per-call limits. CreateListener refuses 50 ports or more ("Length of
 * .Ports should be less than 50", recorded by tke-extend-network-controller);
 * the others are documented in clb_models.d.ts.
 */
const MAX_PORTS_PER_CREATE = 49;
const MAX_LB_IDS_PER_DESCRIBE = 20;
const MAX_LISTENERS_PER_DELETE = 20;
const MAX_TARGETS_PER_BATCH = 500;
const MAX_LB_IDS_PER_DELETE = 20;
const MAX_LBS_PER_CREATE = 20;
const MAX_TAGS = 20;
const MAX_FILTERS = 10;
const MAX_FILTER_VALUES = 100;
const VIP_ISPS = new Set(["BGP", "CMCC", "CTCC", "CUCC"]);
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
  /** The HealthCheck DescribeListeners answers (undefined for HTTP/HTTPS). */
  healthCheck?: Params;
  scheduler: string;
  sessionExpireTime: number;
  /** Further CreateListener fields that DescribeListeners echoes (SessionType, MaxConn, ...). */
  echoed: Params;
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
  tags: Map<string, string>;
  vipIsp: string;
  /** Status is 0 (creating) until this time, then 1. */
  readyAtMs: number;
  listeners: Map<string, ListenerRecord>;
  /** The last task started on this load balancer. */
  lastTask?: TaskRecord;
}

interface TaskRecord {
  id: string;
  action: string;
  lbs: LoadBalancerRecord[];
  doneAtMs: number;
  failWith?: string;
  undo: () => void;
  settled: boolean;
}

/** A CreateLoadBalancer's ClientToken, answered again with the same purchase. */
interface PurchaseRecord {
  loadBalancerIds: string[];
  dealName: string;
  task: TaskRecord;
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
  /** Ids handed out (listeners and load balancers), never handed out again. */
  #listenerIds = new Set<string>();
  #loadBalancerQuota: number;
  /** Purchases by region and ClientToken. */
  #purchases = new Map<string, PurchaseRecord>();
  #deals = 0;

  constructor(options: ClbStateOptions) {
    this.#region = options.region;
    this.#listenerQuota = options.listenerQuota;
    this.#loadBalancerQuota = options.loadBalancerQuota ?? 500;
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
    const type = spec.type ?? "OPEN";
    const record: LoadBalancerRecord = {
      id: spec.id,
      name: spec.name ?? spec.id,
      vip: spec.vip ?? `203.0.113.${(sequence % 254) + 1}`,
      region: spec.region ?? this.#region,
      listenerQuota: spec.listenerQuota ?? this.#listenerQuota,
      type,
      vpcId: spec.vpcId ?? "vpc-fake0001",
      createTime: tencentTime(nowMs),
      sequence,
      tags: new Map(Object.entries(spec.tags ?? {})),
      vipIsp: spec.vipIsp ?? (type === "OPEN" ? "BGP" : "INTERNAL"),
      readyAtMs: nowMs,
      listeners: new Map(),
    };
    this.#listenerIds.add(spec.id);
    this.#lbs.set(spec.id, record);
    return snapshotLb(record, nowMs);
  }

  /** Removes a load balancer and everything on it; true when it existed. */
  removeLoadBalancer(id: string): boolean {
    return this.#lbs.delete(id);
  }

  /** The current state of a load balancer, or undefined. */
  loadBalancer(id: string, nowMs: number): LoadBalancerSnapshot | undefined {
    this.settle(nowMs);
    const lb = this.#lbs.get(id);
    return lb === undefined ? undefined : snapshotLb(lb, nowMs);
  }

  /** Every load balancer, oldest first. */
  loadBalancers(nowMs: number): LoadBalancerSnapshot[] {
    this.settle(nowMs);
    return [...this.#lbs.values()].map((lb) => snapshotLb(lb, nowMs));
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
      case "CreateLoadBalancer":
        return this.#createLoadBalancer(params, ctx);
      case "DeleteLoadBalancer":
        return this.#deleteLoadBalancer(params, ctx);
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
    const type = optionalString(params, "LoadBalancerType");
    const name = optionalString(params, "LoadBalancerName");
    const filters = loadBalancerFilters(params);
    const matches = [...this.#lbs.values()]
      .filter((lb) => lb.region === ctx.region)
      .filter((lb) => ids === undefined || ids.includes(lb.id))
      .filter((lb) => vips === undefined || vips.includes(lb.vip))
      .filter((lb) => type === undefined || lb.type === type)
      // Documented as a fuzzy match.
      .filter((lb) => name === undefined || lb.name.includes(name))
      .filter((lb) => filters.every((matches) => matches(lb)))
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
          Status: statusOf(lb, ctx.nowMs),
          CreateTime: lb.createTime,
          StatusTime: lb.createTime,
          ProjectId: 0,
          VpcId: lb.vpcId,
          OpenBgp: 0,
          Snat: false,
          Isolation: 0,
          SubnetId: "",
          Tags: [...lb.tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
          SecureGroups: [],
          AddressIPVersion: "ipv4",
          VipIsp: lb.vipIsp,
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
    // A purchase's task is also found by its DealName.
    const taskId = optionalString(params, "TaskId") ?? optionalString(params, "DealName");
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
        `TaskId ${taskId} is not the RequestId (or DealName) of any asynchronous CLB write.`,
      );
    }
    const status = snapshotTask(task).status;
    return {
      Status: status,
      LoadBalancerIds: task.lbs.map((lb) => lb.id),
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
        {
          QuotaId: "TOTAL_OPEN_CLB_QUOTA",
          QuotaCurrent: open,
          QuotaLimit: this.#loadBalancerQuota,
        },
        {
          QuotaId: "TOTAL_INTERNAL_CLB_QUOTA",
          QuotaCurrent: internal,
          QuotaLimit: this.#loadBalancerQuota,
        },
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
      // The real API's words (it names no count); how many were sent is ours.
      throw new CloudApiError(
        ErrorCode.InvalidParameterValueLength,
        `Length of .Ports should be less than ${MAX_PORTS_PER_CREATE + 1} ` +
          `(got ${ports.length}); split the ports into several CreateListener calls.`,
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
    const settings = listenerSettings(params, protocol);
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
      ...settings,
      healthCheck: settings.healthCheck && { ...settings.healthCheck },
    }));
    for (const listener of created) lb.listeners.set(listener.id, listener);
    this.#startTask("CreateListener", [lb], ctx, () => {
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
    this.#startTask("DeleteLoadBalancerListeners", [lb], ctx, () => {
      for (const listener of removed) lb.listeners.set(listener.id, listener);
    });
    return {};
  }

  #registerTargets(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const targets = batchTargets(params);
    this.#assertIdle(lb, ctx);
    const failed = new Set<string>();
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
    }
    // Synchronous: bound when it answers, no task (clb_client.d.ts).
    return failedResult(failed, lb.id, "bind");
  }

  #deregisterTargets(params: Params, ctx: CallContext): Result {
    const lb = this.#lbOf(params, ctx);
    const targets = batchTargets(params);
    this.#assertIdle(lb, ctx);
    const failed = new Set<string>();
    for (const target of targets) {
      const listener = lb.listeners.get(target.listenerId);
      if (listener === undefined) {
        failed.add(target.listenerId);
        continue;
      }
      // Unbinding what is not bound is a no-op.
      listener.targets.delete(targetKey(target));
    }
    // Synchronous, like BatchRegisterTargets.
    return failedResult(failed, lb.id, "unbind");
  }

  #createLoadBalancer(params: Params, ctx: CallContext): Result {
    const type = requiredString(params, "LoadBalancerType");
    if (type !== "OPEN" && type !== "INTERNAL") {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        `LoadBalancerType "${type}" must be OPEN (public) or INTERNAL.`,
      );
    }
    const forward = optionalInteger(params, "Forward", 0, 1);
    if (forward === 0) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        "Forward 0 (a classic load balancer) can no longer be bought; only 1.",
      );
    }
    const count = optionalInteger(params, "Number", 1, MAX_LBS_PER_CREATE) ?? 1;
    const name = optionalString(params, "LoadBalancerName");
    if (name !== undefined && (name.length < 1 || name.length > 80)) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValueLength,
        `LoadBalancerName "${name}" must be 1 to 80 characters.`,
      );
    }
    const vipIsp = optionalString(params, "VipIsp");
    if (vipIsp !== undefined && (type !== "OPEN" || !VIP_ISPS.has(vipIsp))) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        type !== "OPEN"
          ? `VipIsp applies to OPEN load balancers only, not ${type}.`
          : `VipIsp "${vipIsp}" must be one of ${[...VIP_ISPS].join(", ")}.`,
      );
    }
    if (type === "INTERNAL" && optionalString(params, "SubnetId") === undefined) {
      throw new CloudApiError(
        ErrorCode.MissingParameter,
        "SubnetId is required for an INTERNAL load balancer (its VIP comes from that subnet).",
      );
    }
    const tags = tagList(params);
    const vpcId = optionalString(params, "VpcId") ?? "vpc-fake0001";
    const token = optionalString(params, "ClientToken");
    if (token !== undefined && (token.length > 64 || !/^[\x20-\x7e]+$/.test(token))) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        "ClientToken must be 1 to 64 printable ASCII characters.",
      );
    }

    // The same ClientToken is the same purchase: its instances, not new ones.
    const tokenKey = token === undefined ? undefined : `${ctx.region}/${token}`;
    const earlier = tokenKey === undefined ? undefined : this.#purchases.get(tokenKey);
    if (earlier !== undefined) {
      if (earlier.task.settled && earlier.task.failWith !== undefined) {
        throw new CloudApiError(
          ErrorCode.ClientTokenLimitExceeded,
          `The purchase of ClientToken ${token} (DealName ${earlier.dealName}) failed; ` +
            "buy again with a new ClientToken.",
        );
      }
      this.#tasks.set(ctx.requestId, earlier.task);
      return { LoadBalancerIds: earlier.loadBalancerIds, DealName: earlier.dealName };
    }

    const held = [...this.#lbs.values()]
      .filter((lb) => lb.region === ctx.region && lb.type === type).length;
    if (held + count > this.#loadBalancerQuota) {
      throw new CloudApiError(
        ErrorCode.LimitExceeded,
        `${ctx.region} holds ${held} ${type} load balancers; ${count} more would exceed the ` +
          `quota of ${this.#loadBalancerQuota} (TOTAL_${type}_CLB_QUOTA).`,
      );
    }
    const bought: LoadBalancerRecord[] = [];
    const vipsInUse = new Set([...this.#lbs.values()].map((lb) => lb.vip));
    for (let i = 0; i < count; i++) {
      const id = this.#newId("lb-");
      bought.push({
        id,
        // Documented: the name is taken only when one instance is bought.
        name: count === 1 && name !== undefined ? name : id,
        vip: newVip(type, vipsInUse),
        region: ctx.region,
        listenerQuota: this.#listenerQuota,
        type,
        vpcId,
        createTime: tencentTime(ctx.nowMs),
        sequence: ++this.#sequence,
        tags: new Map(tags),
        vipIsp: type === "OPEN" ? vipIsp ?? "BGP" : "INTERNAL",
        readyAtMs: ctx.nowMs + this.taskDurationMs,
        listeners: new Map(),
      });
    }
    for (const lb of bought) this.#lbs.set(lb.id, lb);
    const dealName = `${tencentTime(ctx.nowMs).replace(/\D/g, "").slice(0, 8)}${
      String(++this.#deals).padStart(8, "0")
    }`;
    // A failed delivery takes the instances away again.
    const task = this.#startTask("CreateLoadBalancer", bought, ctx, () => {
      for (const lb of bought) this.#lbs.delete(lb.id);
    });
    this.#tasks.set(dealName, task);
    const loadBalancerIds = bought.map((lb) => lb.id);
    if (tokenKey !== undefined) this.#purchases.set(tokenKey, { loadBalancerIds, dealName, task });
    return { LoadBalancerIds: loadBalancerIds, DealName: dealName };
  }

  #deleteLoadBalancer(params: Params, ctx: CallContext): Result {
    const ids = optionalStringList(params, "LoadBalancerIds");
    if (ids === undefined || ids.length === 0) {
      throw new CloudApiError(ErrorCode.MissingParameter, "LoadBalancerIds is required.");
    }
    if (ids.length > MAX_LB_IDS_PER_DELETE) {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `LoadBalancerIds has ${ids.length} ids; DeleteLoadBalancer takes at most ` +
          `${MAX_LB_IDS_PER_DELETE} per call.`,
      );
    }
    const forceDelete = params.ForceDelete;
    if (forceDelete !== undefined && typeof forceDelete !== "boolean") {
      throw new CloudApiError(
        ErrorCode.InvalidParameter,
        `ForceDelete must be a boolean, got ${JSON.stringify(forceDelete)}.`,
      );
    }
    const lbs = [...new Set(ids)].map((id) => this.#lbOf({ LoadBalancerId: id }, ctx));
    for (const lb of lbs) this.#assertIdle(lb, ctx);
    // Gone at once with its listeners and targets (later calls naming it
    // answer LBIdNotFound); a failed task brings it back as it was.
    for (const lb of lbs) this.#lbs.delete(lb.id);
    this.#startTask("DeleteLoadBalancer", lbs, ctx, () => {
      for (const lb of lbs) this.#lbs.set(lb.id, lb);
    });
    return {};
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

  #startTask(
    action: string,
    lbs: LoadBalancerRecord[],
    ctx: CallContext,
    undo: () => void,
  ): TaskRecord {
    const task: TaskRecord = {
      id: ctx.requestId,
      action,
      lbs,
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
    for (const lb of lbs) lb.lastTask = task;
    this.#running.push(task);
    this.settle(ctx.nowMs);
    return task;
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

/**
 * A VIP no live load balancer has (and marks it used): documentation
 * ranges when OPEN, 10.0.0.0/16 when INTERNAL.
 */
function newVip(type: "OPEN" | "INTERNAL", used: Set<string>): string {
  const prefixes = type === "OPEN"
    ? ["203.0.113.", "198.51.100.", "192.0.2."]
    : Array.from({ length: 256 }, (_, i) => `10.0.${i}.`);
  for (const prefix of prefixes) {
    for (let host = 1; host < 255; host++) {
      if (!used.has(prefix + host)) {
        used.add(prefix + host);
        return prefix + host;
      }
    }
  }
  throw new CloudApiError(
    ErrorCode.ResourceInsufficient,
    `No ${type} VIP is left in this fake; delete load balancers first.`,
  );
}

/** 0 (creating) while a purchase's task runs, then 1 (normal). */
function statusOf(lb: LoadBalancerRecord, nowMs: number): 0 | 1 {
  return nowMs < lb.readyAtMs ? 0 : 1;
}

/** CreateLoadBalancer's `Tags` as key → value, checked. */
function tagList(params: Params): Map<string, string> {
  const raw = params.Tags;
  const tags = new Map<string, string>();
  if (raw === undefined || raw === null) return tags;
  if (!Array.isArray(raw)) {
    throw new CloudApiError(ErrorCode.InvalidParameter, "Tags must be an array of TagInfo.");
  }
  if (raw.length > MAX_TAGS) {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValueLength,
      `Tags has ${raw.length} tags; at most ${MAX_TAGS}.`,
    );
  }
  raw.forEach((entry, i) => {
    const tag = typeof entry === "object" && entry !== null ? entry as Params : {};
    const key = requiredString(tag, "TagKey", `Tags.${i}.`);
    const value = optionalString(tag, "TagValue", `Tags.${i}.`);
    if (value === undefined) {
      throw new CloudApiError(ErrorCode.MissingParameter, `Tags.${i}.TagValue is required.`);
    }
    if (tags.has(key)) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValueDuplicate,
        `Tags names the key "${key}" twice.`,
      );
    }
    tags.set(key, value);
  });
  return tags;
}

/**
 * DescribeLoadBalancers' `Filters` this fake serves, each a test an
 * instance must pass (filters AND, values OR, as documented): `tag-key`,
 * `tag:<key>` and `vip-isp`. Others are refused rather than ignored, so a
 * test never believes it filtered.
 */
function loadBalancerFilters(params: Params): Array<(lb: LoadBalancerRecord) => boolean> {
  const raw = params.Filters;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new CloudApiError(ErrorCode.InvalidParameter, "Filters must be an array of Filter.");
  }
  if (raw.length > MAX_FILTERS) {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValueLength,
      `Filters has ${raw.length} filters; at most ${MAX_FILTERS}.`,
    );
  }
  return raw.map((entry, i) => {
    const filter = typeof entry === "object" && entry !== null ? entry as Params : {};
    const name = requiredString(filter, "Name", `Filters.${i}.`);
    const values = optionalStringList(filter, "Values");
    if (values === undefined || values.length === 0) {
      throw new CloudApiError(ErrorCode.MissingParameter, `Filters.${i}.Values is required.`);
    }
    if (values.length > MAX_FILTER_VALUES) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValueLength,
        `Filters.${i}.Values has ${values.length} values; at most ${MAX_FILTER_VALUES}.`,
      );
    }
    if (name === "tag-key") return (lb) => values.some((key) => lb.tags.has(key));
    if (name === "vip-isp") return (lb) => values.includes(lb.vipIsp);
    if (name.startsWith("tag:") && name.length > 4) {
      const key = name.slice(4);
      return (lb) => lb.tags.has(key) && values.includes(lb.tags.get(key)!);
    }
    throw new CloudApiError(
      ErrorCode.InvalidFilter,
      `Filters.${i}.Name "${name}" is not served by this fake (it serves tag-key, ` +
        "tag:<key> and vip-isp).",
    );
  });
}

/** CreateListenerRequest's fields (clb_models.d.ts); any other is refused as UnknownParameter. */
const CREATE_LISTENER_FIELDS = new Set([
  "LoadBalancerId",
  "Ports",
  "Protocol",
  "ListenerNames",
  "HealthCheck",
  "Certificate",
  "SessionExpireTime",
  "Scheduler",
  "SniSwitch",
  "TargetType",
  "SessionType",
  "KeepaliveEnable",
  "EndPort",
  "DeregisterTargetRst",
  "MultiCertInfo",
  "MaxConn",
  "MaxCps",
  "IdleConnectTimeout",
  "ProxyProtocol",
  "SnatEnable",
  "FullEndPorts",
  "SslCloseSwitch",
  "DataCompressMode",
  "RescheduleTargetZeroWeight",
  "RescheduleUnhealthy",
  "RescheduleExpandTarget",
  "RescheduleStartTime",
  "RescheduleInterval",
]);

/** Fields of CreateListener that DescribeListeners answers as they were given. */
const ECHOED_LISTENER_FIELDS = [
  "SessionType",
  "TargetType",
  "KeepaliveEnable",
  "DeregisterTargetRst",
  "MaxConn",
  "MaxCps",
  "IdleConnectTimeout",
  "DataCompressMode",
  "RescheduleStartTime",
  "RescheduleInterval",
];

/** HealthCheck's fields (clb_models.d.ts), and the ranges this fake checks. */
const HEALTH_CHECK_FIELDS = new Set([
  "HealthSwitch",
  "TimeOut",
  "IntervalTime",
  "HealthNum",
  "UnHealthNum",
  "HttpCode",
  "HttpCheckPath",
  "HttpCheckDomain",
  "HttpCheckMethod",
  "CheckPort",
  "ContextType",
  "SendContext",
  "RecvContext",
  "CheckType",
  "HttpVersion",
  "SourceIpType",
  "ExtendedCode",
]);
const HEALTH_CHECK_RANGES: Record<string, [number, number]> = {
  HealthSwitch: [0, 1],
  TimeOut: [2, 60],
  IntervalTime: [2, 300],
  HealthNum: [2, 10],
  UnHealthNum: [2, 10],
  SourceIpType: [0, 1],
};

/**
 * What a CreateListener's further fields make of its listeners: the health
 * check (given fields over the default), scheduler, session persistence,
 * and the echoed fields; each checked as documented.
 */
function listenerSettings(
  params: Params,
  protocol: string,
): Pick<ListenerRecord, "healthCheck" | "scheduler" | "sessionExpireTime" | "echoed"> {
  for (const key of Object.keys(params)) {
    if (!CREATE_LISTENER_FIELDS.has(key)) {
      throw new CloudApiError(
        ErrorCode.UnknownParameter,
        `The parameter ${key} is not recognized; CreateListener has no such field.`,
      );
    }
  }
  const layer4 = protocol !== "HTTP" && protocol !== "HTTPS";
  let healthCheck: Params | undefined = layer4
    ? { HealthSwitch: 1, TimeOut: 2, IntervalTime: 5, HealthNum: 3, UnHealthNum: 3 }
    : undefined;
  const given = params.HealthCheck;
  if (given !== undefined && given !== null) {
    if (typeof given !== "object" || Array.isArray(given)) {
      throw new CloudApiError(ErrorCode.InvalidParameter, "HealthCheck must be an object.");
    }
    for (const [key, value] of Object.entries(given as Params)) {
      if (!HEALTH_CHECK_FIELDS.has(key)) {
        throw new CloudApiError(
          ErrorCode.UnknownParameter,
          `The parameter HealthCheck.${key} is not recognized.`,
        );
      }
      const range = HEALTH_CHECK_RANGES[key];
      if (range !== undefined) optionalInteger({ [key]: value }, key, ...range, "HealthCheck.");
    }
    // Layer-7 listeners check health per rule; layer-4 ones here.
    if (layer4) healthCheck = { ...healthCheck, ...(given as Params) };
    const timeOut = Number(healthCheck?.TimeOut);
    const interval = Number(healthCheck?.IntervalTime);
    if (timeOut >= interval) {
      throw new CloudApiError(
        ErrorCode.InvalidParameterValue,
        `HealthCheck.TimeOut ${timeOut} must be less than HealthCheck.IntervalTime ${interval}.`,
      );
    }
  }
  const scheduler = optionalString(params, "Scheduler") ?? "WRR";
  if (scheduler !== "WRR" && scheduler !== "LEAST_CONN") {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValue,
      `Scheduler "${scheduler}" must be WRR or LEAST_CONN.`,
    );
  }
  const sessionExpireTime = optionalInteger(params, "SessionExpireTime", 0, 3600) ?? 0;
  if (sessionExpireTime !== 0 && sessionExpireTime < 30) {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValue,
      `SessionExpireTime ${sessionExpireTime} must be 0 (off) or 30-3600 seconds.`,
    );
  }
  if (sessionExpireTime !== 0 && protocol !== "TCP" && protocol !== "UDP") {
    throw new CloudApiError(
      ErrorCode.InvalidParameterValue,
      `SessionExpireTime applies to TCP/UDP listeners only, not ${protocol}.`,
    );
  }
  const echoed: Params = {};
  for (const key of ECHOED_LISTENER_FIELDS) {
    if (params[key] !== undefined && params[key] !== null) echoed[key] = params[key];
  }
  return { healthCheck, scheduler, sessionExpireTime, echoed };
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
    // Worded as the API words its Ports limit (this one's exact text is not recorded).
    throw new CloudApiError(
      ErrorCode.InvalidParameterValueLength,
      `Length of .Targets should be no more than ${MAX_TARGETS_PER_BATCH} ` +
        `(got ${raw.length}); split the targets into several calls.`,
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
  return {
    ListenerId: l.id,
    Protocol: l.protocol,
    Port: l.port,
    HealthCheck: l.healthCheck,
    Scheduler: l.scheduler,
    SessionExpireTime: l.sessionExpireTime,
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
    ...l.echoed,
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

function snapshotLb(lb: LoadBalancerRecord, nowMs: number): LoadBalancerSnapshot {
  return {
    id: lb.id,
    name: lb.name,
    vip: lb.vip,
    region: lb.region,
    listenerQuota: lb.listenerQuota,
    type: lb.type,
    status: statusOf(lb, nowMs),
    tags: Object.fromEntries(lb.tags),
    vipIsp: lb.vipIsp,
    listeners: [...lb.listeners.values()].map((l) => ({
      listenerId: l.id,
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      ...(l.healthCheck !== undefined ? { healthCheck: { ...l.healthCheck } } : {}),
      scheduler: l.scheduler,
      sessionExpireTime: l.sessionExpireTime,
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
  return {
    taskId: task.id,
    action: task.action,
    loadBalancerId: task.lbs[0].id,
    loadBalancerIds: task.lbs.map((lb) => lb.id),
    status,
  };
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
