/**
 * The shapes every network type shares: the slice of Kubernetes objects
 * gamenet reads, OpenKruiseGame's NetworkStatus, the annotations, and the
 * {@linkcode Provider} interface the controller drives. The controller
 * never names a network type; a provider never talks to the API server
 * except through the contexts it is handed.
 *
 * @module
 */

/** `game.kruise.io/network-type`: the network type a Pod asks for. */
export const NETWORK_TYPE_ANNOTATION = "game.kruise.io/network-type";
/** `game.kruise.io/network-conf`: JSON `[{"name": ..., "value": ...}]`. */
export const NETWORK_CONF_ANNOTATION = "game.kruise.io/network-conf";
/** `game.kruise.io/network-disabled` (label): `"true"` takes the server off the network. */
export const NETWORK_DISABLED_LABEL = "game.kruise.io/network-disabled";
/** `game.kruise.io/network-status`: written only by gamenet. */
export const NETWORK_STATUS_ANNOTATION = "game.kruise.io/network-status";
/**
 * `gamenet.io/owner`: the allocation key gamenet gave a Pod at admission.
 * A Pod made from `generateName` has neither name nor UID when admitted, so
 * the allocation is filed under this key, and the controller finds it again
 * from the Pod.
 */
export const OWNER_ANNOTATION = "gamenet.io/owner";

/** A container port as in a Pod spec. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol?: "TCP" | "UDP" | "SCTP";
  hostIP?: string;
}

/** A `metadata.ownerReferences` entry. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** The parts of a Pod gamenet reads (raw JSON from the API server). */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers: { name: string; image?: string; ports?: ContainerPort[] }[];
    initContainers?: { name: string; ports?: ContainerPort[] }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean }[];
  };
}

/** The parts of a Node gamenet reads. */
export interface Node {
  metadata: {
    name: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
  };
  status?: { addresses?: { type: string; address: string }[] };
}

/** A transport protocol of one port. */
export type Protocol = "TCP" | "UDP";

/** OpenKruiseGame network states. */
export type NetworkState = "Ready" | "NotReady" | "Waiting";

/** One port of an address in a NetworkStatus. */
export interface NetworkPort {
  name: string;
  port: number;
  protocol: Protocol;
}

/** One address (one IP and its ports) in a NetworkStatus. */
export interface NetworkAddress {
  ip: string;
  ports: NetworkPort[];
  /** A host name players use (an Ingress's host, a load balancer's DNS name). */
  endPoint?: string;
}

/** OpenKruiseGame's NetworkStatus, exactly its JSON shape. */
export interface NetworkStatus {
  networkType: string;
  currentNetworkState: NetworkState;
  desiredNetworkState: NetworkState;
  createTime: string;
  lastTransitionTime: string;
  internalAddresses: NetworkAddress[];
  externalAddresses: NetworkAddress[];
}

/** The addresses and state a provider reports; the controller adds the times. */
export interface NetworkReport {
  currentNetworkState: NetworkState;
  desiredNetworkState: NetworkState;
  internalAddresses: NetworkAddress[];
  externalAddresses: NetworkAddress[];
}

/** One `{"name", "value"}` pair of `network-conf`. */
export interface NetworkConfEntry {
  name: string;
  value: string;
}

/**
 * A configuration error a person must fix; its message is shown as is in
 * an Event, a NotReady status or a denied admission. Messages start with
 * a capital letter, name the object and the value, and say what to do.
 */
export class ConfError extends Error {
  /** Short CamelCase reason for Events, e.g. `InvalidNetworkConf`. */
  readonly reason: string;
  constructor(message: string, reason = "InvalidNetworkConf") {
    super(message);
    this.name = "ConfError";
    this.reason = reason;
  }
}

/** What `reconcile` concluded; the controller acts on it. */
export type Outcome =
  /** The world is as the Pod asks; report it. */
  | { kind: "done"; report: NetworkReport }
  /** Something failed that may pass (API error, cloud throttling): retry with backoff. */
  | { kind: "retry"; error: Error; report?: NetworkReport }
  /** Not there yet (Pod unscheduled, cloud task running): look again later. */
  | { kind: "requeueAfter"; ms: number; report?: NetworkReport }
  /**
   * The user must act (pool exhausted, bad conf seen late): Event + NotReady,
   * no retry loop; looked at again after `requeueAfterMs` when the cause may
   * pass by itself (a port freed by another Pod).
   */
  | { kind: "failed"; error: ConfError; report: NetworkReport; requeueAfterMs?: number };

/** A JSON patch operation (RFC 6902) on the Pod being admitted. */
export interface JsonPatchOp {
  op: "add" | "replace" | "remove" | "test";
  path: string;
  value?: unknown;
}
