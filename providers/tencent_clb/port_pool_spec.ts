/**
 * A `CLBPortPool`'s spec (tke-extend-network-controller v2.5, field for
 * field: `startPort`, `endPort`, `exsistedLoadBalancerIDs` — TKE's
 * spelling —, `lbPolicy`, `lbBlacklist`, `listenerQuota`, `region`,
 * `autoCreate`, `segmentLength`, `listenerPrecreate`), read and checked.
 * What gamenet does not do yet (port-segment listeners, pre-created
 * listeners) parses, and the pool says so in its status instead of
 * allocating something else than was asked.
 *
 * @example
 * ```ts
 * const spec = parsePortPoolSpec({ metadata: { name: "pool-a" }, spec: { startPort: 30000 } });
 * spec.policy; // "Random"
 * ```
 * @module
 */

import type { ExtensionObject } from "../extension.ts";

/** How a pool picks among its CLBs. */
export type LbPolicy = "Uniform" | "InOrder" | "Random";

/** TKE's default policy. */
export const DEFAULT_LB_POLICY: LbPolicy = "Random";

/** Highest listener port when the pool gives no `endPort`. */
export const MAX_LISTENER_PORT = 65535;

/** `autoCreate` as gamenet uses it. */
export interface AutoCreateSpec {
  enabled: boolean;
  /** Most CLBs gamenet buys for the pool (unbounded when absent). */
  maxLoadBalancers?: number;
  /** `CreateLoadBalancer` parameters in TKE's lowerCamel spelling. */
  parameters: Record<string, unknown>;
}

/** A pool's spec, checked. */
export interface PortPoolSpec {
  name: string;
  startPort: number;
  endPort: number;
  /** Given `endPort` (else {@linkcode MAX_LISTENER_PORT}). */
  endPortGiven: boolean;
  existing: string[];
  blacklist: Set<string>;
  policy: LbPolicy;
  /** Per-CLB listener quota overriding the account's. */
  listenerQuota?: number;
  /** The CLBs' region (else gamenet's). */
  region?: string;
  autoCreate?: AutoCreateSpec;
  /** Why gamenet cannot serve this pool as written (it allocates nothing from it). */
  refused?: string;
}

const LB_ID = /^lb-[0-9a-z]+$/;

/** Reads a `CLBPortPool` object; problems go to `refused`, never thrown. */
export function parsePortPoolSpec(obj: ExtensionObject): PortPoolSpec {
  const s = obj.spec ?? {};
  const problems: string[] = [];
  const port = (value: unknown, field: string): number | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) {
      problems.push(`${field} ${JSON.stringify(value)} is not a port (1-65535)`);
      return undefined;
    }
    return value as number;
  };
  const startPort = port(s.startPort, "startPort");
  if (startPort === undefined && s.startPort === undefined) problems.push("startPort is required");
  const endGiven = port(s.endPort, "endPort");
  const start = startPort ?? 1;
  const endPort = endGiven ?? MAX_LISTENER_PORT;
  if (endPort < start) problems.push(`endPort ${endPort} is below startPort ${start}`);
  const ids = (list: unknown, field: string): string[] => {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) {
      problems.push(`${field} must be a list of CLB ids`);
      return [];
    }
    const out: string[] = [];
    for (const id of list) {
      if (typeof id !== "string" || !LB_ID.test(id)) {
        problems.push(`${field}: ${JSON.stringify(id)} is not a CLB id (like lb-abc123)`);
      } else if (!out.includes(id)) out.push(id);
    }
    return out;
  };
  const existing = ids(s.exsistedLoadBalancerIDs, "exsistedLoadBalancerIDs");
  const blacklist = new Set(ids(s.lbBlacklist, "lbBlacklist"));
  const policy = (s.lbPolicy ?? DEFAULT_LB_POLICY) as LbPolicy;
  if (!["Uniform", "InOrder", "Random"].includes(policy)) {
    problems.push(`lbPolicy "${s.lbPolicy}" is not Uniform, InOrder or Random`);
  }
  let listenerQuota: number | undefined;
  if (s.listenerQuota !== undefined && s.listenerQuota !== null) {
    if (!Number.isInteger(s.listenerQuota) || s.listenerQuota < 1) {
      problems.push(`listenerQuota ${JSON.stringify(s.listenerQuota)} is not a positive number`);
    } else listenerQuota = s.listenerQuota;
  }
  // TKE's rule: the quota bounds the ports already; both would disagree.
  if (listenerQuota !== undefined && endGiven !== undefined) {
    problems.push("endPort and listenerQuota cannot be given together (TKE's rule): drop one");
  }
  let autoCreate: AutoCreateSpec | undefined;
  if (s.autoCreate?.enabled === true) {
    const max = s.autoCreate.maxLoadBalancers;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
      problems.push(`autoCreate.maxLoadBalancers ${JSON.stringify(max)} is not a count`);
    }
    autoCreate = {
      enabled: true,
      maxLoadBalancers: Number.isInteger(max) ? max : undefined,
      parameters: { ...(s.autoCreate.parameters ?? {}) },
    };
    // TKE's rule: a per-instance quota is the user's promise about CLBs
    // they chose; a bought CLB gets the account's quota, not that one.
    if (listenerQuota !== undefined) {
      problems.push("listenerQuota cannot be used with autoCreate (TKE's rule): drop one");
    }
  }
  if (Number.isInteger(s.segmentLength) && s.segmentLength > 1) {
    problems.push(
      `segmentLength ${s.segmentLength}: port-segment listeners are not supported by gamenet yet; ` +
        "remove segmentLength (or set it to 0) to map one listener per Pod port",
    );
  }
  if (s.listenerPrecreate?.enabled === true) {
    problems.push(
      "listenerPrecreate: pre-created listeners are not supported by gamenet yet; " +
        "remove listenerPrecreate (listeners are created per Pod port)",
    );
  }
  if (existing.length === 0 && !autoCreate) {
    problems.push("no CLB: give exsistedLoadBalancerIDs or enable autoCreate");
  }
  const region = typeof s.region === "string" && s.region ? s.region : undefined;
  return {
    name: obj.metadata.name,
    startPort: start,
    endPort,
    endPortGiven: endGiven !== undefined,
    existing,
    blacklist,
    policy,
    listenerQuota,
    region,
    autoCreate,
    refused: problems.length ? problems.join("; ") : undefined,
  };
}
