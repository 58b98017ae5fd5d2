/**
 * Faults the fake cloud can inject, chosen per call with a seeded random
 * number generator so a test sees the same failures on every run.
 *
 * @module
 */
import { seededRandom } from "../../test_seed.ts";

/**
 * What every fault has: where and how often it strikes.
 *
 * @example
 * ```ts
 * const scope: FaultScope = { actions: ["CreateListener"], rate: 0.2, times: 3 };
 * ```
 */
export interface FaultScope {
  /** Actions it applies to, e.g. `["CreateListener"]`. @default {all actions} */
  actions?: readonly string[];
  /** Probability per matching call, 0 to 1. @default {1} */
  rate?: number;
  /** Stop after striking this many times. @default {Infinity} */
  times?: number;
}

/**
 * Answer with a Tencent Cloud error code in the normal envelope (HTTP 200).
 *
 * @example
 * ```ts
 * cloud.injectFault({ kind: "error", code: "InternalError", actions: ["DescribeTargets"] });
 * ```
 */
export interface ErrorFault extends FaultScope {
  /** Discriminant. */
  kind: "error";
  /** A real error code, e.g. `InternalError` or `RequestLimitExceeded`. */
  code: string;
  /** Error message. @default {"Injected fault: <code>"} */
  message?: string;
}

/**
 * Answer with a bare HTTP error, as a gateway in front of the API would.
 *
 * @example
 * ```ts
 * cloud.injectFault({ kind: "http", status: 503, times: 1 });
 * ```
 */
export interface HttpFault extends FaultScope {
  /** Discriminant. */
  kind: "http";
  /** HTTP status. @default {502} */
  status?: number;
}

/**
 * Hold the call. With `ms` the call is then served normally (a slow but
 * successful write the client may already have given up on); without it the
 * call is held until the fake stops, which answers it with HTTP 503.
 *
 * @example
 * ```ts
 * cloud.injectFault({ kind: "hang", ms: 2_000, actions: ["CreateListener"], times: 1 });
 * ```
 */
export interface HangFault extends FaultScope {
  /** Discriminant. */
  kind: "hang";
  /** Delay before serving the call. @default {forever} */
  ms?: number;
}

/**
 * Serve the call (a write takes effect), then drop its answer: the client
 * gets a bare HTTP error instead, as when a gateway loses the answer on its
 * way back. Unlike a `hang` with `ms`, no client timeout is needed.
 *
 * @example
 * ```ts
 * cloud.injectFault({ kind: "lostAnswer", actions: ["CreateLoadBalancer"], times: 1 });
 * ```
 */
export interface LostAnswerFault extends FaultScope {
  /** Discriminant. */
  kind: "lostAnswer";
  /** HTTP status the client gets instead. @default {502} */
  status?: number;
}

/**
 * Accept a write but let its asynchronous task end in Status 1 (failed);
 * the change is undone when the task ends. Applies only to the actions that
 * start a task (`TASK_ACTIONS`: not `Batch(De)RegisterTargets`, which are
 * done when they answer).
 *
 * @example
 * ```ts
 * cloud.injectFault({ kind: "taskFailure", actions: ["BatchRegisterTargets"], rate: 0.1 });
 * ```
 */
export interface TaskFailureFault extends FaultScope {
  /** Discriminant. */
  kind: "taskFailure";
  /** Task message returned by DescribeTaskStatus. @default {"Injected task failure"} */
  message?: string;
}

/**
 * Any injectable fault.
 *
 * @example
 * ```ts
 * const faults: Fault[] = [{ kind: "http", status: 502, rate: 0.01 }];
 * ```
 */
export type Fault = ErrorFault | HttpFault | HangFault | LostAnswerFault | TaskFailureFault;

interface ArmedFault {
  fault: Fault;
  remaining: number;
}

/**
 * Holds the armed faults and decides, call by call, which one strikes.
 *
 * @example
 * ```ts
 * const faults = new FaultInjector(7);
 * faults.add({ kind: "error", code: "InternalError", actions: ["CreateListener"], rate: 0.5 });
 * const fault = faults.pick("CreateListener", true); // the same answer on every run
 * ```
 */
export class FaultInjector {
  #random: () => number;
  #armed: ArmedFault[] = [];

  /** @param seed seed of the random number generator */
  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  /** Arms a fault; faults are tried in the order they were added. */
  add(fault: Fault): void {
    const rate = fault.rate ?? 1;
    if (!(rate >= 0 && rate <= 1)) {
      throw new RangeError(`Fault rate must be between 0 and 1, got ${fault.rate}`);
    }
    this.#armed.push({ fault, remaining: fault.times ?? Infinity });
  }

  /** Disarms every fault. */
  clear(): void {
    this.#armed = [];
  }

  /**
   * The fault that strikes this call of `action`, if any. Each matching fault
   * rolls once, in order; the first hit wins and uses up one of its `times`.
   */
  pick(action: string, startsTask: boolean): Fault | undefined {
    for (const armed of this.#armed) {
      const { fault } = armed;
      if (armed.remaining <= 0) continue;
      if (fault.actions !== undefined && !fault.actions.includes(action)) continue;
      if (fault.kind === "taskFailure" && !startsTask) continue;
      if (this.#random() < (fault.rate ?? 1)) {
        armed.remaining--;
        return fault;
      }
    }
    return undefined;
  }
}
