/**
 * A local fake of Tencent Cloud API 3.0 for the CLB service (version
 * 2018-03-17), for tests and benchmarks that drive the real
 * `tencentcloud-sdk-nodejs` client. It checks TC3-HMAC-SHA256 signatures,
 * answers in the real envelope, runs the asynchronous writes as tasks (and
 * the synchronous ones, `Batch(De)RegisterTargets`, at once), sells and
 * deletes load balancers, enforces quotas and per-action rate limits,
 * injects faults, and counts calls.
 *
 * @module
 */
import { CloudApiError, ErrorCode } from "./cloud_api_error.ts";
import {
  ACTIONS,
  ClbState,
  type LoadBalancerSnapshot,
  type LoadBalancerSpec,
  TASK_ACTIONS,
  type TaskSnapshot,
} from "./clb_state.ts";
import { type Fault, FaultInjector } from "./fault_injector.ts";
import { RateLimiter } from "./rate_limiter.ts";
import { verifyTc3 } from "./tc3_signature.ts";

/**
 * The API version the CLB SDK client sends in X-TC-Version.
 *
 * @example
 * ```ts
 * request.headers.get("x-tc-version") === CLB_API_VERSION;
 * ```
 */
export const CLB_API_VERSION = "2018-03-17";

/**
 * A SecretId/SecretKey pair the fake accepts.
 *
 * @example
 * ```ts
 * const second: FakeCredential = { secretId: "AKIDsecond", secretKey: "second-key" };
 * await FakeTencentCloud.start({ extraCredentials: [second] });
 * ```
 */
export interface FakeCredential {
  /** Public half, sent in the credential scope. */
  secretId: string;
  /** Private half, used only to sign. */
  secretKey: string;
}

/**
 * Options for {@linkcode FakeTencentCloud.start}.
 *
 * @example
 * ```ts
 * const options: FakeTencentCloudOptions = {
 *   loadBalancers: [{ id: "lb-a", vip: "203.0.113.7" }],
 *   taskDurationMs: 300,
 *   rateLimits: { CreateListener: 5 },
 *   faults: [{ kind: "error", code: "InternalError", rate: 0.05 }],
 * };
 * ```
 */
export interface FakeTencentCloudOptions {
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default {0} */
  port?: number;
  /** SecretId of the main credential. @default {"AKIDgamenetFakeCloud00000000000000"} */
  secretId?: string;
  /** SecretKey of the main credential. @default {"gamenetFakeCloudSecretKey0000000"} */
  secretKey?: string;
  /** More credentials to accept. @default {[]} */
  extraCredentials?: readonly FakeCredential[];
  /** Region of load balancers that name none, and of {@linkcode FakeTencentCloud.clientConfig}. @default {"ap-guangzhou"} */
  region?: string;
  /** Load balancers that exist from the start. @default {[]} */
  loadBalancers?: readonly LoadBalancerSpec[];
  /** Listener quota per load balancer (TOTAL_LISTENER_QUOTA). @default {50} */
  listenerQuota?: number;
  /**
   * Load balancers of each type per region (TOTAL_OPEN_CLB_QUOTA,
   * TOTAL_INTERNAL_CLB_QUOTA, the ones set up included): a CreateLoadBalancer
   * beyond it answers `LimitExceeded`. @default {500}
   */
  loadBalancerQuota?: number;
  /** How long the asynchronous task of each write runs. @default {0} */
  taskDurationMs?: number;
  /** Calls per second per action (Tencent documents 20); `Infinity` disables. @default {20} */
  rateLimitPerSecond?: number;
  /** Per-action rate limits, e.g. `{ CreateListener: 5 }`. @default {{}} */
  rateLimits?: Readonly<Record<string, number>>;
  /** Faults armed from the start. @default {[]} */
  faults?: readonly Fault[];
  /** Seed for fault rolls and generated ids, so runs repeat. @default {1} */
  seed?: number;
  /** The fake's clock in ms: tasks, rate limits and timestamp checks use it. @default {Date.now} */
  now?: () => number;
  /** Allowed distance of X-TC-Timestamp from the clock. @default {300} */
  maxClockSkewSeconds?: number;
}

/**
 * What the fake has seen, for assertions and for "cloud API calls per Pod".
 *
 * @example
 * ```ts
 * const { totalCalls } = cloud.stats();
 * console.log(`${(totalCalls / pods).toFixed(1)} cloud API calls per Pod`);
 * ```
 */
export interface FakeCloudStats {
  /** Requests received per X-TC-Action (all outcomes). */
  calls: Record<string, number>;
  /** Sum of `calls`. */
  totalCalls: number;
  /** Calls refused with RequestLimitExceeded by the rate limiter. */
  throttled: number;
  /** Calls struck by an injected fault. */
  faults: number;
  /** Calls refused with an AuthFailure.* code. */
  authFailures: number;
  /** Error envelopes sent, per error code. */
  errors: Record<string, number>;
}

/**
 * The part of the SDK's `ClientConfig` the fake fills in.
 *
 * @example
 * ```ts
 * const config: FakeClientConfig = cloud.clientConfig({ reqTimeout: 2 });
 * new clb.v20180317.Client(config);
 * ```
 */
export interface FakeClientConfig {
  /** The credential the SDK signs with. */
  credential: { secretId: string; secretKey: string };
  /** Sent as X-TC-Region. */
  region: string;
  /** Points the SDK at the fake over plain HTTP; `reqTimeout` is in seconds. */
  profile: { httpProfile: { endpoint: string; protocol: string; reqTimeout: number } };
}

const DEFAULT_SECRET_ID = "AKIDgamenetFakeCloud00000000000000";
const DEFAULT_SECRET_KEY = "gamenetFakeCloudSecretKey0000000";

/**
 * A running fake of the Tencent Cloud CLB API on `127.0.0.1`.
 *
 * @example
 * ```ts
 * import { clb } from "tencentcloud-sdk-nodejs/tencentcloud/services/clb/index.js";
 * await using cloud = await FakeTencentCloud.start({ loadBalancers: [{ id: "lb-1" }] });
 * const client = new clb.v20180317.Client(cloud.clientConfig());
 * const { ListenerIds } = await client.CreateListener({
 *   LoadBalancerId: "lb-1", Ports: [7000, 7001], Protocol: "UDP",
 * });
 * cloud.stats().calls.CreateListener; // 1
 * ```
 */
export class FakeTencentCloud {
  /** `host:port` to put in the SDK's `profile.httpProfile.endpoint`. */
  readonly endpoint: string;
  /** The SecretId that signs valid requests. */
  readonly secretId: string;
  /** The SecretKey that signs valid requests (a fake one). */
  readonly secretKey: string;
  /** Default region. */
  readonly region: string;

  #server: Deno.HttpServer<Deno.NetAddr>;
  #credentials: Map<string, string>;
  #clb: ClbState;
  #limiter: RateLimiter;
  #faults: FaultInjector;
  #now: () => number;
  #maxSkew: number;
  #stats: FakeCloudStats = emptyStats();
  /** Release functions of calls held by a hang fault. */
  #held = new Set<() => void>();
  #stopping: Promise<void> | undefined;

  /**
   * gamenet's flags and environment to use this cloud: its region and
   * endpoint, the signing credentials, and `--clb-ids` when `lbs` are given.
   */
  gamenetFlags(lbs: readonly string[] = []): { args: string[]; env: Record<string, string> } {
    return {
      args: [
        `--tencentcloud-region=${this.region}`,
        `--tencentcloud-endpoint=http://${this.endpoint}`,
        ...(lbs.length > 0 ? [`--clb-ids=${lbs.join(",")}`] : []),
      ],
      env: { TENCENTCLOUD_SECRET_ID: this.secretId, TENCENTCLOUD_SECRET_KEY: this.secretKey },
    };
  }

  private constructor(options: FakeTencentCloudOptions) {
    this.#now = options.now ?? Date.now;
    this.#maxSkew = options.maxClockSkewSeconds ?? 300;
    this.secretId = options.secretId ?? DEFAULT_SECRET_ID;
    this.secretKey = options.secretKey ?? DEFAULT_SECRET_KEY;
    this.region = options.region ?? "ap-guangzhou";
    this.#credentials = new Map([[this.secretId, this.secretKey]]);
    for (const c of options.extraCredentials ?? []) this.#credentials.set(c.secretId, c.secretKey);
    const seed = options.seed ?? 1;
    this.#clb = new ClbState({
      region: this.region,
      listenerQuota: options.listenerQuota ?? 50,
      loadBalancerQuota: options.loadBalancerQuota ?? 500,
      taskDurationMs: options.taskDurationMs ?? 0,
      seed,
    });
    for (const spec of options.loadBalancers ?? []) this.#clb.addLoadBalancer(spec, this.#now());
    this.#limiter = new RateLimiter({
      perSecond: options.rateLimitPerSecond ?? 20,
      perAction: options.rateLimits,
    });
    this.#faults = new FaultInjector(seed);
    for (const fault of options.faults ?? []) this.#faults.add(fault);
    // Deno.serve binds synchronously, so the address is known right away.
    this.#server = Deno.serve(
      { hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    const { hostname, port } = this.#server.addr;
    this.endpoint = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }

  /**
   * Starts the fake; it listens once the promise resolves.
   *
   * @example
   * ```ts
   * const cloud = await FakeTencentCloud.start({ taskDurationMs: 500, seed: 7 });
   * try {
   *   // ... drive the SDK client against cloud.clientConfig() ...
   * } finally {
   *   await cloud.stop();
   * }
   * ```
   */
  static start(options: FakeTencentCloudOptions = {}): Promise<FakeTencentCloud> {
    try {
      return Promise.resolve(new FakeTencentCloud(options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A `ClientConfig` for the SDK's CLB client that points at this fake and
   * signs with its credential.
   *
   * @example
   * ```ts
   * const client = new clb.v20180317.Client(cloud.clientConfig({ reqTimeout: 1 }));
   * ```
   */
  clientConfig(
    overrides: { secretId?: string; secretKey?: string; region?: string; reqTimeout?: number } = {},
  ): FakeClientConfig {
    return {
      credential: {
        secretId: overrides.secretId ?? this.secretId,
        secretKey: overrides.secretKey ?? this.secretKey,
      },
      region: overrides.region ?? this.region,
      profile: {
        httpProfile: {
          endpoint: this.endpoint,
          protocol: "http://",
          reqTimeout: overrides.reqTimeout ?? 60,
        },
      },
    };
  }

  /**
   * Creates (or replaces) a load balancer with no listeners.
   *
   * @example
   * ```ts
   * cloud.addLoadBalancer({ id: "lb-a", vip: "203.0.113.7", listenerQuota: 10 });
   * ```
   */
  addLoadBalancer(spec: LoadBalancerSpec): LoadBalancerSnapshot {
    return this.#clb.addLoadBalancer(spec, this.#now());
  }

  /**
   * Deletes a load balancer, as if someone removed it in the console.
   *
   * @example
   * ```ts
   * cloud.removeLoadBalancer("lb-a"); // true
   * ```
   */
  removeLoadBalancer(id: string): boolean {
    return this.#clb.removeLoadBalancer(id);
  }

  /**
   * The truth about one load balancer: its listeners and their targets.
   *
   * @example
   * ```ts
   * cloud.loadBalancer("lb-a")?.listeners.map((l) => `${l.port}/${l.protocol}`);
   * ```
   */
  loadBalancer(id: string): LoadBalancerSnapshot | undefined {
    return this.#clb.loadBalancer(id, this.#now());
  }

  /**
   * Every load balancer, oldest first (bought ones included, with their
   * tags, name and Status).
   *
   * @example
   * ```ts
   * const listeners = cloud.loadBalancers().flatMap((lb) => lb.listeners).length;
   * const bought = cloud.loadBalancers().filter((lb) => lb.tags["gamenet.io/owner"]).length;
   * ```
   */
  loadBalancers(): LoadBalancerSnapshot[] {
    return this.#clb.loadBalancers(this.#now());
  }

  /**
   * A write's task by its TaskId (the write's RequestId).
   *
   * @example
   * ```ts
   * cloud.task(requestId)?.status; // 0 done, 1 failed, 2 running
   * ```
   */
  task(taskId: string): TaskSnapshot | undefined {
    return this.#clb.task(taskId, this.#now());
  }

  /**
   * How long the task of each later write runs, in milliseconds.
   *
   * @example
   * ```ts
   * cloud.taskDurationMs = 1_000;
   * ```
   */
  get taskDurationMs(): number {
    return this.#clb.taskDurationMs;
  }

  set taskDurationMs(ms: number) {
    this.#clb.taskDurationMs = ms;
  }

  /**
   * Sets the rate limit of one action, or of all actions without their own with `"*"`.
   *
   * @example
   * ```ts
   * cloud.setRateLimit("DescribeTargets", 5);
   * cloud.setRateLimit("*", Infinity); // benchmarks that measure the controller alone
   * ```
   */
  setRateLimit(action: string, perSecond: number): void {
    this.#limiter.setLimit(action, perSecond);
  }

  /**
   * Arms a fault; see {@linkcode Fault} for the kinds.
   *
   * @example
   * ```ts
   * cloud.injectFault({ kind: "http", status: 503, actions: ["BatchRegisterTargets"], times: 1 });
   * cloud.injectFault({ kind: "error", code: "InternalError", rate: 0.1 });
   * ```
   */
  injectFault(fault: Fault): void {
    this.#faults.add(fault);
  }

  /**
   * Disarms every fault (calls already held by a hang stay held until stop()).
   *
   * @example
   * ```ts
   * cloud.clearFaults();
   * ```
   */
  clearFaults(): void {
    this.#faults.clear();
  }

  /**
   * A copy of the counters.
   *
   * @example
   * ```ts
   * const { calls, throttled } = cloud.stats();
   * console.log(`${calls.CreateListener ?? 0} CreateListener calls, ${throttled} throttled`);
   * ```
   */
  stats(): FakeCloudStats {
    return structuredClone(this.#stats);
  }

  /**
   * Zeroes the counters, e.g. after test setup.
   *
   * @example
   * ```ts
   * cloud.resetStats();
   * ```
   */
  resetStats(): void {
    this.#stats = emptyStats();
  }

  /**
   * Stops listening, answers held calls with 503, and closes every
   * connection. Safe to call more than once.
   *
   * @example
   * ```ts
   * await cloud.stop();
   * ```
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const release of [...this.#held]) release();
      await this.#server.shutdown();
    })();
    return this.#stopping;
  }

  /** Same as {@linkcode FakeTencentCloud.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #handle(request: Request): Promise<Response> {
    const action = request.headers.get("x-tc-action") ?? "";
    const requestId = crypto.randomUUID();
    const traceId = request.headers.get("x-tc-traceid");
    this.#stats.calls[action] = (this.#stats.calls[action] ?? 0) + 1;
    this.#stats.totalCalls++;
    // Read the body now: the signature covers it, and a held call must not
    // keep the client's upload pending.
    const body = new Uint8Array(await request.arrayBuffer());

    let failTaskWith: string | undefined;
    let loseAnswerWith: number | undefined;
    const fault = this.#faults.pick(action, TASK_ACTIONS.has(action));
    if (fault !== undefined) {
      this.#stats.faults++;
      switch (fault.kind) {
        case "error":
          return this.#error(
            fault.code,
            fault.message ?? `Injected fault: ${fault.code}`,
            requestId,
            traceId,
          );
        case "http":
          return new Response(`Injected HTTP ${fault.status ?? 502} from the fake Tencent Cloud`, {
            status: fault.status ?? 502,
            headers: { "content-type": "text/plain" },
          });
        case "hang": {
          const serve = await this.#hold(fault.ms);
          if (!serve) {
            return new Response("The fake Tencent Cloud let go of this held call", {
              status: 503,
            });
          }
          break;
        }
        case "taskFailure":
          failTaskWith = fault.message ?? "Injected task failure";
          break;
        case "lostAnswer":
          loseAnswerWith = fault.status ?? 502;
          break;
      }
    }

    try {
      if (request.method !== "POST") {
        throw new CloudApiError(
          ErrorCode.InvalidParameter,
          `HTTP ${request.method} is not served by this fake; the SDK's default POST is.`,
        );
      }
      const url = new URL(request.url);
      verifyTc3(
        {
          method: request.method,
          path: url.pathname,
          query: url.search.slice(1),
          headers: request.headers,
          body,
        },
        {
          secretKeyOf: (id) => this.#credentials.get(id),
          nowMs: this.#now(),
          maxSkewSeconds: this.#maxSkew,
          service: "clb",
        },
      );
      const version = request.headers.get("x-tc-version");
      if (version !== CLB_API_VERSION) {
        throw new CloudApiError(
          version === null ? ErrorCode.MissingParameter : ErrorCode.NoSuchVersion,
          `X-TC-Version is ${JSON.stringify(version)}; CLB serves ${CLB_API_VERSION}.`,
        );
      }
      if (!ACTIONS.has(action)) {
        throw new CloudApiError(
          ErrorCode.InvalidAction,
          `Action "${action}" does not exist in CLB ${CLB_API_VERSION} (or this fake does not ` +
            `serve it; it serves ${[...ACTIONS].join(", ")}).`,
        );
      }
      const nowMs = this.#now();
      if (!this.#limiter.tryAcquire(action, nowMs)) {
        this.#stats.throttled++;
        throw new CloudApiError(
          ErrorCode.RequestLimitExceeded,
          `${action} is limited to ${this.#limiter.limitOf(action)} calls per second; ` +
            "slow down and retry with backoff.",
        );
      }
      const region = request.headers.get("x-tc-region");
      if (region === null || region === "") {
        throw new CloudApiError(ErrorCode.MissingParameter, "X-TC-Region is required for CLB.");
      }
      const params = parseParams(body);
      const result = this.#clb.call(action, params, { region, requestId, nowMs, failTaskWith });
      if (loseAnswerWith !== undefined) {
        return new Response(
          `Injected HTTP ${loseAnswerWith} from the fake Tencent Cloud after serving ${action}`,
          { status: loseAnswerWith, headers: { "content-type": "text/plain" } },
        );
      }
      return envelope({ ...result, RequestId: requestId }, traceId);
    } catch (error) {
      if (error instanceof CloudApiError) {
        return this.#error(error.code, error.message, requestId, traceId);
      }
      return this.#error(
        ErrorCode.InternalError,
        `The fake Tencent Cloud failed: ${error instanceof Error ? error.message : error}`,
        requestId,
        traceId,
      );
    }
  }

  #error(code: string, message: string, requestId: string, traceId: string | null): Response {
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
    if (code.startsWith("AuthFailure")) this.#stats.authFailures++;
    return envelope({ Error: { Code: code, Message: message }, RequestId: requestId }, traceId);
  }

  /**
   * Holds a call for `ms`, or until stop() when `ms` is absent. Resolves true
   * when the call should then be served, false when the fake let go of it.
   * A slow call that completes anyway is the interesting case: the client
   * timed out, yet the cloud did the write.
   */
  #hold(ms: number | undefined): Promise<boolean> {
    const { promise, resolve } = Promise.withResolvers<boolean>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (serve: boolean) => {
      clearTimeout(timer);
      this.#held.delete(release);
      resolve(serve);
    };
    const release = () => finish(false);
    this.#held.add(release);
    if (ms !== undefined) timer = setTimeout(() => finish(true), ms);
    return promise;
  }
}

function emptyStats(): FakeCloudStats {
  return { calls: {}, totalCalls: 0, throttled: 0, faults: 0, authFailures: 0, errors: {} };
}

function envelope(response: Record<string, unknown>, traceId: string | null): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (traceId !== null) headers["x-tc-traceid"] = traceId;
  return new Response(JSON.stringify({ Response: response }), { status: 200, headers });
}

function parseParams(body: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder().decode(body).trim();
  if (text === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CloudApiError(
      ErrorCode.FormatError,
      `The request body is not JSON: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CloudApiError(ErrorCode.FormatError, "The request body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}
