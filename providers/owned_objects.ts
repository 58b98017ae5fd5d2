/**
 * Kubernetes objects a network type makes for its game servers — a Service
 * per Pod for `Kubernetes-NodePort`, a Service and an Ingress for
 * `Kubernetes-Ingress`, a `LoadBalancer` Service for the cloud load
 * balancers — and everything around them: they are named after their Pod,
 * labelled so that gamenet watches only its own
 * (`app.kubernetes.io/managed-by=gamenet`, `gamenet.io/network-type`),
 * owned by the Pod (Kubernetes' garbage collector removes them with it) or,
 * for `Fixed`, by the Pod's workload (they outlive the Pod and serve the
 * next one of its name), found again after a restart from the cache,
 * and collected by the sweep when neither Pod nor workload is left.
 *
 * The Pods are selected by a label gamenet gives each game server at
 * admission, `gamenet.io/game-server` (the admission's id), so that Pods
 * from `generateName` (Deployments) are selected as exactly as
 * StatefulSet Pods; a disabled network swaps it for a label no Pod has.
 *
 * @example
 * ```ts
 * const owned = new OwnedObjects("Kubernetes-NodePort", [SERVICES]);
 * // extension: { kinds: owned.kinds(), controllers: owned.controllers(), restore: (ctx) => owned.attach(ctx) }
 * await owned.apply(SERVICES, desiredService);
 * ```
 * @module
 */

import type {
  ExtensionContext,
  ExtensionController,
  ExtensionKind,
  ExtensionObject,
  ProviderExtension,
} from "./extension.ts";
import type { SweepContext } from "./provider.ts";
import type { HoldingView } from "./view.ts";
import { podRef } from "./network_conf.ts";
import { sameJson } from "./same_json.ts";
import {
  ConfError,
  type JsonPatchOp,
  NETWORK_TYPE_ANNOTATION,
  OWNER_ANNOTATION,
  type OwnerReference,
  type Pod,
} from "./types.ts";

/** A kind of object a network type owns (or only watches, beside those it owns). */
export interface OwnedKind {
  apiVersion: string;
  /** Plural, e.g. `services`. */
  resource: string;
  kind: string;
  /**
   * Objects Kubernetes makes for the owned ones (a Service's
   * EndpointSlices): watched for news, never written, released or
   * collected by gamenet. @default {false}
   */
  watchOnly?: boolean;
  /** The name of the Pod an object is news for. @default {its own name} */
  podName?(obj: ExtensionObject): string | undefined;
}

/** Core Services. */
export const SERVICES: OwnedKind = { apiVersion: "v1", resource: "services", kind: "Service" };
/**
 * The Pod an owned object is for, by name: objects of a Pod are named
 * after it, except where it has several of a kind (a Service per line).
 */
export const POD_ANNOTATION = "gamenet.io/pod";

/** The name of the Pod `obj` is for. */
export function podNameOf(obj: ExtensionObject): string {
  return obj.metadata.annotations?.[POD_ANNOTATION] ?? obj.metadata.name;
}

/** Whether only containers in `allowed` are not ready (and some are): they may be, and stay published. */
export function onlyAllowedNotReady(pod: Pod, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return false;
  const notReady = (pod.status?.containerStatuses ?? []).filter((c) => !c.ready);
  return notReady.length > 0 && notReady.every((c) => allowed.includes(c.name));
}

/** The label the EndpointSlice controller gives a Service's slices. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/**
 * `discovery.k8s.io/v1` EndpointSlices of gamenet's Services: they inherit
 * the Service's labels, so the same selector finds them.
 */
export const ENDPOINT_SLICES: OwnedKind = {
  apiVersion: "discovery.k8s.io/v1",
  resource: "endpointslices",
  kind: "EndpointSlice",
  watchOnly: true,
  podName: (obj) => obj.metadata.labels?.[SERVICE_NAME_LABEL],
};

/** `networking.k8s.io/v1` Ingresses. */
export const INGRESSES: OwnedKind = {
  apiVersion: "networking.k8s.io/v1",
  resource: "ingresses",
  kind: "Ingress",
};

/** Every owned object carries it; gamenet's caches hold only these. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** The network type whose object it is. */
export const OWNED_TYPE_LABEL = "gamenet.io/network-type";
/** The Pod label a game server's objects select it by. */
export const GAME_SERVER_LABEL = "gamenet.io/game-server";
/**
 * What a disabled network's selector asks for instead: no Pod has it, so
 * the Service has no endpoints (OpenKruiseGame's key, for those who look).
 */
export const DISABLED_SELECTOR_LABEL = "game.kruise.io/svc-selector-disabled";

/** A DNS-1035 label: what a Service's name must be. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** `generateName` gets 5 characters appended. */
const GENERATED_SUFFIX_LENGTH = 5;

/**
 * The value of {@linkcode GAME_SERVER_LABEL} a Pod gets at admission: the
 * admission's id (a UUID, a valid label value).
 */
export function gameServerId(owner: string): string {
  return owner.slice(owner.lastIndexOf("/") + 1);
}

/**
 * Checks that the Pod's name (or the names `generateName` will give) can
 * name its Service and Ingress.
 * @throws {ConfError} naming the rule.
 */
export function checkObjectName(pod: Pod, type: string): void {
  const { name, generateName } = pod.metadata;
  const example = name || `${generateName ?? ""}${"x".repeat(GENERATED_SUFFIX_LENGTH)}`;
  if (!DNS_1035_LABEL.test(example)) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${type} names a Service after its game server, and "${example}" ` +
        `cannot be one: at most 63 characters, lower-case letters, digits and "-", starting ` +
        `with a letter; shorten the workload's name`,
      "InvalidGameServerName",
    );
  }
}

/**
 * The admission patch that gives a Pod its {@linkcode GAME_SERVER_LABEL}
 * (before it has a name, so that a Deployment's Pods are selected too).
 */
export function gameServerLabelPatch(pod: Pod, owner: string): JsonPatchOp[] {
  const value = gameServerId(owner);
  return pod.metadata.labels
    ? [{ op: "add", path: `/metadata/labels/${GAME_SERVER_LABEL.replace("/", "~1")}`, value }]
    : [{ op: "add", path: "/metadata/labels", value: { [GAME_SERVER_LABEL]: value } }];
}

/** The selector of a game server's objects: its Pod, or nothing while its network is disabled. */
export function gameServerSelector(pod: Pod, disabled: boolean): Record<string, string> {
  return disabled
    ? { [DISABLED_SELECTOR_LABEL]: pod.metadata.name! }
    : { [GAME_SERVER_LABEL]: pod.metadata.labels?.[GAME_SERVER_LABEL] ?? "" };
}

/** The Pod's controlling workload, when it has one (StatefulSet, GameServerSet, …). */
export function controllerOf(pod: Pod): OwnerReference | undefined {
  return pod.metadata.ownerReferences?.find((r) => r.controller);
}

/**
 * Whether `Fixed` can mean anything for this Pod: its name comes back (a
 * StatefulSet's, a GameServerSet's), unlike a name from `generateName`.
 */
export function nameRecurs(pod: Pod): boolean {
  return !pod.metadata.generateName && controllerOf(pod) !== undefined;
}

/** The admission warning for `Fixed` on a Pod whose name never comes back. */
export function fixedWarning(pod: Pod, fixed: boolean): string[] {
  return fixed && pod.metadata.generateName
    ? [
      `Fixed is ignored for ${podRef(pod)}: its name comes from generateName and no later Pod ` +
      `has it (Fixed keeps a StatefulSet or GameServerSet Pod's objects for its successor)`,
    ]
    : [];
}

/**
 * Whom a game server's objects belong to: the Pod, or with `fixed` its
 * workload (they then outlive the Pod) when the Pod's name comes back.
 * Never `blockOwnerDeletion`: that would need the right to update the
 * owner's finalizers.
 */
export function ownerReferencesFor(pod: Pod, fixed: boolean): OwnerReference[] {
  const workload = fixed && nameRecurs(pod) ? controllerOf(pod) : undefined;
  const ref = workload ?? {
    apiVersion: "v1",
    kind: "Pod",
    name: pod.metadata.name!,
    uid: pod.metadata.uid!,
  };
  return [{
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    uid: ref.uid,
    controller: true,
  }];
}

/** Whether an object is kept for the next Pod of its name (owned by a workload). */
export function ownedByWorkload(obj: ExtensionObject): boolean {
  return (obj.metadata.ownerReferences ?? []).some((r) => r.kind !== "Pod");
}

/** How long a 409 on creating an object counts as this replica's own create not cached yet. */
const RECENTLY_MADE_MS = 30_000;
/**
 * How long an object this replica made may be missing from the cache
 * before it is made again (someone deleted it at once).
 */
const CACHE_CATCH_UP_MS = 5_000;

/** The index of owned objects by the allocation key of their Pod. */
const BY_OWNER = "gamenet-owner";

/** See the module documentation. */
export class OwnedObjects {
  readonly #type: string;
  readonly #names: ReadonlySet<string>;
  readonly #kinds: readonly OwnedKind[];
  #ctx?: ExtensionContext;

  readonly #indexes: Record<string, Record<string, (obj: ExtensionObject) => string[]>>;
  /** Objects this replica created lately, by `resource namespace/name`, and when. */
  readonly #made = new Map<string, number>();

  /**
   * `type` is the canonical name, `options.aliases` the others a Pod may
   * give, `options.indexes` more indexes of a kind's cache, by resource.
   */
  constructor(
    type: string,
    kinds: readonly OwnedKind[],
    options: {
      aliases?: readonly string[];
      indexes?: Record<string, Record<string, (obj: ExtensionObject) => string[]>>;
    } = {},
  ) {
    this.#type = type;
    this.#names = new Set([type, ...options.aliases ?? []]);
    this.#kinds = kinds;
    this.#indexes = options.indexes ?? {};
  }

  /** The label selector of this type's objects. */
  get labelSelector(): string {
    return `${MANAGED_BY_LABEL}=gamenet,${OWNED_TYPE_LABEL}=${this.#type}`;
  }

  /** The extension kinds to watch: only this type's objects. */
  kinds(): ExtensionKind[] {
    return this.#kinds.map((k) => ({
      ...k,
      labelSelector: this.labelSelector,
      indexes: {
        ...this.#indexes[k.resource],
        [BY_OWNER]: (obj) => {
          const owner = obj.metadata.annotations?.[OWNER_ANNOTATION];
          return owner ? [owner] : [];
        },
      },
    }));
  }

  /**
   * A change of an owned object is news for its Pod (named alike): a node
   * port assigned, an Ingress address filled in, an object deleted by
   * someone.
   */
  controllers(): ExtensionController[] {
    return this.#kinds.map((k) => ({
      name: `${this.#type}:${k.resource}`,
      resource: k.resource,
      reconcile: (key, ctx) => {
        const obj = ctx.get(k.resource, key);
        const pod = obj && (k.podName ? k.podName(obj) : podNameOf(obj));
        ctx.requeuePod(pod ? `${obj.metadata.namespace}/${pod}` : key);
        return Promise.resolve({});
      },
    }));
  }

  /**
   * The provider extension of a type whose objects are all it watches:
   * the kinds, their controllers, and attaching once the caches sync.
   */
  extension(): ProviderExtension {
    return {
      kinds: this.kinds(),
      controllers: this.controllers(),
      restore: (ctx) => {
        this.attach(ctx);
        return Promise.resolve();
      },
    };
  }

  /** The caches are synced and this replica leads: objects may be read and written. */
  attach(ctx: ExtensionContext): void {
    this.#ctx = ctx;
  }

  /** Whether {@linkcode attach} was called (before it, a reconcile waits). */
  get attached(): boolean {
    return this.#ctx !== undefined;
  }

  #context(): ExtensionContext {
    if (!this.#ctx) throw new Error(`${this.#type}: owned objects read before the caches synced`);
    return this.#ctx;
  }

  /** From the cache. */
  get(kind: OwnedKind, namespace: string, name: string): ExtensionObject | undefined {
    return this.#context().get(kind.resource, `${namespace}/${name}`);
  }

  /** From the cache: every object of `kind` this type owns. */
  list(kind: OwnedKind): ExtensionObject[] {
    return this.#ctx?.list(kind.resource) ?? [];
  }

  /** From the cache: the objects of `kind` under `value` in an index given to the constructor. */
  byIndex(kind: OwnedKind, index: string, value: string): ExtensionObject[] {
    return this.#ctx?.byIndex(kind.resource, index, value) ?? [];
  }

  /** From the cache: the objects held for the Pod with allocation key `owner`. */
  ofOwner(kind: OwnedKind, owner: string): ExtensionObject[] {
    return this.#ctx?.byIndex(kind.resource, BY_OWNER, owner) ?? [];
  }

  /**
   * The metadata every object of `pod` carries: name, labels, the owner
   * annotations and the owner reference.
   */
  metadata(
    pod: Pod,
    owner: string,
    fixed: boolean,
    extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  ): ExtensionObject["metadata"] {
    return {
      name: pod.metadata.name!,
      namespace: pod.metadata.namespace,
      labels: { ...extra.labels, [MANAGED_BY_LABEL]: "gamenet", [OWNED_TYPE_LABEL]: this.#type },
      annotations: {
        ...extra.annotations,
        [OWNER_ANNOTATION]: owner,
        [NETWORK_TYPE_ANNOTATION]: this.#type,
        [POD_ANNOTATION]: pod.metadata.name!,
      },
      ownerReferences: ownerReferencesFor(pod, fixed),
    };
  }

  /**
   * Creates `desired` when it does not exist, or sends `patch` (a JSON
   * merge patch) when it is given; returns the object as the API server
   * answered, or the cached one when nothing was sent.
   */
  async apply(
    kind: OwnedKind,
    desired: ExtensionObject,
    patch?: unknown,
  ): Promise<ExtensionObject | undefined> {
    const ctx = this.#context();
    const { namespace, name } = desired.metadata;
    const current = ctx.get(kind.resource, `${namespace}/${name}`);
    if (!current) {
      const key = `${kind.resource} ${namespace}/${name}`;
      // Made a moment ago and not in the cache yet: its watch event brings
      // the Pod back here; a second create would only be refused.
      if (Date.now() - (this.#made.get(key) ?? 0) < CACHE_CATCH_UP_MS) return undefined;
      try {
        const made = await ctx.create(kind.resource, namespace!, desired);
        this.#remember(key);
        return made;
      } catch (err) {
        if ((err as { status?: number }).status !== 409) throw err;
        // Made by this replica a moment ago, not in the cache yet: its
        // watch event brings the Pod back here. Anyone else's is in the way.
        if (Date.now() - (this.#made.get(key) ?? 0) < RECENTLY_MADE_MS) return undefined;
        throw new ConfError(
          `A ${kind.kind} named ${namespace}/${name} exists and is not gamenet's (it lacks the ` +
            `label ${MANAGED_BY_LABEL}=gamenet): gamenet names the game server's ${kind.kind} so; ` +
            `delete or rename that one`,
          "ObjectNameTaken",
        );
      }
    }
    if (patch !== undefined) await ctx.patch(kind.resource, namespace!, name, patch);
    return current;
  }

  /** From the cache: the Pod an object serves, if it exists. */
  podOf(obj: ExtensionObject): Pod | undefined {
    return this.#ctx?.pod(`${obj.metadata.namespace}/${podNameOf(obj)}`);
  }

  /**
   * From the API server: every object of `kind` that this type does not
   * own (other controllers' and people's), for a periodic look.
   */
  async others(kind: OwnedKind): Promise<ExtensionObject[]> {
    const all = await this.#context().listLive(kind.resource);
    return all.filter((o) =>
      o.metadata.labels?.[MANAGED_BY_LABEL] !== "gamenet" ||
      o.metadata.labels?.[OWNED_TYPE_LABEL] === undefined
    );
  }

  /** What other controllers warned about an object (its Warning Events, newest first). */
  async warnings(kind: OwnedKind, namespace: string, name: string): Promise<string[]> {
    const found = await this.#context().warnings(kind.resource, namespace, name);
    return found.map((w) => `${w.reason}: ${w.message}`);
  }

  /**
   * Who an object is held for in `/allocations`: the owner annotation,
   * the Pod's key, and `parked` for a Fixed object waiting for its next
   * Pod.
   */
  holding(obj: ExtensionObject): Pick<HoldingView, "owner" | "kind" | "pod"> {
    return {
      owner: obj.metadata.annotations?.[OWNER_ANNOTATION] ?? "",
      kind: !this.podOf(obj) && ownedByWorkload(obj) ? "parked" : "managed",
      pod: `${obj.metadata.namespace}/${podNameOf(obj)}`,
    };
  }

  /**
   * Gives a Pod created while gamenet's webhook was away the label its
   * objects select it by (its UID). Returns whether it had to: the Pod's
   * update brings it back.
   */
  async labelIfMissing(pod: Pod): Promise<boolean> {
    if (pod.metadata.labels?.[GAME_SERVER_LABEL]) return false;
    await this.labelPod(pod, { [GAME_SERVER_LABEL]: pod.metadata.uid! });
    return true;
  }

  /** Gives a Pod labels (a merge patch). */
  async labelPod(pod: Pod, labels: Record<string, string>): Promise<void> {
    await this.#context().patchPod(pod.metadata.namespace!, pod.metadata.name!, {
      metadata: { labels },
    });
  }

  #remember(key: string): void {
    const now = Date.now();
    this.#made.set(key, now);
    // Insertion order is time order: the stale ones are at the front.
    for (const [k, at] of this.#made) {
      if (now - at < RECENTLY_MADE_MS) break;
      this.#made.delete(k);
    }
  }

  /** Deletes an object (already gone is success). */
  async delete(kind: OwnedKind, namespace: string, name: string): Promise<void> {
    await this.#context().delete(kind.resource, namespace, name);
  }

  /**
   * The Pod with allocation key `owner` is gone: deletes what it held,
   * except what its workload keeps for the next Pod of its name.
   */
  async release(owner: string): Promise<void> {
    if (!this.#ctx) return;
    for (const kind of this.#kinds.filter((k) => !k.watchOnly)) {
      for (const obj of this.ofOwner(kind, owner)) {
        if (ownedByWorkload(obj)) continue;
        await this.delete(kind, obj.metadata.namespace!, obj.metadata.name);
      }
    }
  }

  /**
   * Deletes objects nobody needs: their Pod is gone (or no longer of this
   * type) and no workload keeps them, or the workload keeping them is gone
   * too. Returns what it deleted.
   */
  async collect(sweep: SweepContext): Promise<ExtensionObject[]> {
    const ctx = this.#ctx;
    if (!ctx) return [];
    const deleted: ExtensionObject[] = [];
    for (const kind of this.#kinds.filter((k) => !k.watchOnly)) {
      for (const obj of ctx.list(kind.resource)) {
        const namespace = obj.metadata.namespace!;
        const pod = ctx.pod(`${namespace}/${podNameOf(obj)}`);
        const podIsOurs = pod && !pod.metadata.deletionTimestamp &&
          this.#names.has(pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION] ?? "");
        if (podIsOurs) continue;
        const workload = (obj.metadata.ownerReferences ?? []).find((r) => r.kind !== "Pod");
        if (workload && await sweep.workloadExists(namespace, workload)) continue;
        await ctx.delete(kind.resource, namespace, obj.metadata.name);
        deleted.push(obj);
      }
    }
    return deleted;
  }
}

/**
 * A JSON merge patch that makes `current`'s map equal `desired`: keys to
 * drop are sent as `null` (a merge patch merges maps, it never replaces
 * them).
 */
export function mapPatch(
  current: Record<string, string> | undefined,
  desired: Record<string, string>,
): Record<string, string | null> {
  const patch: Record<string, string | null> = { ...desired };
  for (const key of Object.keys(current ?? {})) if (!(key in desired)) patch[key] = null;
  return patch;
}

/** `obj` without its `null` fields: what to create (a patch sends them to remove a field). */
export function withoutNulls(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));
}

/** A Service port as gamenet writes and compares them. */
interface PortLike {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  nodePort?: number;
}

function portsKey(ports: PortLike[] | undefined, withNodePorts: boolean[]): string {
  return JSON.stringify(
    (ports ?? []).map((p, i) => [
      p.name,
      p.port,
      Number(p.targetPort ?? p.port),
      p.protocol ?? "TCP",
      withNodePorts[i] ? p.nodePort : undefined,
    ]),
  );
}

/**
 * The JSON merge patch that turns `current` into `desired` in what gamenet
 * owns of it — its annotations, its owner references, each key of the
 * desired `spec` (`null` removes one) — or `undefined` when they agree.
 * Fields the API server fills in (a Service's cluster IP, a node port not
 * asked for) are left alone. `userAnnotations` names an annotation that
 * lists annotation keys the user gave, so that one given no more is
 * removed.
 */
export function objectPatch(
  current: ExtensionObject,
  desired: { metadata: ExtensionObject["metadata"]; spec: Record<string, unknown> },
  userAnnotations: string[] = [],
): unknown {
  const patch: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } = {};
  const have = current.metadata.annotations ?? {};
  const want = desired.metadata.annotations ?? {};
  const annotations: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(want)) if (have[k] !== v) annotations[k] = v;
  for (const list of userAnnotations) {
    for (const k of (have[list] ?? "").split(",").filter(Boolean)) {
      if (!(k in want)) annotations[k] = null;
    }
  }
  const meta: Record<string, unknown> = {};
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  const refs = (o: { ownerReferences?: { uid: string; kind: string }[] }) =>
    JSON.stringify((o.ownerReferences ?? []).map((r) => `${r.kind}/${r.uid}`));
  if (refs(current.metadata) !== refs(desired.metadata)) {
    meta.ownerReferences = desired.metadata.ownerReferences;
  }
  if (Object.keys(meta).length > 0) patch.metadata = meta;
  const spec: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desired.spec)) {
    const now = current.spec?.[key];
    if (key === "selector") {
      const wanted = value as Record<string, string>;
      if (!sameJson(now ?? {}, wanted)) spec.selector = mapPatch(now, wanted);
    } else if (key === "ports") {
      const wanted = value as PortLike[];
      const asked = wanted.map((p) => p.nodePort !== undefined);
      if (portsKey(now, asked) !== portsKey(wanted, asked)) spec.ports = value;
    } else if (!(unset(value) && unset(now)) && !sameJson(now, value)) {
      spec[key] = value;
    }
  }
  if (Object.keys(spec).length > 0) patch.spec = spec;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** A field the API server leaves out when it is off (`false`), or gamenet asks to remove (`null`). */
function unset(v: unknown): boolean {
  return v === undefined || v === null || v === false;
}
